//! A scan: compare every root with the store, read what changed, write the
//! index then the store, batch by batch. Also the watcher's smaller version:
//! the same for a set of paths.
//!
//! Order makes a crash harmless: a row is reserved (not indexed) before its
//! document is written, and saved (indexed) only after the index committed; a
//! scan also checks the index against the store and reads again whatever the
//! index lacks. Nothing is forgotten because it could not be read: rows under
//! a root or folder that cannot be read now are kept.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::Utc;
use ctrl_jobs::TaskRun;
use ctrl_proto::{ScanProblem, ScanResult};
use ctrl_store::{KbAgent, KbFileState, KbFileWrite};

use crate::index::Doc;
use crate::note::{self, Note};
use crate::walk::{self, Found, Walked};
use crate::{KbError, Knowledge, creators};

/// Files read, indexed and saved together: one commit of the index each.
const BATCH_FILES: usize = 2000;
/// Bytes read per batch at most: a batch's notes are in memory at once.
const BATCH_BYTES: u64 = 16 * 1024 * 1024;
/// Problems listed in a result at most (the count of the rest is said).
const MAX_PROBLEMS: usize = 1000;

/// The file of an agent's level and category, in its folder.
const AGENT_FILE: &str = "_agent.yaml";

/// Who follows a scan: its job (progress, cancel) and whether whoever awaited it
/// is gone (a timeout); checked between batches, never in the middle of one.
#[derive(Clone, Default)]
pub(crate) struct Follow {
    pub run: Option<TaskRun>,
    pub abandoned: Arc<AtomicBool>,
}

impl Follow {
    fn progress(&self, done: u64, total: u64) {
        if let Some(r) = &self.run {
            r.progress(done, total);
        }
    }

    fn stop(&self) -> bool {
        self.abandoned.load(Ordering::SeqCst) || self.run.as_ref().is_some_and(TaskRun::cancelled)
    }
}

/// Work decided for one file (a hundred thousand of them on a cold scan: kept small).
struct Todo {
    root: Arc<str>,
    found: Found,
    state: Option<Box<KbFileState>>,
    /// Read even if unchanged (its agent's category changed, or the index lacks it).
    force: bool,
}

/// Counts and problems, as the job's result.
#[derive(Default)]
struct Tally {
    result: ScanResult,
    more_problems: u64,
}

impl Tally {
    fn problem(&mut self, path: impl Into<String>, error: impl Into<String>) {
        if self.result.errors.len() < MAX_PROBLEMS {
            self.result.errors.push(ScanProblem { path: path.into(), error: error.into() });
        } else {
            self.more_problems += 1;
        }
    }

    fn finish(mut self) -> ScanResult {
        if self.more_problems > 0 {
            let n = self.more_problems;
            self.result
                .errors
                .push(ScanProblem { path: String::new(), error: format!("and {n} more problems") });
        }
        self.result
    }
}

/// A root as this scan sees it.
struct Root {
    key: Arc<str>,
    walked: Walked,
    defs: Vec<Result<KbAgent, (String, String)>>,
}

/// Scans every root.
pub(crate) async fn full(kb: &Knowledge, follow: &Follow) -> Result<ScanResult, KbError> {
    let _turn = kb.scanning.lock().await;
    if kb.clear_next.swap(false, Ordering::SeqCst) {
        let k = kb.clone();
        blocking(move || k.index.clear()).await??;
    }
    let mut tally = Tally::default();
    load_creators(kb, &mut tally).await?;
    let previous: HashMap<String, Option<String>> =
        kb.store.kb_agents().await?.into_iter().map(|a| (a.name, a.category)).collect();
    let (readable, root_problems, all_readable) = kb.accepted_roots();
    for (root, problem) in root_problems {
        tally.problem(root, problem);
    }
    let config = kb.config.clone();
    let roots = blocking(move || {
        readable
            .into_iter()
            .map(|path| {
                let walked = walk::walk(&path, &config);
                let defs = agent_defs(&path);
                Root { key: path.to_string_lossy().into(), walked, defs }
            })
            .collect::<Vec<_>>()
    })
    .await?;
    let mut defs: HashMap<String, KbAgent> = HashMap::new();
    for root in &roots {
        for (path, why) in &root.walked.skipped {
            tally.problem(path.clone(), why.clone());
        }
        for d in &root.defs {
            match d {
                Ok(a) => {
                    defs.entry(a.name.clone()).or_insert_with(|| a.clone());
                }
                Err((path, e)) => tally.problem(path.clone(), e.clone()),
            }
        }
    }
    // Agents whose category changed: their files' documents carry it, so they are read again.
    let changed_agents: HashSet<String> = previous
        .iter()
        .filter(|(name, category)| defs.get(*name).and_then(|d| d.category.as_ref()) != category.as_ref())
        .map(|(name, _)| name.clone())
        .collect();
    *kb.agent_defs.lock().unwrap_or_else(|p| p.into_inner()) = defs.clone();

    // What the store knows, checked against what the index holds. Documents the
    // store has no row for (an index kept beside a new database) go first, before
    // new rows could take their ids.
    let in_store = kb.store.kb_file_states().await?;
    let k = kb.clone();
    let in_index: HashSet<i64> = blocking(move || k.index.ids()).await??.into_iter().collect();
    let stored: HashSet<i64> = in_store.iter().map(|s| s.id).collect();
    let strays: Vec<i64> = in_index.iter().filter(|id| !stored.contains(id)).copied().collect();
    if !strays.is_empty() {
        let k = kb.clone();
        blocking(move || k.index.apply(&[], &strays)).await??;
    }
    let mut states: HashMap<(String, String), KbFileState> = HashMap::with_capacity(in_store.len());
    for s in in_store {
        states.insert((s.root.clone(), s.file_path.clone()), s);
    }

    let mut todo = Vec::new();
    let mut roots = roots;
    for root in &mut roots {
        for f in std::mem::take(&mut root.walked.found) {
            let state = states.remove(&(root.key.to_string(), f.rel.clone())).map(Box::new);
            let force = state.as_ref().is_some_and(|s| {
                (s.sha256.is_some() && !in_index.contains(&s.id))
                    || s.agent.as_ref().is_some_and(|a| changed_agents.contains(a))
            });
            if !force && unchanged(state.as_deref(), &f) {
                tally.result.unchanged += 1;
            } else {
                todo.push(Todo { root: root.key.clone(), found: f, state, force });
            }
        }
    }
    // Rows of files gone: under a root that was walked, and not under a path that
    // could not be read. Roots no longer configured go too, unless one is unreadable
    // now (it may be a configured root that is unmounted).
    let gone: Vec<i64> = states
        .into_values()
        .filter(|s| match roots.iter().find(|r| *r.key == *s.root) {
            Some(r) => !r.walked.unreadable.iter().any(|u| walk::under(&s.file_path, u)),
            None => all_readable,
        })
        .map(|s| s.id)
        .collect();
    let total = todo.len() as u64 + tally.result.unchanged;
    follow.progress(tally.result.unchanged, total);
    apply(kb, todo, gone, &defs, &mut tally, follow, total).await?;
    // Levels and categories of agents without a changed file, and agents left with no file.
    // Agents whose `_agent.yaml` is gone lose its level and category.
    let cleared = previous.keys().filter(|n| !defs.contains_key(*n)).map(|n| KbAgent {
        name: n.clone(),
        level: None,
        category: None,
    });
    let agents: Vec<KbAgent> = defs.values().cloned().chain(cleared).collect();
    kb.store.kb_agents_sync(&agents, true).await?;
    kb.store.kb_remove(&[], &defs.keys().cloned().collect::<Vec<_>>()).await?;
    *kb.last_scan_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Utc::now());
    ctrl_supervisor::memory::give_back_heap();
    let result = tally.finish();
    tracing::info!(
        added = result.added,
        changed = result.changed,
        removed = result.removed,
        unchanged = result.unchanged,
        problems = result.errors.len(),
        "knowledge scan done"
    );
    Ok(result)
}

/// Re-reads the files at these paths (from the watcher): new, changed or gone.
pub(crate) async fn paths(kb: &Knowledge, changed: Vec<PathBuf>) -> Result<ScanResult, KbError> {
    let _turn = kb.scanning.lock().await;
    let mut tally = Tally::default();
    let mut todo = Vec::new();
    let mut gone = Vec::new();
    let (roots, _, _) = kb.accepted_roots();
    let mut seen = HashSet::new();
    for path in changed {
        let Some(root) = roots.iter().find(|r| path.starts_with(r)) else { continue };
        let Some(rel) = path.strip_prefix(root).ok().and_then(Path::to_str).map(str::to_owned) else {
            continue;
        };
        if rel.is_empty() || !seen.insert(path.clone()) {
            continue;
        }
        let key: Arc<str> = root.to_string_lossy().into();
        let state = kb.store.kb_file_state(&key, &rel).await?.map(Box::new);
        let config = kb.config.clone();
        let (root2, rel2) = (root.clone(), rel.clone());
        match blocking(move || walk::stat(&root2, &rel2, &config)).await? {
            // Not readable now: left as it is (a scan keeps such rows too).
            Err(e) => tally.problem(rel, format!("cannot read it: {e}")),
            Ok(Some(found)) => {
                if !unchanged(state.as_deref(), &found) {
                    todo.push(Todo { root: key, found, state, force: false });
                }
            }
            Ok(None) => gone.extend(state.map(|s| s.id)),
        }
    }
    let defs = kb.agent_defs.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let total = todo.len() as u64;
    apply(kb, todo, gone, &defs, &mut tally, &Follow::default(), total).await?;
    Ok(tally.finish())
}

/// Whether a file is as indexed: same size and mtime as its saved row.
fn unchanged(state: Option<&KbFileState>, f: &Found) -> bool {
    state.is_some_and(|s| {
        s.sha256.is_some() && s.bytes == Some(f.bytes as i64) && s.mtime_ns == Some(f.mtime_ns)
    })
}

/// Reads, indexes and saves `todo` in batches, then removes `gone`.
async fn apply(
    kb: &Knowledge,
    todo: Vec<Todo>,
    gone: Vec<i64>,
    defs: &HashMap<String, KbAgent>,
    tally: &mut Tally,
    follow: &Follow,
    total: u64,
) -> Result<(), KbError> {
    let max = kb.config.max_file_size.0;
    let mut done = tally.result.unchanged;
    let mut rest = todo.into_iter().peekable();
    while rest.peek().is_some() {
        if follow.stop() {
            return Err(KbError::Index("cancelled".into()));
        }
        let mut batch = Vec::new();
        let mut bytes = 0;
        while let Some(t) = rest.next_if(|_| batch.len() < BATCH_FILES && bytes < BATCH_BYTES) {
            bytes += t.found.bytes.min(max);
            batch.push(t);
        }
        let n = batch.len() as u64;
        let read = blocking(move || batch.into_iter().map(|t| read(t, max)).collect::<Vec<_>>()).await?;
        write(kb, read, defs, tally).await?;
        done += n;
        follow.progress(done, total);
    }
    if !gone.is_empty() {
        let k = kb.clone();
        let ids = gone.clone();
        blocking(move || k.index.apply(&[], &ids)).await??;
        let keep: Vec<String> = defs.keys().cloned().collect();
        kb.store.kb_remove(&gone, &keep).await?;
        tally.result.removed += gone.len() as u64;
    }
    Ok(())
}

/// A file read: the decision, and the note, or why it could not be read.
struct Read {
    todo: Todo,
    note: Result<Note, String>,
}

impl Read {
    /// False when only the mtime moved (the same bytes as indexed).
    fn content_changed(&self) -> bool {
        let indexed = self.todo.state.as_ref().and_then(|s| s.sha256.as_deref());
        indexed != self.note.as_ref().ok().map(|n| n.sha256.as_str())
    }
}

/// Reads one file, at most `max` bytes of it, only while it is still inside its root.
fn read(todo: Todo, max: u64) -> Read {
    let rel = &todo.found.rel;
    let note = match walk::read_inside(Path::new(&*todo.root), rel, max + 1) {
        // Swapped for a link out of the root since the walk: not read.
        Err(walk::Unreadable::Outside) => Err("now a link to outside the root; not read".to_owned()),
        Err(walk::Unreadable::Io(e)) => Err(format!("cannot read it: {e}")),
        // Too large (or grown so since the walk): listed by its name only, never hashed.
        Ok(bytes) if bytes.len() as u64 > max => {
            let mut n =
                note::unread(rel, format!("over max_file_size ({max} bytes); listed by its name only"));
            n.sha256 = String::new();
            Ok(n)
        }
        Ok(bytes) => Ok(note::read(rel, &bytes)),
    };
    Read { todo, note }
}

async fn write(
    kb: &Knowledge,
    read: Vec<Read>,
    defs: &HashMap<String, KbAgent>,
    tally: &mut Tally,
) -> Result<(), KbError> {
    let mut touched = Vec::new();
    let mut todo = Vec::new();
    for r in read {
        let note = match &r.note {
            Ok(n) => n,
            // Left as it was: an unreadable file is tried again at the next scan.
            Err(e) => {
                tally.problem(r.todo.found.rel.clone(), e.clone());
                continue;
            }
        };
        for p in &note.problems {
            tally.problem(r.todo.found.rel.clone(), p.clone());
        }
        let indexed = r.todo.state.as_ref().is_some_and(|s| s.sha256.is_some());
        let changed = r.content_changed();
        if indexed && !changed && !r.todo.force {
            // Same bytes, new size or mtime: remember them, index nothing.
            if let Some(s) = &r.todo.state {
                touched.push((s.id, r.todo.found.bytes as i64, r.todo.found.mtime_ns));
            }
            tally.result.unchanged += 1;
            continue;
        }
        if !indexed {
            tally.result.added += 1;
        } else if changed {
            tally.result.changed += 1;
        } else {
            tally.result.unchanged += 1;
        }
        todo.push(r);
    }
    if !touched.is_empty() {
        kb.store.kb_touch(&touched).await?;
    }
    if todo.is_empty() {
        return Ok(());
    }
    let keys: Vec<(String, String)> =
        todo.iter().map(|r| (r.todo.root.to_string(), r.todo.found.rel.clone())).collect();
    let ids = kb.store.kb_reserve(&keys).await?;
    let mut docs = Vec::with_capacity(todo.len());
    let mut writes = Vec::with_capacity(todo.len());
    let mut agents: Vec<KbAgent> = Vec::new();
    for (r, id) in todo.into_iter().zip(ids) {
        let Ok(n) = r.note else { continue };
        if let Some(a) = &n.agent
            && !agents.iter().any(|x| &x.name == a)
        {
            let def = defs.get(a).cloned();
            agents.push(def.unwrap_or_else(|| KbAgent { name: a.clone(), level: None, category: None }));
        }
        let agent_category = n.agent.as_ref().and_then(|a| defs.get(a)).and_then(|d| d.category.clone());
        docs.push(Doc {
            id,
            root: r.todo.root.to_string(),
            path: r.todo.found.rel.clone(),
            title: n.title.clone(),
            body: n.body,
            agent: n.agent.clone(),
            category: n.category.clone().or(agent_category),
            creator: n.creator.clone(),
            tags: n.tags.clone(),
        });
        writes.push(KbFileWrite {
            id,
            root: r.todo.root.to_string(),
            file_path: r.todo.found.rel,
            agent: n.agent,
            title: n.title,
            category: n.category,
            confidence: n.confidence,
            creator: n.creator,
            tags: n.tags,
            front_matter: serde_json::Value::Object(n.front_matter).to_string(),
            bytes: r.todo.found.bytes as i64,
            mtime_ns: r.todo.found.mtime_ns,
            sha256: Some(n.sha256),
            problem: (!n.problems.is_empty()).then(|| n.problems.join("; ")),
        });
    }
    let k = kb.clone();
    blocking(move || k.index.apply(&docs, &[])).await??;
    // New agents are added; known ones keep their level and category until a whole
    // scan has re-indexed their files (the store's category says what the index holds).
    let agent_ids = kb.store.kb_agents_sync(&agents, false).await?;
    kb.store.kb_save(&writes, &agent_ids).await?;
    Ok(())
}

/// Every `_agent.yaml` of a root's first-level folders (not through links).
fn agent_defs(root: &Path) -> Vec<Result<KbAgent, (String, String)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let Ok(name) = e.file_name().into_string() else { continue };
        if name.starts_with('.') || !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let file = e.path().join(AGENT_FILE);
        if std::fs::symlink_metadata(&file).is_ok_and(|m| m.file_type().is_symlink()) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        let rel = format!("{name}/{AGENT_FILE}");
        match crate::front_matter::yaml(&text, 1) {
            Ok(v) => {
                let mut problems = Vec::new();
                let fields = v.as_object().cloned().unwrap_or_default();
                let m = crate::front_matter::meta(&fields, &mut problems);
                out.extend(problems.into_iter().map(|p| Err((rel.clone(), p))));
                out.push(Ok(KbAgent { name, level: m.level, category: m.category }));
            }
            Err(e) => out.push(Err((rel, e.to_string()))),
        }
    }
    out
}

async fn load_creators(kb: &Knowledge, tally: &mut Tally) -> Result<(), KbError> {
    let Some(path) = kb.config.creators.clone() else { return Ok(()) };
    let shown = path.display().to_string();
    match blocking(move || creators::load(&path)).await? {
        Ok(c) => *kb.creators.lock().unwrap_or_else(|p| p.into_inner()) = c,
        // The last good catalogue stays.
        Err(e) => tally.problem(shown, format!("creators catalogue: {e}")),
    }
    Ok(())
}

/// Runs blocking work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, KbError> {
    tokio::task::spawn_blocking(f).await.map_err(|_| KbError::Stopped)
}
