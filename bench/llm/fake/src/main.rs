//! `llm-fake PORT [CHUNKS] [GAP_US]`: answers `POST /v1/chat/completions` (whole, or
//! streamed in CHUNKS content chunks, GAP_US microseconds apart (default 0: at once), a
//! usage chunk when asked, then `[DONE]`) and `GET /v1/models`, on one thread, with
//! HTTP/1.1 keep-alive.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

const WHOLE: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench","choices":[{"index":0,"message":{"role":"assistant","content":"The quick brown fox jumps over the lazy dog."},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":10,"total_tokens":22}}"#;
const CHUNK: &str = "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"bench\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"word \"},\"finish_reason\":null}]}\n\n";
const LAST: &str = "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"bench\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";
const USAGE: &str = "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"bench\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":10,\"total_tokens\":22}}\n\n";
const MODELS: &str = r#"{"object":"list","data":[{"id":"bench","object":"model","owned_by":"fake"}]}"#;

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

fn full(s: &'static str, kind: &'static str) -> Response<Body> {
    Response::builder()
        .header("content-type", kind)
        .body(Full::new(Bytes::from_static(s.as_bytes())).boxed())
        .unwrap()
}

async fn answer(req: Request<Incoming>, chunks: usize, gap: std::time::Duration) -> Result<Response<Body>, Infallible> {
    if req.method() == hyper::Method::GET {
        return Ok(full(MODELS, "application/json"));
    }
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let text = std::str::from_utf8(&body).unwrap_or("");
    if !text.contains("\"stream\":true") && !text.contains("\"stream\": true") {
        return Ok(full(WHOLE, "application/json"));
    }
    let mut frames: Vec<Result<Frame<Bytes>, Infallible>> = Vec::with_capacity(chunks + 3);
    frames.extend((0..chunks).map(|_| Ok(Frame::data(Bytes::from_static(CHUNK.as_bytes())))));
    frames.push(Ok(Frame::data(Bytes::from_static(LAST.as_bytes()))));
    if text.contains("include_usage") {
        frames.push(Ok(Frame::data(Bytes::from_static(USAGE.as_bytes()))));
    }
    frames.push(Ok(Frame::data(Bytes::from_static(b"data: [DONE]\n\n"))));
    if !gap.is_zero() {
        // Paced: a chunk, then a pause, as a model writes.
        let paced = futures_util::stream::unfold(frames.into_iter(), move |mut rest| async move {
            let next = rest.next()?;
            tokio::time::sleep(gap).await;
            Some((next, rest))
        });
        let body = StreamBody::new(paced);
        return Ok(Response::builder().header("content-type", "text/event-stream").body(body.boxed()).unwrap());
    }
    let body = StreamBody::new(futures_util::stream::iter(frames));
    Ok(Response::builder().header("content-type", "text/event-stream").body(body.boxed()).unwrap())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).expect("usage: llm-fake PORT [CHUNKS]");
    let chunks: usize = args.next().and_then(|c| c.parse().ok()).unwrap_or(10);
    let gap = std::time::Duration::from_micros(args.next().and_then(|g| g.parse().ok()).unwrap_or(0));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
    loop {
        let Ok((tcp, _)) = listener.accept().await else { continue };
        let _ = tcp.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(move |req| answer(req, chunks, gap));
            let _ = http1::Builder::new().serve_connection(TokioIo::new(tcp), service).await;
        });
    }
}
