//! A note as the knowledge base reads it: its agent, title and metadata from
//! front matter and folder, the text to index, its hash and what was wrong. Pure.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::front_matter;

/// A file read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Note {
    /// Its agent: `agent:` of its front matter, else its first folder under the root.
    pub agent: Option<String>,
    /// `title:`, else its first heading, else its file name.
    pub title: String,
    /// `category:`.
    pub category: Option<String>,
    /// `confidence:`.
    pub confidence: Option<f64>,
    /// `creator:`.
    pub creator: Option<String>,
    /// `tags:`.
    pub tags: Vec<String>,
    /// Every front matter field.
    pub front_matter: Map<String, Value>,
    /// The text indexed: the body without front matter (empty for binary files).
    pub body: String,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
    /// What was wrong, for the scan's result; the note is kept all the same.
    pub problems: Vec<String>,
}

/// Bytes looked at to tell a binary file from text.
const SNIFF: usize = 8192;

/// Reads the note at `rel` (its path under its root) from its bytes.
pub fn read(rel: &str, bytes: &[u8]) -> Note {
    let sha256 = ctrl_core::hex::hex(&Sha256::digest(bytes));
    let mut note = Note { sha256, agent: folder_agent(rel), title: file_title(rel), ..Note::default() };
    if bytes[..bytes.len().min(SNIFF)].contains(&0) {
        note.problems.push("a binary file; listed by its name only".into());
        return note;
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => std::borrow::Cow::Borrowed(t),
        Err(e) => {
            note.problems
                .push(format!("not UTF-8 (at byte {}); read with replacement characters", e.valid_up_to()));
            String::from_utf8_lossy(bytes)
        }
    };
    let split = front_matter::split(&text);
    note.problems.extend(split.problem);
    let meta = front_matter::meta(&split.fields, &mut note.problems);
    if let Some(a) = meta.agent {
        note.agent = Some(a);
    }
    if let Some(t) = meta.title.or_else(|| first_heading(split.body)) {
        note.title = t;
    }
    note.category = meta.category;
    note.confidence = meta.confidence;
    note.creator = meta.creator;
    note.tags = meta.tags;
    note.body = split.body.to_owned();
    note.front_matter = split.fields;
    note
}

/// A note too large to read: its name and path only.
pub fn unread(rel: &str, problem: String) -> Note {
    Note { agent: folder_agent(rel), title: file_title(rel), problems: vec![problem], ..Note::default() }
}

/// The first folder of `rel`, when the file is inside one.
pub fn folder_agent(rel: &str) -> Option<String> {
    rel.split_once('/').map(|(first, _)| first.to_owned())
}

fn file_title(rel: &str) -> String {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    name.rsplit_once('.').map_or(name, |(stem, _)| stem).to_owned()
}

fn first_heading(body: &str) -> Option<String> {
    body.lines()
        .map(str::trim_start)
        .find_map(|l| l.strip_prefix("# "))
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_title_and_metadata() {
        let n = read("coder/notes/tips.md", b"---\ncategory: eng\ncreator: c1\n---\n# Fast builds\ntext\n");
        assert_eq!(n.agent.as_deref(), Some("coder"));
        assert_eq!(n.title, "Fast builds");
        assert_eq!((n.category.as_deref(), n.creator.as_deref()), (Some("eng"), Some("c1")));
        assert_eq!(n.body, "# Fast builds\ntext\n");
        assert_eq!(n.sha256.len(), 64);
        assert!(n.problems.is_empty());

        let n = read("top.md", b"---\nagent: writer\ntitle: T\n---\nx");
        assert_eq!((n.agent.as_deref(), n.title.as_str()), (Some("writer"), "T"));
        assert_eq!(read("top.txt", b"no heading").title, "top");
        assert_eq!(read("top.txt", b"no heading").agent, None);
    }

    #[test]
    fn bad_files_are_kept_with_their_problem() {
        let n = read("a/bin.md", b"\x89PNG\0\0binary");
        assert_eq!((n.body.as_str(), n.title.as_str()), ("", "bin"));
        assert!(n.problems[0].contains("binary"));

        let n = read("a/latin1.md", b"caf\xe9 au lait");
        assert_eq!(n.body, "caf\u{fffd} au lait");
        assert!(n.problems[0].contains("not UTF-8 (at byte 3)"));

        let n = read("a/bad.md", b"---\ntitle: [x\n---\nstill indexed");
        assert_eq!(n.body, "still indexed");
        assert_eq!(n.problems.len(), 1);
    }
}
