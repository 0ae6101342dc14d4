//! `[knowledge]`: the folders of notes the knowledge base scans and searches.

use std::path::PathBuf;

use serde::Deserialize;

use super::units::ByteSize;
use super::validate::{Problem, problem};

/// `[knowledge]`. Absent: the daemon has no knowledge base (and spends nothing on one).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeConfig {
    /// Folders of notes; a file's agent is its first folder under a root.
    #[serde(default = "default_roots")]
    pub roots: Vec<PathBuf>,
    /// File extensions indexed (without the dot, any case).
    #[serde(default = "default_extensions")]
    pub extensions: Vec<String>,
    /// The creators catalogue: a YAML, JSON or TOML list of `{id, name, platform, url, topics}`.
    pub creators: Option<PathBuf>,
    /// Re-index files as they are saved (inotify), so a saved note is searchable within a second.
    #[serde(default = "yes")]
    pub watch: bool,
    /// Files larger than this are listed by their metadata only; their text is not indexed.
    #[serde(default = "default_max_file_size")]
    pub max_file_size: ByteSize,
}

fn default_roots() -> Vec<PathBuf> {
    vec![PathBuf::from("knowledge")]
}
fn default_extensions() -> Vec<String> {
    ["md", "markdown", "txt"].map(String::from).to_vec()
}
fn yes() -> bool {
    true
}
fn default_max_file_size() -> ByteSize {
    ByteSize(4 * 1024 * 1024)
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        KnowledgeConfig {
            roots: default_roots(),
            extensions: default_extensions(),
            creators: None,
            watch: true,
            max_file_size: default_max_file_size(),
        }
    }
}

impl KnowledgeConfig {
    /// Whether `ext` (a file's extension) is one of the indexed ones.
    pub fn indexes(&self, ext: &str) -> bool {
        self.extensions.iter().any(|e| e.eq_ignore_ascii_case(ext))
    }
}

pub(super) fn check(k: &KnowledgeConfig, out: &mut Vec<Problem>) {
    if k.roots.is_empty() {
        out.push(problem(&["knowledge", "roots"], "needs at least one folder"));
    }
    for (i, r) in k.roots.iter().enumerate() {
        if r.as_os_str().is_empty() {
            out.push(problem(&["knowledge", "roots"], "an empty path is not a folder"));
        } else if k.roots[..i].contains(r) {
            out.push(problem(&["knowledge", "roots"], format!("'{}' is listed twice", r.display())));
        }
    }
    if k.extensions.is_empty() {
        out.push(problem(&["knowledge", "extensions"], "needs at least one extension, like \"md\""));
    }
    for e in &k.extensions {
        if e.is_empty() || e.starts_with('.') || e.contains(['/', '\\']) {
            out.push(problem(
                &["knowledge", "extensions"],
                format!("'{e}' is not an extension; write it without the dot, like \"md\""),
            ));
        }
    }
    if k.max_file_size.0 == 0 {
        out.push(problem(&["knowledge", "max_file_size"], "must be above 0"));
    }
}
