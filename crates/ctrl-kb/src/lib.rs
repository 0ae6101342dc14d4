//! The knowledge base: folders of notes, each belonging to an agent, with a
//! catalogue of creators, scanned into the store's `agents` and
//! `knowledge_files` and searchable with ranked, highlighted full-text search.
//!
//! A scan is a job (`kb_scan`) of the job runner; it reads only files whose size
//! or mtime changed. The search index is derived data in `<state_dir>/kb/`,
//! checked against the store at every scan and rebuilt when it is missing.
//! With `watch = true`, saved files are re-read in debounced batches. The
//! router ([`routes`]) serves `/api/knowledge/…` with its own state,
//! [`Knowledge`], reached through `FromRef`.

mod creators;
mod directory;
mod error;
pub mod front_matter;
mod index;
pub mod insights;
pub mod note;
pub mod query;
mod routes;
mod scan;
pub mod walk;
mod watch;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ctrl_core::config::KnowledgeConfig;
use ctrl_jobs::Jobs;
use ctrl_proto::{Creator, FileDetail, JobInfo, KbStats};
use ctrl_store::{KbAgent, Store};

pub use error::KbError;
pub use index::{Doc, Found, SearchIndex};
pub use routes::{KbState, routes};

/// The job type of a scan.
pub const SCAN_JOB: &str = "kb_scan";
/// A scan still running after this long is stopped.
pub const SCAN_TIMEOUT: Duration = Duration::from_secs(3600);

/// The knowledge base: cheap to clone.
#[derive(Clone)]
pub struct Knowledge(Arc<Inner>);

/// What [`Knowledge`] holds.
pub struct Inner {
    config: KnowledgeConfig,
    store: Store,
    jobs: Jobs,
    index: SearchIndex,
    /// Scans and the watcher's batches take turns.
    scanning: tokio::sync::Mutex<()>,
    /// Agents defined by an `_agent.yaml`, by name (kept between scans for the watcher).
    agent_defs: Mutex<HashMap<String, KbAgent>>,
    /// The creators catalogue as last read.
    creators: Mutex<Vec<Creator>>,
    last_scan_at: Mutex<Option<DateTime<Utc>>>,
    /// The next scan starts from an empty index (a reindex was asked for).
    clear_next: std::sync::atomic::AtomicBool,
    /// Whether the watcher runs, and what stopped or limited it.
    watch_state: Mutex<(bool, Option<String>)>,
}

impl std::ops::Deref for Knowledge {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Knowledge {
    /// Opens the index in `state_dir/kb`, registers the scan with the job runner,
    /// queues a first scan (cheap when nothing changed) and starts watching.
    pub async fn start(
        config: &KnowledgeConfig,
        state_dir: &Path,
        store: Store,
        jobs: Jobs,
    ) -> Result<Knowledge, KbError> {
        let dir = state_dir.join("kb").join("index");
        let (index, fresh) = scan::blocking(move || SearchIndex::open(&dir)).await??;
        if fresh {
            tracing::info!("the search index is new; the first scan reads every file into it");
        }
        let kb = Knowledge(Arc::new(Inner {
            config: config.clone(),
            store,
            jobs: jobs.clone(),
            index,
            scanning: tokio::sync::Mutex::new(()),
            agent_defs: Mutex::new(HashMap::new()),
            creators: Mutex::new(Vec::new()),
            last_scan_at: Mutex::new(None),
            clear_next: std::sync::atomic::AtomicBool::new(false),
            watch_state: Mutex::new((false, None)),
        }));
        let weak = Arc::downgrade(&kb.0);
        jobs.register_task(
            SCAN_JOB,
            Arc::new(move |run| {
                let weak = weak.clone();
                Box::pin(async move {
                    let kb = weak.upgrade().map(Knowledge).ok_or("the knowledge base is stopping")?;
                    // Its own task: a job stopped at its timeout drops this future, and the
                    // scan then ends at its next batch boundary, never inside a batch.
                    let follow = scan::Follow { run: Some(run), ..scan::Follow::default() };
                    let _abandon = Abandon(follow.abandoned.clone());
                    let scanning = tokio::spawn(async move { scan::full(&kb, &follow).await });
                    let result = scanning
                        .await
                        .map_err(|_| "the scan stopped".to_owned())?
                        .map_err(|e| e.to_string())?;
                    serde_json::to_value(result).map_err(|e| e.to_string())
                })
            }),
        );
        kb.scan("startup").await?;
        if config.watch {
            watch::start(&kb);
        }
        Ok(kb)
    }

    /// Queues a scan (or answers the one already waiting).
    pub async fn scan(&self, triggered_by: &str) -> Result<JobInfo, KbError> {
        Ok(self.jobs.run_task(SCAN_JOB, SCAN_TIMEOUT, triggered_by).await?)
    }

    /// Queues a scan that starts from an empty index and reads every file into it.
    pub async fn reindex(&self, triggered_by: &str) -> Result<JobInfo, KbError> {
        self.clear_next.store(true, std::sync::atomic::Ordering::SeqCst);
        self.scan(triggered_by).await
    }

    /// The configuration.
    pub fn config(&self) -> &KnowledgeConfig {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The job runner (scan jobs).
    pub fn jobs(&self) -> &Jobs {
        &self.jobs
    }

    /// The creators catalogue as last read.
    pub fn creators(&self) -> Vec<Creator> {
        self.creators.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The numbers of `GET /api/knowledge/stats`.
    pub async fn stats(&self) -> Result<KbStats, KbError> {
        let (files, bytes, agents) = self.store.kb_totals().await?;
        let kb = self.clone();
        let index_bytes = scan::blocking(move || kb.index.bytes()).await?;
        let (watching, watch_problem) = self.watch_state.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let creators = self.creators.lock().unwrap_or_else(|p| p.into_inner()).len() as u64;
        Ok(KbStats {
            files,
            agents,
            creators,
            bytes,
            last_scan_at: *self.last_scan_at.lock().unwrap_or_else(|p| p.into_inner()),
            index_docs: self.index.docs(),
            index_bytes,
            watching,
            watch_problem,
        })
    }

    /// Searches; blocking work goes to a blocking thread. Snippets are read only
    /// from files under the roots configured now.
    pub async fn search(
        &self,
        q: query::Query,
        filters: query::Filters,
        limit: usize,
    ) -> Result<Found, KbError> {
        let kb = self.clone();
        let (roots, _, _) = self.accepted_roots();
        scan::blocking(move || kb.index.search(&q, &filters, limit, &roots)).await?
    }

    /// The canonical roots, as they are stored (`root` of a file row).
    pub(crate) fn roots(&self) -> Vec<(PathBuf, Result<PathBuf, String>)> {
        walk::roots(&self.config)
    }

    /// The roots scans, the watcher and snippets use: readable, canonical, none
    /// inside another (its notes would be listed twice); with what was wrong with
    /// the others, and whether every configured root could be read.
    pub(crate) fn accepted_roots(&self) -> (Vec<PathBuf>, Vec<(String, String)>, bool) {
        let mut accepted: Vec<PathBuf> = Vec::new();
        let mut problems = Vec::new();
        let mut all_readable = true;
        for (given, r) in self.roots() {
            let shown = given.display().to_string();
            match r {
                Err(e) => {
                    all_readable = false;
                    problems.push((shown, format!("root not readable: {e}")));
                }
                Ok(p) if accepted.iter().any(|o| p.starts_with(o) || o.starts_with(&p)) => {
                    problems.push((shown, "inside another root (or the same); skipped".into()));
                }
                Ok(p) => accepted.push(p),
            }
        }
        (accepted, problems, all_readable)
    }

    /// The bytes of a file (at most `limit`), only while its root is configured and
    /// its path still leads inside it.
    pub fn read(&self, root: &str, file_path: &str, limit: u64) -> Option<Vec<u8>> {
        let root = Path::new(root);
        let known = self.roots().into_iter().any(|(_, r)| r.as_deref().ok() == Some(root));
        if !known {
            return None;
        }
        walk::read_inside(root, file_path, limit).ok()
    }
}

/// A file with its content, front matter and insights; unknown when its path
/// now leads outside its root, or it is gone.
pub(crate) async fn detail(kb: &Knowledge, id: i64) -> Result<FileDetail, KbError> {
    let (file, root, front_matter) = kb.store.kb_file(id).await?.ok_or(KbError::UnknownFile(id))?;
    let k = kb.clone();
    let limit = kb.config.max_file_size.0;
    let rel = file.file_path.clone();
    // Reading and parsing are blocking work: off the async threads.
    let read = scan::blocking(move || {
        let buf = k.read(&root, &rel, limit)?;
        let content = String::from_utf8_lossy(&buf).into_owned();
        let insights = insights::insights(front_matter::body(&content));
        Some((content, insights))
    })
    .await?;
    let (content, insights) = read.ok_or(KbError::UnknownFile(id))?;
    Ok(FileDetail {
        file,
        content,
        front_matter: serde_json::from_str(&front_matter).unwrap_or_else(|_| serde_json::json!({})),
        insights,
    })
}

/// Sets its flag when dropped: the scan's awaiting job is gone.
struct Abandon(Arc<std::sync::atomic::AtomicBool>);

impl Drop for Abandon {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}
