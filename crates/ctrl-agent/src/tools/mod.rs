//! The tools offered to the model: one function per operation, named
//! `<family>_<op>`, each run as the person who asked, through the daemon's own API
//! (so its role checks apply), and each audited.
//!
//! A tool never fails the loop: unknown names, bad arguments, refusals and
//! timeouts all come back to the model as an error result it can read.

mod computer;

use std::time::Duration;

use axum::http::Method;
use ctrl_core::config::{AgentConfig, valid_name};
use ctrl_web::Principal;
use serde_json::{Value, json};

use ctrl_web::loopback::{Answer, Loopback};

/// Characters of a tool's text result the model gets (the rest is cut, said so).
const MAX_RESULT: usize = 16 * 1024;

/// What a tool answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Whether it did what was asked.
    pub ok: bool,
    /// What the model reads.
    pub text: String,
    /// A PNG screenshot, base64.
    pub image: Option<String>,
}

impl Outcome {
    fn ok(text: impl Into<String>) -> Outcome {
        Outcome { ok: true, text: cut(text.into()), image: None }
    }

    /// A result the model reads as an error.
    pub fn error(text: impl Into<String>) -> Outcome {
        Outcome { ok: false, text: cut(text.into()), image: None }
    }
}

fn cut(mut s: String) -> String {
    if s.len() > MAX_RESULT {
        let mut end = MAX_RESULT;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str("\n… (cut: the result was longer)");
    }
    s
}

/// What running a tool needs.
pub struct Toolbox<'a> {
    /// The daemon's API.
    pub api: &'a Loopback,
    /// The agent's settings (tools offered, actions allowed, the display).
    pub config: &'a AgentConfig,
    /// Who asked: the tools act with this principal's role.
    pub principal: &'a Principal,
}

/// Every tool's definition, marked with its family: data the model reads, kept as data.
const DEFINITIONS: &str = include_str!("tools.json");

static ALL: std::sync::LazyLock<Vec<Value>> =
    std::sync::LazyLock::new(|| serde_json::from_str(DEFINITIONS).unwrap_or_default());

/// The function definitions of the families `config.tools` offers.
pub fn definitions(config: &AgentConfig) -> Vec<Value> {
    ALL.iter()
        .filter(|d| {
            let family = d["family"].as_str().unwrap_or("");
            config.tools.iter().any(|t| t == family) && (family != "computer" || config.computer.is_some())
        })
        .map(|d| {
            let mut d = d.clone();
            if let Some(o) = d.as_object_mut() {
                o.remove("family");
            }
            d
        })
        .collect()
}

/// Runs the tool `name` with the JSON text `arguments`, within `timeout`.
pub async fn run(tb: &Toolbox<'_>, name: &str, arguments: &str, timeout: Duration) -> Outcome {
    let args: Value = match arguments.trim() {
        "" => json!({}),
        text => match serde_json::from_str(text) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => return Outcome::error("the arguments must be a JSON object"),
            Err(e) => return Outcome::error(format!("the arguments are not JSON: {e}")),
        },
    };
    let offered = definitions(tb.config);
    if !offered.iter().any(|d| d["function"]["name"] == name) {
        let names: Vec<&str> = offered.iter().filter_map(|d| d["function"]["name"].as_str()).collect();
        return Outcome::error(format!("there is no tool '{name}'; the tools are {}", names.join(", ")));
    }
    match tokio::time::timeout(timeout, dispatch(tb, name, &args)).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::error(format!("the tool took longer than {}s and was stopped", timeout.as_secs())),
    }
}

async fn dispatch(tb: &Toolbox<'_>, name: &str, args: &Value) -> Outcome {
    let result = match name {
        "services_list" => get(tb, "/api/services").await,
        "services_status" => match segment(args, "name") {
            Ok(n) => get(tb, &format!("/api/services/{n}/status")).await,
            Err(e) => Err(e),
        },
        "services_start" | "services_stop" | "services_restart" => match segment(args, "name") {
            Ok(n) => {
                let op = name.trim_start_matches("services_");
                post(tb, &format!("/api/services/{n}/{op}"), None).await
            }
            Err(e) => Err(e),
        },
        "stats_now" => get(tb, "/api/system/stats").await,
        "logs_tail" => logs_tail(tb, args).await,
        "actions_list" => actions_list(tb).await,
        "actions_run" => actions_run(tb, args).await,
        "knowledge_search" => knowledge_search(tb, args).await,
        other => return computer::run(tb, other, args).await,
    };
    match result {
        Ok(v) => Outcome::ok(v.to_string()),
        Err(e) => Outcome::error(e),
    }
}

async fn get(tb: &Toolbox<'_>, uri: &str) -> Result<Value, String> {
    answer(tb.api.call(tb.principal, Method::GET, uri, None).await)
}

async fn post(tb: &Toolbox<'_>, uri: &str, body: Option<Value>) -> Result<Value, String> {
    answer(tb.api.call(tb.principal, Method::POST, uri, body).await)
}

fn answer(a: Answer) -> Result<Value, String> {
    match a {
        Answer::Ok(v) => Ok(v),
        Answer::Refused(status, msg) => Err(format!("refused ({}): {msg}", status.as_u16())),
    }
}

/// A name that goes into a path: only what names may be, so it cannot climb out.
fn segment<'a>(args: &'a Value, key: &str) -> Result<&'a str, String> {
    match args[key].as_str() {
        Some(n) if valid_name(n) => Ok(n),
        Some(n) => Err(format!("'{n}' is not a name (letters, digits, '-' and '_')")),
        None => Err(format!("the argument '{key}' (a string) is required")),
    }
}

fn bounded(args: &Value, key: &str, default: u64, max: u64) -> Result<u64, String> {
    match &args[key] {
        Value::Null => Ok(default),
        v => match v.as_u64() {
            Some(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(format!("'{key}' must be a whole number from 1 to {max}")),
        },
    }
}

async fn logs_tail(tb: &Toolbox<'_>, args: &Value) -> Result<Value, String> {
    let service = segment(args, "service")?;
    let lines = bounded(args, "lines", 50, 1000)?;
    let v = get(tb, &format!("/api/services/{service}/logs?lines={lines}")).await?;
    // Lines as text: what the model reads best, and a fraction of the JSON's size.
    let text: Vec<String> = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| format!("{} {}", l["stream"].as_str().unwrap_or(""), l["line"].as_str().unwrap_or("")))
        .collect();
    Ok(Value::String(text.join("\n")))
}

fn action_allowed(config: &AgentConfig, name: &str) -> bool {
    config.actions.as_ref().is_none_or(|list| list.iter().any(|a| a == name))
}

async fn actions_list(tb: &Toolbox<'_>) -> Result<Value, String> {
    let v = get(tb, "/api/actions").await?;
    let allowed: Vec<Value> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["name"].as_str().is_some_and(|n| action_allowed(tb.config, n)))
        .cloned()
        .collect();
    Ok(Value::Array(allowed))
}

async fn actions_run(tb: &Toolbox<'_>, args: &Value) -> Result<Value, String> {
    let name = segment(args, "name")?;
    if !action_allowed(tb.config, name) {
        return Err(format!("the action '{name}' is not one the agent may run ([agent] actions)"));
    }
    let params = match &args["params"] {
        Value::Null => json!({}),
        p @ Value::Object(_) => p.clone(),
        _ => return Err("'params' must be an object".into()),
    };
    let job = post(tb, &format!("/api/actions/{name}"), Some(json!({"params": params}))).await?;
    let Some(id) = job["id"].as_i64() else { return Ok(job) };
    // A turn interrupted, or a tool past its time, cancels the job it started.
    let mut guard = CancelJob { api: tb.api.clone(), principal: tb.principal.clone(), id, armed: true };
    // The job runner tells clients of a job's end through its stream; polling its
    // row keeps the tool to the API it acts through. The tool's timeout bounds this.
    let mut wait = Duration::from_millis(50);
    loop {
        let job = get(tb, &format!("/api/jobs/{id}")).await?;
        let done = !matches!(job["status"].as_str(), Some("queued" | "running"));
        if done {
            guard.armed = false;
            let logs = get(tb, &format!("/api/jobs/{id}/logs?lines=40")).await.unwrap_or(Value::Null);
            return Ok(json!({"job": job, "output": logs}));
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_millis(500));
    }
}

/// Cancels a job when dropped armed: the tool that waited for it was stopped.
struct CancelJob {
    api: Loopback,
    principal: ctrl_web::Principal,
    id: i64,
    armed: bool,
}

impl Drop for CancelJob {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (api, principal, id) = (self.api.clone(), self.principal.clone(), self.id);
        tokio::spawn(async move {
            if let Answer::Refused(_, msg) =
                api.call(&principal, Method::POST, &format!("/api/jobs/{id}/cancel"), None).await
            {
                tracing::debug!(job = id, "not cancelled after its tool stopped: {msg}");
            }
        });
    }
}

async fn knowledge_search(tb: &Toolbox<'_>, args: &Value) -> Result<Value, String> {
    let q =
        args["q"].as_str().filter(|q| !q.trim().is_empty()).ok_or("the argument 'q' (words) is required")?;
    let limit = bounded(args, "limit", 10, 50)?;
    get(tb, &format!("/api/knowledge/search?q={}&limit={limit}", encode(q))).await
}

/// Percent-encodes a query value (everything but unreserved characters).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(tools: &[&str]) -> AgentConfig {
        let text = format!(
            "[agent]\nmodel = \"m\"\ntools = {tools:?}\n[agent.computer]\ndisplay = \":1\"\n[llm.upstreams.a]\nurl = \"http://127.0.0.1:1/v1\"\n"
        );
        ctrl_core::config::parse(std::path::Path::new("ctrl.toml"), &text).unwrap().agent.unwrap()
    }

    #[test]
    fn the_definitions_are_json_named_by_family() {
        assert_eq!(ALL.len(), 15, "tools.json parses whole");
        for d in ALL.iter() {
            let (family, name) = (d["family"].as_str().unwrap(), d["function"]["name"].as_str().unwrap());
            assert!(name.starts_with(&format!("{family}_")), "{name}");
            assert!(ctrl_core::config::TOOL_FAMILIES.contains(&family));
            assert_eq!(d["function"]["parameters"]["type"], "object");
        }
    }

    #[test]
    fn each_family_offers_its_operations() {
        let names = |c: &AgentConfig| -> Vec<String> {
            definitions(c).iter().map(|d| d["function"]["name"].as_str().unwrap().to_owned()).collect()
        };
        assert_eq!(
            names(&config(&["services", "logs"])),
            [
                "services_list",
                "services_status",
                "services_start",
                "services_stop",
                "services_restart",
                "logs_tail"
            ]
        );
        let all = names(&config(&["services", "stats", "logs", "actions", "knowledge", "computer"]));
        assert!(all.iter().all(|n| n.contains('_')), "{all:?}");
        assert!(all.contains(&"computer_screenshot".to_string()));
        assert!(all.contains(&"knowledge_search".to_string()));
        for d in definitions(&config(&["actions"])) {
            assert_eq!(d["function"]["parameters"]["type"], "object", "{d}");
        }
    }

    #[test]
    fn names_in_paths_are_names() {
        assert_eq!(segment(&json!({"name": "web"}), "name"), Ok("web"));
        assert!(segment(&json!({"name": "../reload"}), "name").is_err());
        assert!(segment(&json!({"name": "a/b"}), "name").is_err());
        assert!(segment(&json!({"name": 3}), "name").is_err());
        assert!(segment(&json!({}), "name").unwrap_err().contains("required"));
    }

    #[test]
    fn numbers_are_bounded() {
        assert_eq!(bounded(&json!({}), "lines", 50, 1000), Ok(50));
        assert_eq!(bounded(&json!({"lines": 7}), "lines", 50, 1000), Ok(7));
        assert!(bounded(&json!({"lines": 0}), "lines", 50, 1000).is_err());
        assert!(bounded(&json!({"lines": 5000}), "lines", 50, 1000).is_err());
        assert!(bounded(&json!({"lines": "9"}), "lines", 50, 1000).is_err());
    }

    #[test]
    fn queries_are_encoded() {
        assert_eq!(encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }

    #[test]
    fn long_results_are_cut_on_a_character() {
        let s = cut("é".repeat(MAX_RESULT));
        assert!(s.len() < MAX_RESULT + 64);
        assert!(s.ends_with("(cut: the result was longer)"));
    }
}
