//! A host answering the hub: each request runs through the host's own router as
//! the hub user (with their hub role), and its answer goes back in frames, at
//! most a window ahead of what the hub has taken.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::Request;
use ctrl_web::{Loopback, Principal};
use futures_util::StreamExt;
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;

use crate::wire::{self, Kind, ToHub};

/// An answer in flight: the room the hub gave it, and how to stop it.
type InFlight = (Arc<Semaphore>, tokio::task::AbortHandle);

/// The answers in flight on one link.
#[derive(Default, Clone)]
pub struct Answers(Arc<Mutex<HashMap<u32, InFlight>>>);

impl Answers {
    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<u32, InFlight>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers a request in a task of its own.
    pub fn start(
        &self,
        api: &Loopback,
        out: &mpsc::Sender<Message>,
        id: u32,
        req: Request,
        principal: Principal,
    ) {
        let credit = Arc::new(Semaphore::new(wire::WINDOW as usize));
        let (api, out, answers, sem) = (api.clone(), out.clone(), self.clone(), credit.clone());
        // Registered before the task can finish, so its own removal always finds it.
        let mut table = self.table();
        let task = tokio::spawn(async move {
            answer(&api, &out, id, req, &principal, &sem).await;
            answers.table().remove(&id);
        });
        table.insert(id, (credit, task.abort_handle()));
    }

    /// The hub took `bytes` more of an answer.
    pub fn credit(&self, id: u32, bytes: u32) {
        if let Some((sem, _)) = self.table().get(&id) {
            sem.add_permits(bytes as usize);
        }
    }

    /// The hub's client left: stop answering.
    pub fn cancel(&self, id: u32) {
        if let Some((_, task)) = self.table().remove(&id) {
            task.abort();
        }
    }

    /// The link ended: every answer stops.
    pub fn cancel_all(&self) {
        for (_, (_, task)) in self.table().drain() {
            task.abort();
        }
    }
}

/// Answers a request the host cannot even read with a 400.
pub async fn refuse(out: &mpsc::Sender<Message>, id: u32, why: &str) {
    error(out, id, 400, "bad_request", why).await;
}

/// An error envelope as a whole answer.
async fn error(out: &mpsc::Sender<Message>, id: u32, status: u16, code: &str, why: &str) {
    let body = serde_json::json!({"success": false, "error": why, "code": code}).to_string();
    let head =
        ToHub::Response { id, status, headers: vec![("content-type".into(), "application/json".into())] };
    let _ = send(out, &head).await;
    let _ = out.send(Message::Binary(wire::frame(id, Kind::Data, body.as_bytes()))).await;
    let _ = out.send(Message::Binary(wire::frame(id, Kind::End, b""))).await;
}

async fn answer(
    api: &Loopback,
    out: &mpsc::Sender<Message>,
    id: u32,
    req: Request,
    p: &Principal,
    credit: &Semaphore,
) {
    let res = match api.serve(p, req).await {
        Ok(r) => r,
        Err(why) => return error(out, id, 503, "unavailable", &why).await,
    };
    let headers = res
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    if send(out, &ToHub::Response { id, status: res.status().as_u16(), headers }).await.is_err() {
        return;
    }
    let mut body = res.into_body().into_data_stream();
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                let _ =
                    out.send(Message::Binary(wire::frame(id, Kind::Abort, e.to_string().as_bytes()))).await;
                return;
            }
        };
        for piece in chunk.chunks(wire::CHUNK) {
            let Ok(permit) = credit.acquire_many(piece.len() as u32).await else { return };
            permit.forget();
            if out.send(Message::Binary(wire::frame(id, Kind::Data, piece))).await.is_err() {
                return;
            }
        }
    }
    let _ = out.send(Message::Binary(wire::frame(id, Kind::End, b""))).await;
}

async fn send(out: &mpsc::Sender<Message>, msg: &ToHub) -> Result<(), ()> {
    let text = serde_json::to_string(msg).map_err(|_| ())?;
    out.send(Message::Text(text.into())).await.map_err(|_| ())
}

/// The request a hub message asks for, as the router takes it.
pub fn request(
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: Option<String>,
) -> Result<Request, String> {
    let mut req = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    req.body(body.map_or_else(Body::empty, Body::from)).map_err(|e| format!("bad request from the hub: {e}"))
}
