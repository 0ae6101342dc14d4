//! `/api/knowledge/…`: stats, agents, files, creators, scans and search.
//!
//! Reading is for every role; scanning is for operators and audited. A daemon
//! without `[knowledge]` answers every route with a 404 that says how to add one.

use std::time::Instant;

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ctrl_access::Access;
use ctrl_proto::{
    AgentInfo, Creator, CreatorDetail, Envelope, ErrorCode, ErrorEnvelope, FileDetail, FilePage, JobInfo,
    KbStats, SearchAnswer,
};
use ctrl_store::{JobFilter, KbFilter};
use ctrl_web::ApiRouter;
use ctrl_web::routes;
use ctrl_web::{ApiResult, Caller, Failure, Path, Query, ok};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{KbError, Knowledge, query};

/// The knowledge base as a router's state: absent when not configured.
#[derive(Clone, Default)]
pub struct KbState(pub Option<Knowledge>);

impl KbState {
    fn get(&self) -> Result<&Knowledge, Failure> {
        self.0.as_ref().ok_or_else(|| {
            Failure::new(
                ErrorCode::NotFound,
                "no knowledge base here: add a [knowledge] section to ctrl.toml",
            )
        })
    }
}

/// The routes; scans need an operator.
pub fn routes<S>(access: &Access) -> ApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    KbState: FromRef<S>,
    Access: FromRef<S>,
{
    let read = ApiRouter::new()
        .routes(routes!(stats))
        .routes(routes!(agents))
        .routes(routes!(agent_files))
        .routes(routes!(files))
        .routes(routes!(file))
        .routes(routes!(creators))
        .routes(routes!(creator))
        .routes(routes!(jobs))
        .routes(routes!(search));
    let operate = ApiRouter::new().routes(routes!(scan)).routes(routes!(reindex));
    read.merge(access.operators_only(operate))
}

/// Counts of files, agents and creators, and the index's size.
#[utoipa::path(get, path = "/api/knowledge/stats", tag = "knowledge",
    responses((status = 200, body = Envelope<KbStats>), (status = 404, body = ErrorEnvelope)))]
pub async fn stats(State(kb): State<KbState>) -> ApiResult<KbStats> {
    ok(kb.get()?.stats().await?)
}

/// Every agent with its number of files.
#[utoipa::path(get, path = "/api/knowledge/agents", tag = "knowledge",
    responses((status = 200, body = Envelope<Vec<AgentInfo>>), (status = 404, body = ErrorEnvelope)))]
pub async fn agents(State(kb): State<KbState>) -> ApiResult<Vec<AgentInfo>> {
    ok(kb.get()?.store().kb_agents().await.map_err(KbError::from)?)
}

/// A page of files.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// How many (default 50, at most 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// How many to skip.
    #[param(minimum = 0, maximum = 1_000_000_000)]
    pub offset: Option<u64>,
}

/// Most files a listing skips.
const MAX_OFFSET: u64 = 1_000_000_000;

fn offset(given: Option<u64>) -> Result<u64, Failure> {
    let n = given.unwrap_or(0);
    if n > MAX_OFFSET {
        return Err(Failure::bad_request(format!("offset must be at most {MAX_OFFSET}")));
    }
    Ok(n)
}

fn limit(given: Option<u32>, default: u32, max: u32) -> Result<u32, Failure> {
    let n = given.unwrap_or(default);
    if !(1..=max).contains(&n) {
        return Err(Failure::bad_request(format!("limit must be between 1 and {max}")));
    }
    Ok(n)
}

/// The files of one agent, by path.
#[utoipa::path(get, path = "/api/knowledge/agents/{name}/files", tag = "knowledge",
    params(("name" = String, Path, description = "Agent name"), Page),
    responses((status = 200, body = Envelope<FilePage>), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
pub async fn agent_files(
    State(kb): State<KbState>,
    Path(name): Path<String>,
    Query(p): Query<Page>,
) -> ApiResult<FilePage> {
    let kb = kb.get()?;
    let limit = limit(p.limit, 50, 500)?;
    if !kb.store().kb_agent_exists(&name).await.map_err(KbError::from)? {
        return Err(KbError::UnknownAgent(name).into());
    }
    let filter = KbFilter { agent: Some(name), ..KbFilter::default() };
    let (items, total) =
        kb.store().kb_files(&filter, limit, offset(p.offset)?).await.map_err(KbError::from)?;
    ok(FilePage { items, total })
}

/// Which files to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilesQuery {
    /// Of this agent.
    pub agent: Option<String>,
    /// Of this category (the file's own, else its agent's).
    pub category: Option<String>,
    /// By this creator id.
    pub creator: Option<String>,
    /// With this tag.
    pub tag: Option<String>,
    /// How many (default 50, at most 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// How many to skip.
    #[param(minimum = 0, maximum = 1_000_000_000)]
    pub offset: Option<u64>,
}

/// Files, filtered, by path.
#[utoipa::path(get, path = "/api/knowledge/files", tag = "knowledge", params(FilesQuery),
    responses((status = 200, body = Envelope<FilePage>), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
pub async fn files(State(kb): State<KbState>, Query(q): Query<FilesQuery>) -> ApiResult<FilePage> {
    let kb = kb.get()?;
    let limit = limit(q.limit, 50, 500)?;
    let filter = KbFilter { agent: q.agent, category: q.category, creator: q.creator, tag: q.tag };
    let (items, total) =
        kb.store().kb_files(&filter, limit, offset(q.offset)?).await.map_err(KbError::from)?;
    ok(FilePage { items, total })
}

/// One file with its content, front matter and insights. 404 for an unknown id
/// and for a file whose path now leads outside its root.
#[utoipa::path(get, path = "/api/knowledge/files/{id}", tag = "knowledge",
    params(("id" = i64, Path, description = "File id")),
    responses((status = 200, body = Envelope<FileDetail>), (status = 404, body = ErrorEnvelope)))]
pub async fn file(State(kb): State<KbState>, Path(id): Path<i64>) -> ApiResult<FileDetail> {
    let kb = kb.get()?;
    ok(crate::detail(kb, id).await?)
}

/// The creators catalogue, each with its number of files.
#[utoipa::path(get, path = "/api/knowledge/creators", tag = "knowledge",
    responses((status = 200, body = Envelope<Vec<Creator>>), (status = 404, body = ErrorEnvelope)))]
pub async fn creators(State(kb): State<KbState>) -> ApiResult<Vec<Creator>> {
    let kb = kb.get()?;
    let counts = kb.store().kb_creator_counts().await.map_err(KbError::from)?;
    let list = kb
        .creators()
        .into_iter()
        .map(|c| Creator { files: counts.get(&c.id).copied().unwrap_or(0), ..c })
        .collect();
    ok(list)
}

/// One creator and the files that name it.
#[utoipa::path(get, path = "/api/knowledge/creators/{id}", tag = "knowledge",
    params(("id" = String, Path, description = "Creator id")),
    responses((status = 200, body = Envelope<CreatorDetail>), (status = 404, body = ErrorEnvelope)))]
pub async fn creator(State(kb): State<KbState>, Path(id): Path<String>) -> ApiResult<CreatorDetail> {
    let kb = kb.get()?;
    let Some(c) = kb.creators().into_iter().find(|c| c.id == id) else {
        return Err(KbError::UnknownCreator(id).into());
    };
    let filter = KbFilter { creator: Some(id), ..KbFilter::default() };
    let (file_list, total) = kb.store().kb_files(&filter, 500, 0).await.map_err(KbError::from)?;
    ok(CreatorDetail { creator: Creator { files: total, ..c }, file_list })
}

/// Queues a scan (202 with the job; the one already waiting if any). Operators; audited.
#[utoipa::path(post, path = "/api/knowledge/scan", tag = "knowledge",
    responses((status = 202, body = Envelope<JobInfo>), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
pub async fn scan(
    State(kb): State<KbState>,
    State(access): State<Access>,
    c: Caller,
) -> Result<Response, Failure> {
    let kb = kb.get()?;
    let done = kb.scan(&c.principal.actor).await;
    audit_job(&access, &c, "scan", &done).await;
    Ok((StatusCode::ACCEPTED, ok(done?)).into_response())
}

/// Forgets the search index and reads every file into a new one (202 with the scan job). Operators; audited.
#[utoipa::path(post, path = "/api/knowledge/reindex", tag = "knowledge",
    responses((status = 202, body = Envelope<JobInfo>), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
pub async fn reindex(
    State(kb): State<KbState>,
    State(access): State<Access>,
    c: Caller,
) -> Result<Response, Failure> {
    let kb = kb.get()?;
    let done = kb.reindex(&c.principal.actor).await;
    audit_job(&access, &c, "reindex", &done).await;
    Ok((StatusCode::ACCEPTED, ok(done?)).into_response())
}

async fn audit_job(access: &Access, c: &Caller, action: &str, done: &Result<JobInfo, KbError>) {
    let (result, detail) = match done {
        Ok(j) => ("ok", format!("job {}", j.id)),
        Err(e) => ("failed", e.to_string()),
    };
    access
        .audit(&c.principal.actor, action, Some("knowledge"), c.address.clone(), result, Some(&detail))
        .await;
}

/// How many jobs.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobsPage {
    /// How many, newest first (default 50, at most 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// The scan jobs, newest first.
#[utoipa::path(get, path = "/api/knowledge/jobs", tag = "knowledge", params(JobsPage),
    responses((status = 200, body = Envelope<Vec<JobInfo>>), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
pub async fn jobs(State(kb): State<KbState>, Query(p): Query<JobsPage>) -> ApiResult<Vec<JobInfo>> {
    let kb = kb.get()?;
    let filter = JobFilter {
        job_type: Some(crate::SCAN_JOB.into()),
        status: None,
        action: None,
        before: None,
        limit: limit(p.limit, 50, 500)?,
    };
    ok(kb.jobs().list(&filter).await?)
}

/// A search.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Words (all must match), `"a phrase"`, `prefix*`, `-excluded`, and
    /// `agent:`, `tag:`, `creator:`, `category:` filters.
    pub q: String,
    /// Only this agent's files.
    pub agent: Option<String>,
    /// Only this category.
    pub category: Option<String>,
    /// Only files by this creator id.
    pub creator: Option<String>,
    /// Only files with this tag.
    pub tag: Option<String>,
    /// Hits answered (default 20, at most 100).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// Ranked full-text search (BM25) with highlighted snippets and counts per agent.
/// 400 for a query too long or with nothing to search for.
#[utoipa::path(get, path = "/api/knowledge/search", tag = "knowledge", params(SearchQuery),
    responses((status = 200, body = Envelope<SearchAnswer>), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
pub async fn search(State(kb): State<KbState>, Query(s): Query<SearchQuery>) -> ApiResult<SearchAnswer> {
    let started = Instant::now();
    let kb = kb.get()?;
    let limit = limit(s.limit, 20, 100)?;
    let parsed = query::parse(&s.q).map_err(KbError::from)?;
    let given = query::Filters { agent: s.agent, category: s.category, creator: s.creator, tag: s.tag };
    let filters = parsed.filters.clone().or(given);
    if parsed.must.is_empty() && parsed.not.is_empty() && filters.is_empty() {
        return Err(Failure::bad_request(
            "nothing to search for: give a word, a \"phrase\", a prefix* or a filter",
        ));
    }
    let found = if parsed.must.is_empty() && filters.is_empty() {
        // Only exclusions: they exclude from nothing.
        crate::Found::default()
    } else {
        kb.search(parsed, filters, limit as usize).await?
    };
    ok(SearchAnswer {
        query: s.q,
        total: found.total,
        took_ms: started.elapsed().as_secs_f64() * 1000.0,
        agents: found.agents,
        hits: found.hits,
    })
}
