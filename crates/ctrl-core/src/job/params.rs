//! Checking the parameters of a run against the action's typed specs.
//!
//! Every value becomes one string that is later placed inside one argv
//! element: nothing here splits, joins or quotes, and no shell ever reads it.
//! Text may not carry NUL or other control characters; a path must be relative
//! and may not step up with `..` (the runtime then resolves it and checks that
//! symlinks keep it inside its root).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::config::{ParamSpec, ParamType, ParamValue};

/// A checked parameter, ready for its argv element.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// Used as written.
    Text(String),
    /// A path to resolve inside `root` (the runtime substitutes the absolute result).
    Path {
        /// The folder it must stay inside.
        root: PathBuf,
        /// The relative path, normalised.
        rel: PathBuf,
    },
}

/// Checks `given` against `specs`: unknown names, missing required values and
/// every bad value are reported together, each as `name: why`.
pub fn check_params(
    specs: &BTreeMap<String, ParamSpec>,
    given: &BTreeMap<String, ParamValue>,
) -> Result<BTreeMap<String, Arg>, Vec<String>> {
    let mut problems = Vec::new();
    for name in given.keys().filter(|n| !specs.contains_key(*n)) {
        let known = specs.keys().map(String::as_str).collect::<Vec<_>>().join(", ");
        problems.push(format!(
            "{name}: this action has no such parameter (it takes: {})",
            if known.is_empty() { "none" } else { &known }
        ));
    }
    let mut out = BTreeMap::new();
    for (name, spec) in specs {
        let Some(value) = given.get(name).or(spec.default.as_ref()) else {
            problems.push(format!("{name}: required"));
            continue;
        };
        match check_value(spec, value) {
            Ok(text) => {
                let arg = match (&spec.kind, &spec.root) {
                    (ParamType::Path, Some(root)) => {
                        Arg::Path { root: root.clone(), rel: PathBuf::from(text) }
                    }
                    _ => Arg::Text(text),
                };
                out.insert(name.clone(), arg);
            }
            Err(why) => problems.push(format!("{name}: {why}")),
        }
    }
    if problems.is_empty() { Ok(out) } else { Err(problems) }
}

/// Checks one value against its spec and returns its text (a path normalised).
pub fn check_value(spec: &ParamSpec, value: &ParamValue) -> Result<String, String> {
    match spec.kind {
        ParamType::Bool => match value {
            ParamValue::Bool(b) => Ok(b.to_string()),
            ParamValue::Text(t) if t == "true" || t == "false" => Ok(t.clone()),
            _ => Err("must be true or false".into()),
        },
        ParamType::Int => {
            let n = match value {
                ParamValue::Int(n) => *n,
                ParamValue::Text(t) => {
                    t.trim().parse().map_err(|_| format!("'{}' is not a whole number", clip(t)))?
                }
                ParamValue::Bool(_) => return Err("must be a whole number".into()),
            };
            if let Some(min) = spec.min.filter(|m| n < *m) {
                return Err(format!("{n} is below the minimum {min}"));
            }
            if let Some(max) = spec.max.filter(|m| n > *m) {
                return Err(format!("{n} is above the maximum {max}"));
            }
            Ok(n.to_string())
        }
        ParamType::Enum => {
            let t = text(value)?;
            let values = spec.values.as_deref().unwrap_or_default();
            if values.contains(&t) {
                Ok(t)
            } else {
                Err(format!("'{}' is not one of: {}", clip(&t), values.join(", ")))
            }
        }
        ParamType::String => {
            let t = text(value)?;
            if let Some(c) = t.chars().find(|c| c.is_control()) {
                return Err(format!("control characters ({c:?}) are not allowed"));
            }
            if t.len() > 4096 {
                return Err("longer than 4096 bytes".into());
            }
            // `--output=/x` inside one argument is still an option to most programs.
            if t.starts_with('-') && spec.pattern.is_none() {
                return Err(
                    "may not start with '-' (it would read as an option); a pattern can allow it".into()
                );
            }
            if let Some(p) = &spec.pattern {
                let re = regex_lite::Regex::new(&format!("^(?:{p})$")).map_err(|e| e.to_string())?;
                if !re.is_match(&t) {
                    return Err(format!("'{}' does not match {p}", clip(&t)));
                }
            }
            Ok(t)
        }
        ParamType::Path => {
            let t = text(value)?;
            lexical_relative(&t).map(|p| p.to_string_lossy().into_owned())
        }
    }
}

/// A path given by a client, normalised, when it is relative and never steps
/// up: `a/./b` is `a/b`; absolute paths, `..`, NUL and control characters are refused.
pub fn lexical_relative(t: &str) -> Result<PathBuf, String> {
    if t.is_empty() {
        return Err("an empty path".into());
    }
    if t.chars().any(|c| c.is_control()) {
        return Err("control characters are not allowed in a path".into());
    }
    let mut out = PathBuf::new();
    for c in Path::new(t).components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(format!("'{}' steps out with '..'", clip(t))),
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!("'{}' is absolute; give a path relative to the root", clip(t)));
            }
        }
    }
    if out.as_os_str().is_empty() {
        return Err("the path names the root itself".into());
    }
    Ok(out)
}

fn text(v: &ParamValue) -> Result<String, String> {
    match v {
        ParamValue::Text(t) => Ok(t.clone()),
        ParamValue::Int(n) => Ok(n.to_string()),
        ParamValue::Bool(_) => Err("must be text".into()),
    }
}

/// A value shown back in an error, cut short and with control characters escaped.
fn clip(t: &str) -> String {
    let escaped: String = t.chars().flat_map(char::escape_default).collect();
    if escaped.chars().count() > 60 {
        format!("{}…", escaped.chars().take(60).collect::<String>())
    } else {
        escaped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: ParamType) -> ParamSpec {
        ParamSpec {
            kind,
            description: None,
            pattern: None,
            values: None,
            min: None,
            max: None,
            root: None,
            default: None,
        }
    }

    fn t(s: &str) -> ParamValue {
        ParamValue::Text(s.into())
    }

    #[test]
    fn strings_refuse_control_characters_and_must_match_the_whole_pattern() {
        let free = spec(ParamType::String);
        // Shell syntax is just text: no shell will read it.
        for ok in ["a; rm -rf /", "$(touch x)", "`id`", "a|b&&c", "../../etc", "a -b"] {
            assert_eq!(check_value(&free, &t(ok)).unwrap(), ok);
        }
        for bad in ["line\nnext", "nul\0", "tab\t", "esc\u{1b}[31m", "-n", "--output=/etc/x"] {
            assert!(check_value(&free, &t(bad)).is_err(), "{bad:?}");
        }
        let tag = ParamSpec { pattern: Some("[a-z0-9.-]{1,8}".into()), ..spec(ParamType::String) };
        assert!(check_value(&tag, &t("v1.2")).is_ok());
        // Anchored: a match inside the value is not enough.
        assert!(check_value(&tag, &t("v1.2; id")).is_err());
        assert!(check_value(&tag, &t("")).is_err());
        let flags = ParamSpec { pattern: Some("-[a-z]".into()), ..spec(ParamType::String) };
        assert!(check_value(&flags, &t("-v")).is_ok(), "a pattern may allow a leading '-'");
    }

    #[test]
    fn ints_enums_and_bools() {
        let n = ParamSpec { min: Some(1), max: Some(10), ..spec(ParamType::Int) };
        assert_eq!(check_value(&n, &ParamValue::Int(3)).unwrap(), "3");
        assert_eq!(check_value(&n, &t("10")).unwrap(), "10");
        assert!(check_value(&n, &ParamValue::Int(11)).unwrap_err().contains("above the maximum 10"));
        assert!(check_value(&n, &t("3; id")).is_err());
        let e = ParamSpec { values: Some(vec!["staging".into(), "prod".into()]), ..spec(ParamType::Enum) };
        assert!(check_value(&e, &t("prod")).is_ok());
        assert!(check_value(&e, &t("prod ")).is_err());
        let b = spec(ParamType::Bool);
        assert_eq!(check_value(&b, &ParamValue::Bool(true)).unwrap(), "true");
        assert!(check_value(&b, &t("yes")).is_err());
    }

    #[test]
    fn paths_stay_relative_and_never_step_up() {
        assert_eq!(lexical_relative("a/./b/").unwrap(), PathBuf::from("a/b"));
        for bad in ["../x", "a/../../x", "a/..", "/etc/passwd", "", ".", "a\0b", "a\nb"] {
            assert!(lexical_relative(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn unknown_missing_and_default_parameters() {
        let mut specs = BTreeMap::new();
        specs
            .insert("env".to_string(), ParamSpec { values: Some(vec!["a".into()]), ..spec(ParamType::Enum) });
        specs
            .insert("n".to_string(), ParamSpec { default: Some(ParamValue::Int(2)), ..spec(ParamType::Int) });
        specs.insert("f".to_string(), ParamSpec { root: Some("/srv/up".into()), ..spec(ParamType::Path) });
        let mut given = BTreeMap::new();
        given.insert("extra".to_string(), t("x"));
        let errs = check_params(&specs, &given).unwrap_err();
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs[0].starts_with("extra: this action has no such parameter"));
        given.clear();
        given.insert("env".to_string(), t("a"));
        given.insert("f".to_string(), t("in/x.txt"));
        let ok = check_params(&specs, &given).unwrap();
        assert_eq!(ok["n"], Arg::Text("2".into()));
        assert_eq!(ok["f"], Arg::Path { root: "/srv/up".into(), rel: "in/x.txt".into() });
    }
}
