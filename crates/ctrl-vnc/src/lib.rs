//! The VNC bridge: `WS /vnc/{target}` carries raw RFB bytes between a browser
//! (noVNC) and a VNC server's TCP port, as websockify does.
//!
//! Only targets listed in `[vnc.targets]` are ever dialled; the client names a
//! target, never an address, so an unknown one is refused before any TCP connect.
//! A target needs at least its `role` (operator unless set: a desktop is
//! control), and every connection is audited.

mod bridge;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocketUpgrade};
use axum::extract::{FromRef, State};
use axum::response::{IntoResponse, Response};
use ctrl_access::Access;
use ctrl_core::config::{VncConfig, VncTarget};
use ctrl_proto::{Envelope, ErrorCode, ErrorEnvelope, VncTargetInfo};
use ctrl_web::ApiRouter;
use ctrl_web::routes;
use ctrl_web::{ApiResult, Caller, Failure, Path, ok};

/// How long dialling a target may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The allowed targets, replaced whole on reload.
#[derive(Clone, Default)]
pub struct VncState(Arc<RwLock<BTreeMap<String, VncTarget>>>);

impl VncState {
    /// The targets of `[vnc]`.
    pub fn new(config: &VncConfig) -> VncState {
        VncState(Arc::new(RwLock::new(config.targets.clone())))
    }

    /// Applies a changed `[vnc]`; open connections stay as they are.
    pub fn reload(&self, config: &VncConfig) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = config.targets.clone();
    }

    fn target(&self, name: &str) -> Option<VncTarget> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).get(name).cloned()
    }
}

/// The bridge's route (any role may ask; each target checks its own).
pub fn routes<S>() -> ApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    VncState: FromRef<S>,
    Access: FromRef<S>,
{
    ApiRouter::new().routes(routes!(vnc)).routes(routes!(targets))
}

/// The desktops the bridge reaches, by name (every role may list them).
#[utoipa::path(get, path = "/api/vnc", tag = "sessions",
    responses((status = 200, body = Envelope<Vec<VncTargetInfo>>)))]
pub async fn targets(State(st): State<VncState>) -> ApiResult<Vec<VncTargetInfo>> {
    let targets = st.0.read().unwrap_or_else(|p| p.into_inner());
    ok(targets.iter().map(|(name, t)| VncTargetInfo { name: name.clone(), role: t.role }).collect())
}

/// WS to a VNC server: raw RFB bytes both ways; the subprotocol `binary` is echoed when offered.
#[utoipa::path(get, path = "/vnc/{target}", tag = "sessions",
    params(("target" = String, Path, description = "A target of [vnc.targets]")),
    responses((status = 101, description = "WebSocket of binary RFB messages"), (status = 400, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
pub async fn vnc(
    State(st): State<VncState>,
    State(access): State<Access>,
    c: Caller,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Failure> {
    // A desktop is control: a login's cookie counts only from the dashboard's own pages.
    if c.principal.csrf.is_some() && !ctrl_web::same_origin(&headers) {
        return Err(Failure::new(ErrorCode::Forbidden, "a WebSocket from another origin"));
    }
    let Some(target) = st.target(&name) else {
        return Err(Failure::new(ErrorCode::NotFound, format!("no VNC target '{name}' in [vnc.targets]")));
    };
    let actor = c.principal.actor.clone();
    let place = format!("vnc:{name}");
    if !c.principal.role.allows(target.role) {
        let msg = format!("your role ({}) cannot reach '{name}'; it needs {}", c.principal.role, target.role);
        access.audit(&actor, "forbidden", Some(&place), c.address, "denied", Some(&msg)).await;
        return Err(Failure::new(ErrorCode::Forbidden, msg));
    }
    let ws =
        ws.map_err(|e| Failure::bad_request(format!("this path takes a WebSocket: {}", e.body_text())))?;
    let address = c.address.clone();
    // websockify's rule: echo `binary` when offered, never a protocol the client did not offer.
    Ok(ws
        .protocols(["binary"])
        .max_message_size(4 * 1024 * 1024)
        .on_upgrade(move |mut socket| async move {
            let dial = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(&target.address)).await;
            let tcp = match dial {
                Ok(Ok(tcp)) => tcp,
                Ok(Err(e)) => return refuse(socket, &access, &actor, &place, address, format!("cannot connect to {}: {e}", target.address)).await,
                Err(_) => return refuse(socket, &access, &actor, &place, address, format!("{} did not answer within 5 s", target.address)).await,
            };
            let _ = tcp.set_nodelay(true);
            access.audit(&actor, "vnc_connect", Some(&place), address, "ok", Some(&target.address)).await;
            let ended = bridge::run(&mut socket, tcp).await;
            tracing::info!(target = %name, up = ended.up, down = ended.down, "VNC connection closed: {}", ended.why);
            let bye = CloseFrame { code: 1000, reason: Utf8Bytes::from(short(&ended.why)) };
            let _ = tokio::time::timeout(Duration::from_secs(1), socket.send(Message::Close(Some(bye)))).await;
        })
        .into_response())
}

/// Closes the socket with the reason the target could not be reached.
async fn refuse(
    mut socket: axum::extract::ws::WebSocket,
    access: &Access,
    actor: &str,
    place: &str,
    address: Option<String>,
    why: String,
) {
    access.audit(actor, "vnc_connect", Some(place), address, "error", Some(&why)).await;
    let bye = CloseFrame { code: 1011, reason: Utf8Bytes::from(short(&why)) };
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.send(Message::Close(Some(bye)))).await;
}

/// A close frame's reason holds at most 123 bytes.
fn short(why: &str) -> String {
    let mut end = why.len().min(123);
    while !why.is_char_boundary(end) {
        end -= 1;
    }
    why[..end].to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn close_reasons_fit_a_frame() {
        assert_eq!(super::short("refused"), "refused");
        let long = "é".repeat(100);
        let s = super::short(&long);
        assert!(s.len() <= 123 && s.chars().all(|c| c == 'é'));
    }
}
