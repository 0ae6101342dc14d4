//! Live re-indexing: inotify events on every root, gathered until the folder
//! has been quiet for a moment (at most half a second after the first), then
//! applied as one batch: one index commit and one transaction for a burst of
//! thousands of saves. Editors that save by rename show up as an event on the
//! note's own name. What a single path cannot say (a folder moved in, an
//! `_agent.yaml`, the catalogue, a lost event) makes a full scan, which reads
//! only what changed.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::Knowledge;

/// Quiet time that closes a batch.
const QUIET: Duration = Duration::from_millis(120);
/// A batch closes this long after its first event even if saves keep coming.
const MAX_WAIT: Duration = Duration::from_millis(500);
/// Events waiting at most; beyond, a full scan catches up.
const QUEUE: usize = 65_536;

enum Change {
    Path(PathBuf),
    /// Something a path does not describe: scan everything.
    Rescan,
}

/// Starts watching the roots for the daemon's life (the first watches are set
/// on a blocking thread: inotify needs one per folder of the tree).
pub(crate) fn start(kb: &Knowledge) {
    let (tx, rx) = mpsc::channel(QUEUE);
    // Events that did not fit in the queue: the next batch scans instead.
    let lost = Arc::new(AtomicBool::new(false));
    let lost_in_handler = lost.clone();
    let (roots, _, _) = kb.accepted_roots();
    let handler = move |res: notify::Result<notify::Event>| {
        let changes: Vec<Change> = match res {
            Ok(ev) if ev.need_rescan() => vec![Change::Rescan],
            Ok(ev) => match ev.kind {
                EventKind::Access(_) => vec![],
                // Hidden names (.git, editors' swap files) never reach the queue.
                _ => ev.paths.into_iter().filter(|p| !hidden_in(&roots, p)).map(Change::Path).collect(),
            },
            Err(_) => vec![Change::Rescan],
        };
        for c in changes {
            if tx.try_send(c).is_err() {
                lost_in_handler.store(true, Ordering::SeqCst);
                // Wakes the batcher if it sleeps on an empty queue (never happens when full).
                let _ = tx.try_send(Change::Rescan);
                break;
            }
        }
    };
    // Links are not followed: the walk does not follow them either, and a link to `/`
    // would otherwise ask for a watch on every folder of the machine.
    let config = notify::Config::default().with_follow_symlinks(false);
    let mut watcher = match notify::RecommendedWatcher::new(handler, config) {
        Ok(w) => w,
        Err(e) => return report(kb, false, Some(format!("cannot watch: {e}"))),
    };
    let kb = kb.clone();
    tokio::spawn(async move {
        // The roots scans read, with what is wrong with the others.
        let (roots, skipped, _) = kb.accepted_roots();
        let watched = crate::scan::blocking(move || {
            let mut problems: Vec<String> =
                skipped.into_iter().map(|(root, why)| format!("{root}: {why}")).collect();
            let mut watching = false;
            for root in roots {
                match watcher.watch(&root, RecursiveMode::Recursive) {
                    Ok(()) => watching = true,
                    Err(e) => problems.push(describe(&root, &e)),
                }
            }
            (watcher, watching, problems)
        })
        .await;
        let Ok((watcher, watching, problems)) = watched else { return };
        report(&kb, watching, (!problems.is_empty()).then(|| problems.join("; ")));
        // The watcher lives as long as this task.
        let _watcher = watcher;
        batches(kb, rx, lost).await;
    });
}

/// Whether a part of `p` below its root is hidden (a root may itself sit in a
/// hidden folder).
fn hidden_in(roots: &[PathBuf], p: &std::path::Path) -> bool {
    let below = roots.iter().find_map(|r| p.strip_prefix(r).ok()).unwrap_or(p);
    below.iter().any(crate::walk::hidden)
}

fn describe(root: &std::path::Path, e: &notify::Error) -> String {
    match &e.kind {
        notify::ErrorKind::MaxFilesWatch => format!(
            "{}: the inotify watch limit is reached; saved files there are picked up by the next scan \
             (raise fs.inotify.max_user_watches)",
            root.display()
        ),
        _ => format!("{}: cannot watch: {e}", root.display()),
    }
}

fn report(kb: &Knowledge, watching: bool, problem: Option<String>) {
    if let Some(p) = &problem {
        tracing::warn!(problem = %p, "knowledge base watching is limited");
    }
    *kb.watch_state.lock().unwrap_or_else(|p| p.into_inner()) = (watching, problem);
}

/// The paths that can be notes, and whether something else changed that only a
/// scan can account for: a folder (created, moved in, or gone with files), an
/// `_agent.yaml`, the creators catalogue. Hidden names and other kinds of file
/// (an editor's temporary files) are nothing.
async fn classify(kb: &Knowledge, paths: Vec<PathBuf>) -> Result<(Vec<PathBuf>, bool), crate::KbError> {
    let config = kb.config();
    let (roots, _, _) = kb.accepted_roots();
    let catalogue = config.creators.as_ref().and_then(|c| c.canonicalize().ok());
    let mut notes = Vec::new();
    let mut rescan = false;
    for p in paths {
        let Some(root) = roots.iter().find(|r| p.starts_with(r)) else { continue };
        let rel = crate::walk::rel(root, &p);
        if rel.is_empty() || rel.split('/').any(|c| c.starts_with('.')) {
            continue;
        }
        // A folder first: one may be named like a note (`archive.md/`).
        let folder =
            p.is_dir() || (!p.exists() && kb.store.kb_has_folder(&root.to_string_lossy(), &rel).await?);
        let special = rel.ends_with("/_agent.yaml") || catalogue.as_deref() == Some(p.as_path());
        if folder || special {
            rescan = true;
        } else if crate::walk::indexed(&p, config) {
            notes.push(p);
        }
    }
    Ok((notes, rescan))
}

/// Gathers events into batches and applies each.
async fn batches(kb: Knowledge, mut rx: mpsc::Receiver<Change>, lost: Arc<AtomicBool>) {
    while let Some(first) = rx.recv().await {
        let started = tokio::time::Instant::now();
        let mut paths = Vec::new();
        let mut rescan = false;
        let mut take = |c: Change, paths: &mut Vec<PathBuf>| match c {
            Change::Rescan => rescan = true,
            Change::Path(p) => paths.push(p),
        };
        take(first, &mut paths);
        loop {
            let left = MAX_WAIT.saturating_sub(started.elapsed());
            match tokio::time::timeout(QUIET.min(left), rx.recv()).await {
                Ok(Some(c)) => take(c, &mut paths),
                Ok(None) => return,
                Err(_) => break,
            }
            if started.elapsed() >= MAX_WAIT {
                break;
            }
        }
        rescan |= lost.swap(false, Ordering::SeqCst);
        let notes = match classify(&kb, paths).await {
            Ok((notes, needs_scan)) => {
                rescan |= needs_scan;
                notes
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot tell what changed in the knowledge folders; scanning");
                rescan = true;
                vec![]
            }
        };
        let done = if rescan {
            crate::scan::full(&kb, &crate::scan::Follow::default()).await
        } else if notes.is_empty() {
            continue;
        } else {
            crate::scan::paths(&kb, notes).await
        };
        match done {
            Ok(r) if r.added + r.changed + r.removed > 0 => {
                tracing::debug!(
                    added = r.added,
                    changed = r.changed,
                    removed = r.removed,
                    "knowledge files re-indexed"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot re-index changed knowledge files"),
        }
    }
}
