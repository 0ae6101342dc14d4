//! A scan: compare every root with the store, read what changed, write the
//! index then the store, batch by batch. Also the watcher's smaller version:
//! the same for a set of paths.
//!
//! Order makes a crash harmless: a row is reserved (not indexed) before its
//! document is written, and saved (indexed) only after the index committed; a
//! scan also checks the index against the store and reads again whatever one
//! has and the other lacks.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::Utc;
use ctrl_jobs::TaskRun;
use ctrl_proto::{ScanProblem, ScanResult};
use ctrl_store::{KbAgent, KbFileState, KbFileWrite};

use crate::index::Doc;
use crate::note::{self, Note};
use crate::walk::{self, Found};
use crate::{KbError, Knowledge, creators};

/// Files read, indexed and saved together: one commit of the index each.
const BATCH_FILES: usize = 5000;
/// Bytes read per batch at most.
const BATCH_BYTES: u64 = 64 * 1024 * 1024;
/// Problems listed in a result at most (the count of the rest is said).
const MAX_PROBLEMS: usize = 1000;

/// The file of an agent's level and category, in its folder.
const AGENT_FILE: &str = "_agent.yaml";

/// Work decided for one file.
struct Todo {
    root: String,
    found: Found,
    state: Option<KbFileState>,
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

/// Scans every root.
pub(crate) async fn full(kb: &Knowledge, run: Option<&TaskRun>) -> Result<ScanResult, KbError> {
    let _turn = kb.scanning.lock().await;
    let mut tally = Tally::default();
    load_creators(kb, &mut tally);
    let previous: HashMap<String, (Option<String>, Option<String>)> =
        kb.store.kb_agents().await?.into_iter().map(|a| (a.name, (a.level, a.category))).collect();
    let roots: Vec<PathBuf> = kb
        .roots()
        .into_iter()
        .filter_map(|(given, r)| match r {
            Ok(p) => Some(p),
            Err(e) => {
                tally.problem(given.display().to_string(), format!("root not readable: {e}"));
                None
            }
        })
        .collect();
    let config = kb.config.clone();
    let walked = blocking(move || {
        roots
            .into_iter()
            .map(|root| {
                let (found, skipped) = walk::walk(&root, &config);
                let defs = agent_defs(&root);
                (root, found, skipped, defs)
            })
            .collect::<Vec<_>>()
    })
    .await?;
    let mut defs: HashMap<String, KbAgent> = HashMap::new();
    for (_, _, skipped, root_defs) in &walked {
        for (path, why) in skipped {
            tally.problem(path.clone(), why.clone());
        }
        for d in root_defs {
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
        .filter(|(name, (_, category))| {
            defs.get(*name).and_then(|d| d.category.as_ref()) != category.as_ref()
        })
        .map(|(name, _)| name.clone())
        .collect();
    *kb.agent_defs.lock().unwrap_or_else(|p| p.into_inner()) = defs.clone();

    // What the store knows, checked against what the index holds.
    let mut states: HashMap<(String, String), KbFileState> = HashMap::new();
    let in_store = kb.store.kb_file_states().await?;
    let kb2 = kb.clone();
    let in_index: HashSet<i64> = blocking(move || kb2.index.ids()).await??.into_iter().collect();
    let mut index_strays: Vec<i64> = Vec::new();
    let stored_ids: HashSet<i64> = in_store.iter().map(|s| s.id).collect();
    for id in &in_index {
        if !stored_ids.contains(id) {
            index_strays.push(*id);
        }
    }
    let mut missing_from_index: HashSet<i64> = HashSet::new();
    for s in in_store {
        if s.sha256.is_some() && !in_index.contains(&s.id) {
            missing_from_index.insert(s.id);
        }
        states.insert((s.root.clone(), s.file_path.clone()), s);
    }

    let mut todo = Vec::new();
    for (root, found, _, _) in walked {
        let root_s = root.to_string_lossy().into_owned();
        for f in found {
            let state = states.remove(&(root_s.clone(), f.rel.clone()));
            let force = state.as_ref().is_some_and(|s| {
                missing_from_index.contains(&s.id)
                    || s.agent.as_ref().is_some_and(|a| changed_agents.contains(a))
            });
            let same = state.as_ref().is_some_and(|s| {
                s.sha256.is_some() && s.bytes == Some(f.bytes as i64) && s.mtime_ns == Some(f.mtime_ns)
            });
            if same && !force {
                tally.result.unchanged += 1;
            } else {
                todo.push(Todo { root: root_s.clone(), found: f, state, force });
            }
        }
    }
    // Rows of files gone, or of roots no longer configured.
    let gone: Vec<i64> = states.into_values().map(|s| s.id).chain(index_strays).collect();
    let total = todo.len() as u64 + tally.result.unchanged;
    if let Some(r) = run {
        r.progress(tally.result.unchanged, total);
    }
    apply(kb, todo, gone, &defs, &mut tally, run, total).await?;
    *kb.last_scan_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Utc::now());
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
/// A change to an `_agent.yaml` or the creators catalogue asks for a full scan instead.
pub(crate) async fn paths(kb: &Knowledge, changed: Vec<PathBuf>) -> Result<ScanResult, KbError> {
    let _turn = kb.scanning.lock().await;
    let mut tally = Tally::default();
    let mut todo = Vec::new();
    let mut gone = Vec::new();
    let roots: Vec<PathBuf> = kb.roots().into_iter().filter_map(|(_, r)| r.ok()).collect();
    let mut seen = HashSet::new();
    for path in changed {
        let Some(root) = roots.iter().find(|r| path.starts_with(r)) else { continue };
        let rel = walk::rel(root, &path);
        if rel.is_empty() || !seen.insert(path.clone()) {
            continue;
        }
        let root_s = root.to_string_lossy().into_owned();
        let state = kb.store.kb_file_state(&root_s, &rel).await?;
        let config = kb.config.clone();
        let (root2, rel2) = (root.clone(), rel.clone());
        match blocking(move || walk::stat(&root2, &rel2, &config)).await? {
            Some(found) => {
                let same = state.as_ref().is_some_and(|s| {
                    s.sha256.is_some()
                        && s.bytes == Some(found.bytes as i64)
                        && s.mtime_ns == Some(found.mtime_ns)
                });
                if !same {
                    todo.push(Todo { root: root_s, found, state, force: false });
                }
            }
            None => gone.extend(state.map(|s| s.id)),
        }
    }
    let defs = kb.agent_defs.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let total = todo.len() as u64;
    apply(kb, todo, gone, &defs, &mut tally, None, total).await?;
    Ok(tally.finish())
}

/// Reads, indexes and saves `todo` in batches, then removes `gone`.
async fn apply(
    kb: &Knowledge,
    todo: Vec<Todo>,
    gone: Vec<i64>,
    defs: &HashMap<String, KbAgent>,
    tally: &mut Tally,
    run: Option<&TaskRun>,
    total: u64,
) -> Result<(), KbError> {
    let max = kb.config.max_file_size.0;
    let mut done = tally.result.unchanged;
    let mut rest = todo.into_iter().peekable();
    while rest.peek().is_some() {
        if run.is_some_and(TaskRun::cancelled) {
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
        if let Some(r) = run {
            r.progress(done, total);
        }
    }
    if !gone.is_empty() {
        let kb2 = kb.clone();
        let ids = gone.clone();
        blocking(move || kb2.index.apply(&[], &ids)).await??;
        let keep: Vec<String> = defs.keys().cloned().collect();
        kb.store.kb_remove(&gone, &keep).await?;
        tally.result.removed += gone.len() as u64;
    }
    Ok(())
}

/// A file read: the decision, the note, and whether its content changed.
struct Read {
    todo: Todo,
    note: Note,
    /// False when only the mtime moved (same hash).
    content_changed: bool,
}

fn read(todo: Todo, max: u64) -> Read {
    let path = Path::new(&todo.root).join(&todo.found.rel);
    let note = if todo.found.bytes > max {
        let mut n = note::unread(
            &todo.found.rel,
            format!("over max_file_size ({max} bytes); listed by its metadata only"),
        );
        n.sha256 = String::new();
        n
    } else {
        match std::fs::read(&path) {
            Ok(bytes) => note::read(&todo.found.rel, &bytes),
            Err(e) => note::unread(&todo.found.rel, format!("cannot read it: {e}")),
        }
    };
    let content_changed = todo.state.as_ref().and_then(|s| s.sha256.as_deref()) != Some(note.sha256.as_str());
    Read { todo, note, content_changed }
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
        for p in &r.note.problems {
            tally.problem(r.todo.found.rel.clone(), p.clone());
        }
        if !r.content_changed && !r.todo.force && r.todo.state.as_ref().is_some_and(|s| s.sha256.is_some()) {
            // Same bytes, new mtime: remember the mtime, index nothing.
            if let Some(s) = &r.todo.state {
                touched.push((s.id, r.todo.found.mtime_ns));
            }
            tally.result.unchanged += 1;
            continue;
        }
        match &r.todo.state {
            None => tally.result.added += 1,
            Some(_) if r.content_changed => tally.result.changed += 1,
            Some(_) => tally.result.unchanged += 1,
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
        todo.iter().map(|r| (r.todo.root.clone(), r.todo.found.rel.clone())).collect();
    let ids = kb.store.kb_reserve(&keys).await?;
    let mut agents: Vec<KbAgent> = defs.values().cloned().collect();
    for r in &todo {
        if let Some(a) = &r.note.agent
            && !defs.contains_key(a)
            && !agents.iter().any(|x| &x.name == a)
        {
            agents.push(KbAgent { name: a.clone(), level: None, category: None });
        }
    }
    let agent_ids = kb.store.kb_agents_sync(&agents).await?;
    let mut docs = Vec::with_capacity(todo.len());
    let mut writes = Vec::with_capacity(todo.len());
    for (r, id) in todo.into_iter().zip(ids) {
        let n = r.note;
        let agent_category = n.agent.as_ref().and_then(|a| defs.get(a)).and_then(|d| d.category.clone());
        docs.push(Doc {
            id,
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
            root: r.todo.root,
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
    let kb2 = kb.clone();
    blocking(move || kb2.index.apply(&docs, &[])).await??;
    kb.store.kb_save(&writes, &agent_ids).await?;
    Ok(())
}

/// Every `_agent.yaml` of a root's first-level folders.
fn agent_defs(root: &Path) -> Vec<Result<KbAgent, (String, String)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if walk::hidden(&e.file_name()) || !e.path().is_dir() {
            continue;
        }
        let file = e.path().join(AGENT_FILE);
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
            Err(e) => out.push(Err((rel, e))),
        }
    }
    out
}

fn load_creators(kb: &Knowledge, tally: &mut Tally) {
    let Some(path) = &kb.config.creators else { return };
    match creators::load(path) {
        Ok(c) => *kb.creators.lock().unwrap_or_else(|p| p.into_inner()) = c,
        // The last good catalogue stays.
        Err(e) => tally.problem(path.display().to_string(), format!("creators catalogue: {e}")),
    }
}

/// Runs blocking work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, KbError> {
    tokio::task::spawn_blocking(f).await.map_err(|_| KbError::Stopped)
}
