//! YAML as JSON values: the knowledge base's front matter and catalogues and
//! the process-compose files `ctrl import` reads. Errors name line and column.

use serde_json::Value;

/// Deepest nesting of lists and maps read: the tree is walked recursively, and a
/// few kilobytes of `- - - - …` must not overflow a thread's stack.
pub const MAX_DEPTH: usize = 64;

/// Where and why YAML could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct YamlError {
    /// 1-based line in the file.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// One YAML document as JSON, nested at most [`MAX_DEPTH`] deep;
/// `first_line` is the line number of `text`'s first line in its file.
pub fn yaml(text: &str, first_line: usize) -> Result<Value, YamlError> {
    use saphyr::{LoadableYamlNode, Yaml};
    let at = |m: &saphyr_parser::Marker, message: String| YamlError {
        line: m.line() + first_line - 1,
        column: m.col() + 1,
        message,
    };
    let located = |e: saphyr_parser::ScanError| at(e.marker(), e.info().to_string());
    // The parser is a state machine; only building and walking the tree recurse.
    let mut depth = 0usize;
    for event in saphyr_parser::Parser::new_from_str(text) {
        let (event, span) = event.map_err(located)?;
        match event {
            saphyr_parser::Event::SequenceStart(..) | saphyr_parser::Event::MappingStart(..) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(at(&span.start, format!("nested more than {MAX_DEPTH} levels deep")));
                }
            }
            saphyr_parser::Event::SequenceEnd | saphyr_parser::Event::MappingEnd => {
                depth = depth.saturating_sub(1)
            }
            _ => {}
        }
    }
    let docs = Yaml::load_from_str(text).map_err(located)?;
    Ok(docs.into_iter().next().map(|d| to_json(&d)).unwrap_or(Value::Null))
}

fn to_json(y: &saphyr::Yaml<'_>) -> Value {
    use saphyr::{Scalar, Yaml};
    match y {
        Yaml::Value(s) => match s {
            Scalar::Null => Value::Null,
            Scalar::Boolean(b) => Value::Bool(*b),
            Scalar::Integer(i) => Value::from(*i),
            Scalar::FloatingPoint(f) => {
                serde_json::Number::from_f64(f.into_inner()).map_or(Value::Null, Value::Number)
            }
            Scalar::String(s) => Value::String(s.to_string()),
        },
        Yaml::Representation(s, _, _) => Value::String(s.to_string()),
        Yaml::Sequence(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Mapping(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let key = match to_json(k) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Yaml::Tagged(_, inner) => to_json(inner),
        Yaml::Alias(_) | Yaml::BadValue => Value::Null,
    }
}
