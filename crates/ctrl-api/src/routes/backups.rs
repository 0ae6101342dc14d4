//! `/api/backups`: what backups exist, and their download.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use ctrl_proto::{BackupFile, BackupTarget, Envelope, ErrorCode, ErrorEnvelope};
use ctrl_web::ApiRouter;
use ctrl_web::routes;
use ctrl_web::{ApiResult, Caller, Failure, Path, ok};
use tower::ServiceExt;

use crate::state::AppState;

fn unreadable(e: std::io::Error) -> Failure {
    match e.kind() {
        std::io::ErrorKind::NotFound => Failure::new(ErrorCode::NotFound, "no such backup target"),
        std::io::ErrorKind::InvalidInput => Failure::bad_request(e.to_string()),
        _ => {
            tracing::error!(error = %e, "cannot read the backups folder");
            Failure::new(ErrorCode::Internal, "internal error; see the daemon's log")
        }
    }
}

/// Every backup target with its count, size and newest backup.
#[utoipa::path(get, path = "/api/backups", tag = "jobs",
    responses((status = 200, body = Envelope<Vec<BackupTarget>>)))]
pub async fn targets(State(st): State<AppState>) -> ApiResult<Vec<BackupTarget>> {
    let root = st.jobs.backups_dir().to_path_buf();
    let list = tokio::task::spawn_blocking(move || ctrl_jobs::backup_targets(&root))
        .await
        .map_err(|_| Failure::new(ErrorCode::Internal, "internal error"))?;
    let mut list = list.map_err(unreadable)?;
    // A target the config names has no folder until its first backup: listed, empty.
    for target in configured(&st) {
        if !list.iter().any(|t| t.target == target) {
            list.push(BackupTarget { target, count: 0, total_bytes: 0, latest: None });
        }
    }
    list.sort_by(|a, b| a.target.cmp(&b.target));
    ok(list)
}

/// The backup targets that actions of the config name.
fn configured(st: &AppState) -> Vec<String> {
    let config = st.sup.config();
    let mut names: Vec<String> = config.actions.values().filter_map(|a| a.target.clone()).collect();
    names.sort();
    names.dedup();
    names
}

/// The backups of one target, newest first.
#[utoipa::path(get, path = "/api/backups/{target}", tag = "jobs",
    params(("target" = String, Path, description = "Backup target")),
    responses((status = 200, body = Envelope<Vec<BackupFile>>), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope)))]
pub async fn files(State(st): State<AppState>, Path(target): Path<String>) -> ApiResult<Vec<BackupFile>> {
    let root = st.jobs.backups_dir().to_path_buf();
    let known = configured(&st).contains(&target);
    let list = tokio::task::spawn_blocking(move || ctrl_jobs::backup_files(&root, &target))
        .await
        .map_err(|_| Failure::new(ErrorCode::Internal, "internal error"))?;
    match list {
        // A configured target before its first backup: none yet.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && known => ok(Vec::new()),
        list => ok(list.map_err(unreadable)?),
    }
}

/// Downloads a backup, streamed from disk in constant memory, with `Range`
/// support for resumed downloads. Names are checked and the resolved path must
/// stay inside the backups root.
#[utoipa::path(get, path = "/api/backups/{target}/{file}", tag = "jobs",
    params(("target" = String, Path, description = "Backup target"), ("file" = String, Path, description = "Backup file name")),
    responses((status = 200, description = "The file", content_type = "application/octet-stream"),
        (status = 206, description = "The requested range", content_type = "application/octet-stream"),
        (status = 404, body = ErrorEnvelope)))]
pub async fn download(
    State(st): State<AppState>,
    c: Caller,
    Path((target, file)): Path<(String, String)>,
    req: Request,
) -> Result<Response, Failure> {
    let path = ctrl_jobs::file_path(st.jobs.backups_dir(), &target, &file)
        .map_err(|e| Failure::new(ErrorCode::NotFound, e))?;
    // Resumed downloads are not audited again; one from the first byte is.
    let resumed = req
        .headers()
        .get(axum::http::header::RANGE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|r| !r.trim().starts_with("bytes=0-"));
    if !resumed {
        let where_ = format!("backup:{target}/{file}");
        st.access.audit(&c.principal.actor, "download", Some(&where_), c.address.clone(), "ok", None).await;
    }
    let mut res = tower_http::services::ServeFile::new(path)
        .oneshot(req)
        .await
        .map_err(|_| Failure::new(ErrorCode::Internal, "internal error"))?
        .into_response();
    let disposition = format!("attachment; filename=\"{file}\"");
    if let Ok(v) = axum::http::HeaderValue::from_str(&disposition) {
        res.headers_mut().insert(axum::http::header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

/// Backups: listing for any principal, downloads for operators.
pub fn routes(access: &ctrl_access::Access) -> ApiRouter<AppState> {
    let read = ApiRouter::new().routes(routes!(targets)).routes(routes!(files));
    read.merge(access.operators_only(ApiRouter::new().routes(routes!(download))))
}
