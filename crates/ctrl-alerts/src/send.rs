//! Delivery to webhooks: the body in each channel's format, retries with backoff,
//! over the binary's one HTTP client (`ctrl_web::client`).

use std::time::Duration;

use bytes::Bytes;
use ctrl_core::config::{ChannelFormat, ChannelSpec};
use ctrl_proto::{AlertInfo, Delivery};
pub use ctrl_web::client::{Http, client};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::header::{CONTENT_TYPE, HeaderValue, USER_AGENT};

/// Tries per delivery: the first and three retries after 1 s, 2 s and 4 s.
const ATTEMPTS: u32 = 4;

/// One POST per try, each bounded by this.
const TRY_TIMEOUT: Duration = Duration::from_secs(10);

/// The body (and extra headers) for one channel.
fn request(ch: &ChannelSpec, a: &AlertInfo) -> Result<Request<Full<Bytes>>, String> {
    let json = |v: serde_json::Value| (Bytes::from(v.to_string()), "application/json");
    let (body, kind) = match ch.format {
        ChannelFormat::Json => json(serde_json::json!({ "alert": a })),
        ChannelFormat::Slack => json(serde_json::json!({ "text": a.message })),
        ChannelFormat::Discord => json(serde_json::json!({ "content": a.message })),
        ChannelFormat::Ntfy => (Bytes::from(a.message.clone()), "text/plain; charset=utf-8"),
    };
    let mut req = Request::post(ch.url.as_str())
        .header(CONTENT_TYPE, kind)
        .header(USER_AGENT, ctrl_web::client::USER_AGENT);
    if ch.format == ChannelFormat::Ntfy {
        let (priority, tag) = match a.state.as_str() {
            "firing" => ("high", "rotating_light"),
            "resolved" => ("default", "white_check_mark"),
            _ => ("low", "test_tube"),
        };
        let title = format!("ctrl: {} {}", a.subject, a.kind.as_str());
        req = req
            .header("Title", HeaderValue::from_str(&title).unwrap_or(HeaderValue::from_static("ctrl")))
            .header("Priority", priority)
            .header("Tags", tag);
    }
    req.body(Full::new(body)).map_err(|e| format!("cannot build the request: {e}"))
}

/// Sends `a` to one channel, retrying network errors, 429 and 5xx.
pub async fn deliver(client: &Http, name: &str, ch: &ChannelSpec, a: &AlertInfo) -> Delivery {
    let mut d = Delivery {
        channel: name.into(),
        format: ch.format,
        ok: false,
        attempts: 0,
        status: None,
        error: None,
    };
    let mut wait = Duration::from_secs(1);
    loop {
        d.attempts += 1;
        let req = match request(ch, a) {
            Ok(r) => r,
            Err(e) => {
                d.error = Some(e);
                return d;
            }
        };
        let retry = match tokio::time::timeout(TRY_TIMEOUT, client.request(req)).await {
            Ok(Ok(res)) => {
                let status = res.status();
                d.status = Some(status.as_u16());
                // Read the answer to the end so the connection goes back to the pool.
                let _ = tokio::time::timeout(TRY_TIMEOUT, res.into_body().collect()).await;
                if status.is_success() {
                    d.ok = true;
                    d.error = None;
                    return d;
                }
                d.error = Some(format!("the webhook answered {status}"));
                status.is_server_error() || status.as_u16() == 429
            }
            Ok(Err(e)) => {
                d.status = None;
                d.error = Some(if e.is_connect() {
                    "cannot connect to the webhook".into()
                } else {
                    format!("the request failed: {e}")
                });
                true
            }
            Err(_) => {
                d.status = None;
                d.error = Some("the webhook did not answer in time".into());
                true
            }
        };
        if !retry || d.attempts >= ATTEMPTS {
            return d;
        }
        tokio::time::sleep(wait).await;
        wait *= 2;
    }
}
