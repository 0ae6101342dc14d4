//! Front matter: YAML between `---` lines or TOML between `+++` lines at the top
//! of a note. Pure. A malformed block never loses the note: the body is still
//! indexed and the problem is returned for the scan's result.

use serde_json::{Map, Value};

/// A note split into its front matter and its body.
#[derive(Debug, Clone, PartialEq)]
pub struct Split<'a> {
    /// The fields read (empty without front matter or when it is malformed).
    pub fields: Map<String, Value>,
    /// The text after the front matter.
    pub body: &'a str,
    /// What was wrong with the front matter.
    pub problem: Option<String>,
}

/// Largest front matter read: metadata, not a document of its own.
pub const MAX_FRONT_MATTER: usize = 64 * 1024;

/// What the knowledge base reads from the fields (tags lowercase).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Meta {
    /// `title`.
    pub title: Option<String>,
    /// `agent`: overrides the folder.
    pub agent: Option<String>,
    /// `level` (of an `_agent.yaml`).
    pub level: Option<String>,
    /// `category`.
    pub category: Option<String>,
    /// `confidence`, 0 to 1.
    pub confidence: Option<f64>,
    /// `creator`: a creator id.
    pub creator: Option<String>,
    /// `tags`: a list, or one string of comma-separated tags.
    pub tags: Vec<String>,
}

/// Where a front matter block is: its fields' text, the body after it, and
/// whether it is TOML; `Err` when a block opens and never closes.
struct Block<'a> {
    inner: &'a str,
    body: &'a str,
    toml: bool,
}

fn block(text: &str) -> Option<Result<Block<'_>, String>> {
    let (fence, toml) = if text.starts_with("---") {
        ("---", false)
    } else if text.starts_with("+++") {
        ("+++", true)
    } else {
        return None;
    };
    let first_end = text.find('\n').unwrap_or(text.len());
    if text[..first_end].trim_end() != fence {
        return None;
    }
    let inner_start = (first_end + 1).min(text.len());
    // The block ends at a line that is the fence alone (YAML may also end with `...`).
    let mut at = inner_start;
    for line in text[inner_start..].split_inclusive('\n') {
        let t = line.trim_end();
        if t == fence || (!toml && t == "...") {
            return Some(Ok(Block { inner: &text[inner_start..at], body: &text[at + line.len()..], toml }));
        }
        at += line.len();
    }
    Some(Err(format!("front matter opened with {fence} on line 1 is never closed")))
}

/// The body of `text`, its front matter (if any) skipped unread.
pub fn body(text: &str) -> &str {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match block(text) {
        Some(Ok(b)) => b.body,
        _ => text,
    }
}

/// Splits `text` into front matter and body.
pub fn split(text: &str) -> Split<'_> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let b = match block(text) {
        None => return Split { fields: Map::new(), body: text, problem: None },
        Some(Err(e)) => return Split { fields: Map::new(), body: text, problem: Some(e) },
        Some(Ok(b)) => b,
    };
    if b.inner.len() > MAX_FRONT_MATTER {
        let problem = Some(format!("front matter over {MAX_FRONT_MATTER} bytes; not read"));
        return Split { fields: Map::new(), body: b.body, problem };
    }
    let parsed = if b.toml { from_toml(b.inner) } else { from_yaml(b.inner) };
    match parsed {
        Ok(fields) => Split { fields, body: b.body, problem: None },
        Err(e) => Split { fields: Map::new(), body: b.body, problem: Some(e) },
    }
}

fn from_toml(inner: &str) -> Result<Map<String, Value>, String> {
    let table: toml::Table = toml::from_str(inner).map_err(|e| {
        let line = e.span().map(|s| inner[..s.start.min(inner.len())].lines().count().max(1) + 1);
        let msg = e.message().to_owned();
        match line {
            Some(l) => format!("front matter (TOML), line {l}: {msg}"),
            None => format!("front matter (TOML): {msg}"),
        }
    })?;
    match serde_json::to_value(table) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err("front matter (TOML) is not a table".into()),
    }
}

fn from_yaml(inner: &str) -> Result<Map<String, Value>, String> {
    if inner.trim().is_empty() {
        return Ok(Map::new());
    }
    match yaml(inner, 2).map_err(|e| format!("front matter (YAML): {e}"))? {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(Map::new()),
        _ => Err("front matter (YAML) is not a mapping of keys to values".into()),
    }
}

pub use ctrl_core::yaml::{MAX_DEPTH, yaml};

/// The fields the knowledge base uses; values of the wrong kind are problems.
pub fn meta(fields: &Map<String, Value>, problems: &mut Vec<String>) -> Meta {
    let mut text = |key: &str| match fields.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        Some(_) => {
            problems.push(format!("front matter: '{key}' should be text"));
            None
        }
    };
    let mut m = Meta {
        title: text("title"),
        agent: text("agent"),
        level: text("level"),
        category: text("category"),
        creator: text("creator"),
        ..Meta::default()
    };
    match fields.get("confidence") {
        None | Some(Value::Null) => {}
        Some(v) => match v.as_f64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok())) {
            Some(c) if (0.0..=1.0).contains(&c) => m.confidence = Some(c),
            _ => problems.push(format!("front matter: confidence {v} is not a number from 0 to 1")),
        },
    }
    m.tags = match fields.get("tags") {
        None | Some(Value::Null) => vec![],
        Some(Value::String(s)) => {
            s.split(',').map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect()
        }
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|t| match t {
                Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        Some(_) => {
            problems.push("front matter: 'tags' should be a list".into());
            vec![]
        }
    };
    // Tags are matched in any case: kept lowercase (letter by letter, as search lowercases).
    for t in &mut m.tags {
        *t = t.chars().flat_map(char::to_lowercase).collect();
    }
    m.tags.dedup();
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_and_toml_blocks() {
        let s = split("---\ntitle: Hello\ntags: [a, b]\nconfidence: 0.5\n---\nBody\n");
        assert_eq!(s.problem, None);
        assert_eq!(s.body, "Body\n");
        assert_eq!(
            Value::Object(s.fields.clone()),
            json!({"title": "Hello", "tags": ["a", "b"], "confidence": 0.5})
        );
        let mut p = vec![];
        let m = meta(&s.fields, &mut p);
        assert_eq!(
            (m.title.as_deref(), m.tags, m.confidence),
            (Some("Hello"), vec!["a".into(), "b".into()], Some(0.5))
        );
        assert!(p.is_empty());

        let s = split("+++\ntitle = \"T\"\ncreator = 7\n+++\nBody");
        assert_eq!(s.body, "Body");
        let m = meta(&s.fields, &mut p);
        assert_eq!((m.title.as_deref(), m.creator.as_deref()), (Some("T"), Some("7")));
    }

    #[test]
    fn no_front_matter() {
        for text in ["plain text", "--- not a fence\nx", "", "----\nx\n----\n"] {
            let s = split(text);
            assert_eq!((s.body, s.problem, s.fields.len()), (text, None, 0), "{text:?}");
        }
    }

    #[test]
    fn malformed_blocks_keep_the_body() {
        let s = split("---\ntitle: [unclosed\n---\nThe body\n");
        assert_eq!(s.body, "The body\n");
        // The flow sequence is found unclosed at the closing fence, line 3 of the file.
        assert!(
            s.problem.as_deref().is_some_and(|p| p.starts_with("front matter (YAML): line 3,")),
            "{:?}",
            s.problem
        );

        let s = split("---\ntitle: x\nno end\n");
        assert_eq!(s.body, "---\ntitle: x\nno end\n");
        assert!(s.problem.unwrap().contains("never closed"));

        let s = split("+++\ntitle = \n+++\nB");
        assert_eq!(s.body, "B");
        assert!(s.problem.unwrap().starts_with("front matter (TOML), line 2"));

        let s = split("---\n- a list\n---\nB");
        assert!(s.problem.unwrap().contains("not a mapping"));
    }

    #[test]
    fn wrong_kinds_are_problems_not_failures() {
        let fields = json!({"title": {"a": 1}, "confidence": 7, "tags": "X, y,,Über", "creator": null});
        let mut p = vec![];
        let m = meta(fields.as_object().unwrap(), &mut p);
        assert_eq!((m.title, m.confidence, m.creator), (None, None, None));
        assert_eq!(m.tags, vec!["x", "y", "über"]);
        assert_eq!(p.len(), 2, "{p:?}");
    }

    #[test]
    fn deep_nesting_is_a_problem_not_a_stack_overflow() {
        let deep = format!("---\nx: {}1{}\n---\nbody", "[".repeat(100), "]".repeat(100));
        let s = split(&deep);
        assert_eq!(s.body, "body");
        assert!(s.problem.is_some());
        let block: String = (0..200).map(|i| format!("{}- \n", " ".repeat(i))).collect();
        let text = format!("---\n{block}---\nbody");
        let s = split(&text);
        assert_eq!(s.body, "body");
        assert!(s.problem.is_some_and(|p| p.contains("nested more than 64")), "block nesting is bounded");
        let fine = format!("---\nx: {}1{}\n---\n", "[".repeat(MAX_DEPTH - 1), "]".repeat(MAX_DEPTH - 1));
        assert_eq!(split(&fine).problem, None);
    }

    #[test]
    fn the_body_alone_skips_the_block_unread() {
        assert_eq!(body("---\ntitle: [broken\n---\nB"), "B");
        assert_eq!(body("+++\nx = 1\n+++\nB"), "B");
        assert_eq!(body("---\nnever closed"), "---\nnever closed");
        assert_eq!(body("plain"), "plain");
    }

    #[test]
    fn bom_and_crlf() {
        let s = split("\u{feff}---\r\ntitle: W\r\n---\r\nBody");
        assert_eq!(s.body, "Body");
        assert_eq!(s.fields.get("title"), Some(&json!("W")));
    }
}
