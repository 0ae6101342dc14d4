//! The creators catalogue: a YAML, JSON or TOML list of `{id, name, platform,
//! url, topics}` (TOML: `[[creators]]` tables). Pure apart from reading the file.

use std::path::Path;

use ctrl_proto::Creator;
use serde_json::Value;

/// The catalogue at `path`, or why it cannot be read.
pub fn load(path: &Path) -> Result<Vec<Creator>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    parse(&text, &ext)
}

/// Parses a catalogue written in the format of `ext` (`json`, `toml`, else YAML).
pub fn parse(text: &str, ext: &str) -> Result<Vec<Creator>, String> {
    let value = match ext {
        "json" => serde_json::from_str(text)
            .map_err(|e| format!("line {}, column {}: {e}", e.line(), e.column()))?,
        "toml" => {
            let t: toml::Table = toml::from_str(text).map_err(|e| e.message().to_owned())?;
            serde_json::to_value(t).map_err(|e| e.to_string())?
        }
        _ => crate::front_matter::yaml(text, 1).map_err(|e| e.to_string())?,
    };
    let list = match value {
        Value::Array(a) => a,
        Value::Object(mut m) => match m.remove("creators") {
            Some(Value::Array(a)) => a,
            _ => return Err("expected a list of creators (or a 'creators' list)".into()),
        },
        Value::Null => vec![],
        _ => return Err("expected a list of creators".into()),
    };
    let mut out: Vec<Creator> = Vec::with_capacity(list.len());
    for (i, item) in list.into_iter().enumerate() {
        let mut item = item;
        // Ids may be written as numbers.
        if let Some(id) = item.get_mut("id").filter(|v| v.is_number()) {
            *id = Value::String(id.to_string());
        }
        let c: Creator = serde_json::from_value(item).map_err(|e| format!("creator {}: {e}", i + 1))?;
        if c.id.trim().is_empty() {
            return Err(format!("creator {}: the id is empty", i + 1));
        }
        if out.iter().any(|o| o.id == c.id) {
            return Err(format!("creator {}: the id '{}' is used twice", i + 1, c.id));
        }
        out.push(Creator { files: 0, ..c });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_formats() {
        let yaml = "- id: c1\n  name: Ann\n  platform: youtube\n  topics: [rust]\n- id: 2\n  name: Bo\n";
        let json = r#"{"creators": [{"id": "c1", "name": "Ann", "platform": "youtube", "topics": ["rust"]}, {"id": 2, "name": "Bo"}]}"#;
        let toml = "[[creators]]\nid = \"c1\"\nname = \"Ann\"\nplatform = \"youtube\"\ntopics = [\"rust\"]\n[[creators]]\nid = 2\nname = \"Bo\"\n";
        for (text, ext) in [(yaml, "yaml"), (json, "json"), (toml, "toml")] {
            let c = parse(text, ext).unwrap();
            assert_eq!(c.len(), 2, "{ext}");
            assert_eq!(
                (c[0].id.as_str(), c[0].platform.as_deref(), c[0].topics.clone()),
                ("c1", Some("youtube"), vec!["rust".to_string()])
            );
            assert_eq!((c[1].id.as_str(), c[1].name.as_str(), c[1].url.as_deref()), ("2", "Bo", None));
        }
    }

    #[test]
    fn bad_catalogues_are_named() {
        assert!(
            parse("- id: a\n  name: A\n- id: a\n  name: B\n", "yaml").unwrap_err().contains("used twice")
        );
        assert!(parse("- name: no id\n", "yml").unwrap_err().starts_with("creator 1:"));
        assert!(parse("{", "json").unwrap_err().starts_with("line 1"));
        assert!(parse("- [unclosed", "yaml").unwrap_err().starts_with("line"));
        assert_eq!(parse("", "yaml").unwrap(), vec![]);
    }
}
