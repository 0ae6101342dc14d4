//! The control socket: newline-delimited JSON requests, envelope answers.

use ctrl_proto::{ApiError, Envelope, LogLine, Request};
use ctrl_supervisor::logs::LineSplitter;
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::broadcast::error::RecvError;

use super::Daemon;

/// The longest request line accepted; requests are small JSON objects.
const MAX_REQUEST: usize = 64 * 1024;

/// Accepts connections until aborted; each connection may send several requests.
/// Connection tasks live in a set owned here, so aborting the server ends them too.
pub async fn serve(listener: UnixListener, daemon: Daemon) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(connection(stream, daemon.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "control socket accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn connection(stream: UnixStream, daemon: Daemon) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match (&mut reader).take(MAX_REQUEST as u64 + 1).read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if buf.len() > MAX_REQUEST {
            let err = ApiError::new(ctrl_proto::ErrorCode::BadRequest, "request line too long");
            let _ = send(&mut write, &Envelope::<()>::err(err)).await;
            return;
        }
        let line = String::from_utf8_lossy(&buf);
        let req: Request = match serde_json::from_str(&line) {
            Ok(r) => r,
            Err(e) => {
                let err = ApiError::new(ctrl_proto::ErrorCode::BadRequest, format!("bad request: {e}"));
                if send(&mut write, &Envelope::<()>::err(err)).await.is_err() {
                    return;
                }
                continue;
            }
        };
        if let Request::Logs { name, lines: n, stream, follow: true } = &req {
            let _ = follow(&mut write, &daemon, name, *n, *stream).await;
            return;
        }
        if answer(&mut write, &daemon, req).await.is_err() {
            return;
        }
    }
}

async fn answer<W: AsyncWrite + Unpin>(w: &mut W, d: &Daemon, req: Request) -> std::io::Result<()> {
    let sup = &d.sup;
    let all = |r: Vec<_>| Ok::<_, ApiError>(r);
    match req {
        Request::Status => send(w, &Envelope::ok(sup.services())).await,
        Request::Start { name: Some(n) } => reply(w, sup.start_service(&n).await.map(|s| vec![s])).await,
        Request::Stop { name: Some(n) } => reply(w, sup.stop_service(&n).await.map(|s| vec![s])).await,
        Request::Restart { name: Some(n) } => reply(w, sup.restart_service(&n).await.map(|s| vec![s])).await,
        Request::Start { name: None } => send(w, &Envelope::from(all(sup.start_all().await))).await,
        Request::Stop { name: None } => send(w, &Envelope::from(all(sup.stop_all().await))).await,
        Request::Restart { name: None } => send(w, &Envelope::from(all(sup.restart_all().await))).await,
        Request::Logs { name, lines, stream, .. } => reply(w, sup.logs(&name, lines, stream).await).await,
        Request::Events { name, limit } => reply(w, sup.events(&name, limit).await).await,
        Request::Reload => send(w, &Envelope::from(d.reload().await)).await,
    }
}

async fn reply<W: AsyncWrite + Unpin, T: Serialize>(
    w: &mut W,
    r: Result<T, ctrl_supervisor::ControlError>,
) -> std::io::Result<()> {
    send(w, &Envelope::from(r.map_err(ApiError::from))).await
}

async fn send<W: AsyncWrite + Unpin, T: Serialize>(w: &mut W, v: &T) -> std::io::Result<()> {
    let mut buf = serde_json::to_vec(v).unwrap_or_else(|_| {
        b"{\"success\":false,\"error\":\"internal error\",\"code\":\"internal\"}".to_vec()
    });
    buf.push(b'\n');
    w.write_all(&buf).await
}

/// The last lines, then every new line until the client hangs up.
async fn follow<W: AsyncWrite + Unpin>(
    w: &mut W,
    d: &Daemon,
    name: &str,
    n: usize,
    stream: ctrl_proto::LogStream,
) -> std::io::Result<()> {
    // Subscribe first so that nothing written between the read and the follow is lost.
    let mut rx = match d.sup.follow_logs(name) {
        Ok(rx) => rx,
        Err(e) => return send(w, &Envelope::<()>::err(e.into())).await,
    };
    reply(w, d.sup.logs(name, n, stream).await).await?;
    let mut split = LineSplitter::default();
    loop {
        match rx.recv().await {
            Ok(chunk) => {
                for line in split.push(&chunk) {
                    if wanted(&line, stream) {
                        send(w, &line).await?;
                    }
                }
            }
            Err(RecvError::Lagged(skipped)) => {
                let note = LogLine {
                    ts: None,
                    stream: "stderr".into(),
                    line: format!("[ctrl: {skipped} chunks skipped; the reader was too slow]"),
                };
                send(w, &note).await?;
            }
            Err(RecvError::Closed) => return Ok(()),
        }
    }
}

fn wanted(line: &LogLine, stream: ctrl_proto::LogStream) -> bool {
    match stream {
        ctrl_proto::LogStream::All => true,
        ctrl_proto::LogStream::Stdout => line.stream == "stdout",
        ctrl_proto::LogStream::Stderr => line.stream == "stderr",
    }
}
