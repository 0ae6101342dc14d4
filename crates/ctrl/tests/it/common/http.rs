//! The HTTP API through reqwest with the daemon's token, and async waits.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use super::Daemon;

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap()
}

pub struct Api<'a> {
    pub d: &'a Daemon,
    pub http: reqwest::Client,
    pub token: String,
}

impl<'a> Api<'a> {
    pub fn new(d: &'a Daemon) -> Api<'a> {
        Api { d, http: client(), token: d.token() }
    }

    pub async fn call(&self, method: reqwest::Method, path: &str) -> (StatusCode, Value) {
        let res = self.http.request(method, self.d.url(path)).bearer_auth(&self.token).send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"));
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path).await
    }

    pub async fn post(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path).await
    }

    /// The body of a GET as text, whatever its status (metrics, streams that end).
    pub async fn text(&self, path: &str) -> String {
        let res = self.http.get(self.d.url(path)).bearer_auth(&self.token).send().await.unwrap();
        res.text().await.unwrap()
    }

    /// The data of a successful answer.
    pub async fn data(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(body["success"], true, "{path}: {body}");
        body["data"].clone()
    }
}

/// Polls an async condition every 20 ms until it gives `Some`, or panics after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut cond: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = cond().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A failure is the envelope with the status its code maps to.
pub fn assert_failure(status: StatusCode, body: &Value, want: StatusCode, code: &str) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["code"], code, "{body}");
    let msg = body["error"].as_str().expect("an error message");
    assert!(!msg.is_empty());
    assert!(body.get("data").is_none(), "{body}");
}

impl Api<'_> {
    /// POSTs (or another method) with a JSON body.
    pub async fn send_json(&self, method: reqwest::Method, path: &str, body: &Value) -> (StatusCode, Value) {
        let res = self
            .http
            .request(method, self.d.url(path))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"));
        (status, body)
    }
}

/// Reads server-sent events from a streaming response: (event, data) pairs.
pub struct Sse {
    res: reqwest::Response,
    buf: String,
}

impl Sse {
    pub async fn open(d: &Daemon, path: &str) -> Sse {
        let res = reqwest::Client::new().get(d.url(path)).bearer_auth(d.token()).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        Sse { res, buf: String::new() }
    }

    /// The next event, `None` when the stream ended or was quiet for 10 s.
    pub async fn next_or_end(&mut self) -> Option<(String, Value)> {
        loop {
            if let Some(event) = self.pop() {
                return Some(event);
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.res.chunk()).await.ok()?;
            self.buf.push_str(std::str::from_utf8(&chunk.ok()??).unwrap());
        }
    }

    pub async fn next(&mut self) -> Option<(String, Value)> {
        loop {
            if let Some(event) = self.pop() {
                return Some(event);
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.res.chunk())
                .await
                .expect("an event within 10 s");
            self.buf.push_str(std::str::from_utf8(&chunk.unwrap()?).unwrap());
        }
    }

    /// The next complete event in the buffer.
    fn pop(&mut self) -> Option<(String, Value)> {
        while let Some(end) = self.buf.find("\n\n") {
            let block: String = self.buf.drain(..end + 2).collect();
            let mut name = String::from("message");
            let mut data = None;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = v.to_owned();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = Some(serde_json::from_str(v).unwrap());
                }
            }
            if let Some(d) = data {
                return Some((name, d));
            }
        }
        None
    }
}
