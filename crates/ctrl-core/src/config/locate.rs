//! Turns byte offsets and key paths into line, column and dotted key.
//!
//! serde reports where a bad value is (a byte span) and validation reports which
//! key is wrong (a path); the spanned document tree from `toml` links the two.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

use super::error::ConfigError;

type Spanned<T> = toml::Spanned<T>;

/// Locates a parse or type error reported by `toml`/serde.
pub fn from_toml(file: &str, text: &str, err: &toml::de::Error) -> ConfigError {
    let span = err.span().unwrap_or(0..0);
    let key = DeTable::parse(text)
        .map(|doc| {
            let mut path = Vec::new();
            walk(doc.get_ref(), &span, &mut path);
            path.join(".")
        })
        .unwrap_or_default();
    let (line, column) = line_col(text, span.start);
    let message = err.message().trim().replace('`', "'");
    ConfigError { file: file.into(), line, column, key, message }
}

/// Locates a validation problem about the key at `path`.
pub fn from_path(file: &str, text: &str, path: &[String], message: String) -> ConfigError {
    let offset =
        DeTable::parse(text).ok().and_then(|doc| find(doc.get_ref(), path)).map(|r| r.start).unwrap_or(0);
    let (line, column) = line_col(text, offset);
    ConfigError { file: file.into(), line, column, key: path.join("."), message }
}

/// 1-based line and character column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..text.floor_char_boundary(offset)];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, col)
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end && outer.start < outer.end
}

/// Depth-first search for the deepest key whose key or value holds `span`.
fn walk(table: &DeTable<'_>, span: &Range<usize>, path: &mut Vec<String>) -> bool {
    for (k, v) in table.iter() {
        path.push(k.get_ref().to_string());
        let here = contains(&k.span(), span) || contains(&v.span(), span);
        let deeper = match v.get_ref() {
            DeValue::Table(t) => walk(t, span, path),
            _ => false,
        };
        if here || deeper {
            return true;
        }
        path.pop();
    }
    false
}

/// The span of the deepest existing key along `path`.
fn find(table: &DeTable<'_>, path: &[String]) -> Option<Range<usize>> {
    let (first, rest) = path.split_first()?;
    let (k, v): (&Spanned<_>, &Spanned<DeValue<'_>>) =
        table.iter().find(|(k, _)| k.get_ref().as_ref() == first.as_str())?;
    match v.get_ref() {
        DeValue::Table(t) if !rest.is_empty() => find(t, rest).or(Some(k.span())),
        _ => Some(k.span()),
    }
}
