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
