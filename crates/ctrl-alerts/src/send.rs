//! Delivery to webhooks: the body in each channel's format, retries with backoff.

use std::time::Duration;

use ctrl_core::config::{ChannelFormat, ChannelSpec};
use ctrl_proto::{AlertInfo, Delivery};

/// Tries per delivery: the first and three retries after 1 s, 2 s and 4 s.
const ATTEMPTS: u32 = 4;

/// One POST per try, each bounded by this.
const TRY_TIMEOUT: Duration = Duration::from_secs(10);

/// The request for one channel.
fn request(client: &reqwest::Client, ch: &ChannelSpec, a: &AlertInfo) -> reqwest::RequestBuilder {
    let post = client.post(&ch.url).timeout(TRY_TIMEOUT);
    match ch.format {
        ChannelFormat::Json => post.json(&serde_json::json!({ "alert": a })),
        ChannelFormat::Slack => post.json(&serde_json::json!({ "text": a.message })),
        ChannelFormat::Discord => post.json(&serde_json::json!({ "content": a.message })),
        ChannelFormat::Ntfy => {
            let (priority, tag) = match a.state.as_str() {
                "firing" => ("high", "rotating_light"),
                "resolved" => ("default", "white_check_mark"),
                _ => ("low", "test_tube"),
            };
            post.header("Title", format!("ctrl: {} {}", a.subject, a.kind.as_str()))
                .header("Priority", priority)
                .header("Tags", tag)
                .body(a.message.clone())
        }
    }
}

/// Sends `a` to one channel, retrying network errors, 429 and 5xx.
pub async fn deliver(client: &reqwest::Client, name: &str, ch: &ChannelSpec, a: &AlertInfo) -> Delivery {
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
        let retry = match request(client, ch, a).send().await {
            Ok(res) => {
                let status = res.status();
                d.status = Some(status.as_u16());
                if status.is_success() {
                    d.ok = true;
                    d.error = None;
                    return d;
                }
                d.error = Some(format!("the webhook answered {status}"));
                status.is_server_error() || status.as_u16() == 429
            }
            Err(e) => {
                d.status = None;
                d.error = Some(if e.is_timeout() {
                    "the webhook did not answer in time".into()
                } else if e.is_connect() {
                    "cannot connect to the webhook".into()
                } else {
                    format!("the request failed: {e}")
                });
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
