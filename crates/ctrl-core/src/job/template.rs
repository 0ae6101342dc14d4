//! Argv templates: `["./deploy.sh", "{env}", "--tag={tag}"]`.
//!
//! A placeholder is replaced inside the element that holds it and nowhere else,
//! so a value can never become two arguments or join the next one. `{{` and `}}`
//! write literal braces.

use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Lit(String),
    Param(String),
}

/// A parsed argv template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template(Vec<Vec<Piece>>);

impl Template {
    /// Parses each argv element; errors name the element and what is wrong.
    pub fn parse(argv: &[String]) -> Result<Template, String> {
        argv.iter()
            .enumerate()
            .map(|(i, e)| element(e).map_err(|w| format!("argument {i} ('{e}'): {w}")))
            .collect::<Result<_, _>>()
            .map(Template)
    }

    /// The parameter names the template uses.
    pub fn params(&self) -> BTreeSet<&str> {
        self.0
            .iter()
            .flatten()
            .filter_map(|p| match p {
                Piece::Param(n) => Some(n.as_str()),
                Piece::Lit(_) => None,
            })
            .collect()
    }

    /// The argv with every placeholder replaced by its value (an unknown one by nothing:
    /// validation has already refused templates that name unknown parameters).
    pub fn render(&self, values: &BTreeMap<String, String>) -> Vec<String> {
        self.0
            .iter()
            .map(|pieces| {
                pieces
                    .iter()
                    .map(|p| match p {
                        Piece::Lit(s) => s.as_str(),
                        Piece::Param(n) => values.get(n).map(String::as_str).unwrap_or(""),
                    })
                    .collect()
            })
            .collect()
    }
}

fn element(e: &str) -> Result<Vec<Piece>, String> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut chars = e.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                lit.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                lit.push('}');
            }
            '{' => {
                let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    return Err(format!(
                        "'{{{name}' is not a placeholder; write {{name}}, or {{{{ for a brace"
                    ));
                }
                if !lit.is_empty() {
                    out.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                out.push(Piece::Param(name));
            }
            '}' => return Err("a lone '}'; write }} for a brace".into()),
            c => lit.push(c),
        }
    }
    if !lit.is_empty() || out.is_empty() {
        out.push(Piece::Lit(lit));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn values_stay_inside_their_own_element() {
        let t = Template::parse(&argv(&["./deploy.sh", "{env}", "--tag={tag}", "{{literal}}", ""])).unwrap();
        assert_eq!(t.params().into_iter().collect::<Vec<_>>(), ["env", "tag"]);
        let mut v = BTreeMap::new();
        v.insert("env".to_string(), "prod; rm -rf / #".to_string());
        v.insert("tag".to_string(), "a b\"c".to_string());
        assert_eq!(t.render(&v), ["./deploy.sh", "prod; rm -rf / #", "--tag=a b\"c", "{literal}", ""]);
    }

    #[test]
    fn bad_placeholders_are_named() {
        for bad in ["{", "{1x}", "{a-b}", "x}", "{}"] {
            let e = Template::parse(&argv(&["cmd", bad])).unwrap_err();
            assert!(e.starts_with("argument 1"), "{bad}: {e}");
        }
    }
}
