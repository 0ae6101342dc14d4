//! The knowledge base as clients see it: agents, files, creators, search answers
//! and the result of a scan.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /api/knowledge/stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KbStats {
    /// Files known.
    pub files: u64,
    /// Agents known.
    pub agents: u64,
    /// Creators in the catalogue.
    pub creators: u64,
    /// Bytes of every file together.
    pub bytes: u64,
    /// When the last scan ended.
    pub last_scan_at: Option<DateTime<Utc>>,
    /// Documents in the search index.
    pub index_docs: u64,
    /// Bytes of the search index on disk.
    pub index_bytes: u64,
    /// Whether saved files are re-indexed as they change.
    pub watching: bool,
    /// Why watching stopped or is partial (an inotify limit, say).
    pub watch_problem: Option<String>,
}

/// An agent: a first-level folder under a root, or an `agent:` named in front matter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentInfo {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// From its `_agent.yaml`.
    pub level: Option<String>,
    /// From its `_agent.yaml`.
    pub category: Option<String>,
    /// Files that belong to it.
    pub files: u64,
    /// When it was first seen.
    pub created_at: DateTime<Utc>,
}

/// A file of the knowledge base.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KnowledgeFile {
    /// Its id.
    pub id: i64,
    /// The agent it belongs to.
    pub agent: Option<String>,
    /// Its path relative to its root.
    pub file_path: String,
    /// From front matter, else its first heading, else its file name.
    pub title: String,
    /// Its category: its own front matter's, else its agent's.
    pub category: Option<String>,
    /// From front matter, 0 to 1.
    pub confidence: Option<f64>,
    /// A creator id, from front matter.
    pub creator: Option<String>,
    /// From front matter.
    pub tags: Vec<String>,
    /// Its size.
    pub bytes: u64,
    /// Its modification time.
    pub mtime: Option<DateTime<Utc>>,
    /// SHA-256 of its content, hex.
    pub sha256: Option<String>,
    /// What was wrong with it at its last reading (bad front matter, not UTF-8, too large).
    pub problem: Option<String>,
    /// When it was first seen.
    pub created_at: DateTime<Utc>,
    /// When its content last changed.
    pub updated_at: DateTime<Utc>,
}

/// A page of files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FilePage {
    /// The files of this page.
    pub items: Vec<KnowledgeFile>,
    /// Files matching, all pages together.
    pub total: u64,
}

/// A heading of a note: `# Title` is level 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Heading {
    /// 1 to 6.
    pub level: u8,
    /// Its text.
    pub text: String,
}

/// A note at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct Insights {
    /// Words of the body.
    pub words: u64,
    /// Headings outside code blocks, in order.
    pub headings: Vec<Heading>,
    /// Link targets (URLs, paths, `[[wiki links]]`), in order, once each.
    pub links: Vec<String>,
}

/// `GET /api/knowledge/files/{id}`: a file with its content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FileDetail {
    /// The file.
    #[serde(flatten)]
    pub file: KnowledgeFile,
    /// The whole file as text (lossy where it is not UTF-8).
    pub content: String,
    /// Its front matter as read (empty without one).
    #[schema(value_type = Object)]
    pub front_matter: serde_json::Value,
    /// Its words, headings and links.
    pub insights: Insights,
}

/// A creator of the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Creator {
    /// Its id, as front matter's `creator:` names it.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Where it publishes.
    pub platform: Option<String>,
    /// Its address.
    pub url: Option<String>,
    /// What it covers.
    #[serde(default)]
    pub topics: Vec<String>,
    /// Files that name it (set in answers; ignored in the catalogue).
    #[serde(default)]
    pub files: u64,
}

/// `GET /api/knowledge/creators/{id}`: a creator and its files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreatorDetail {
    /// The creator.
    #[serde(flatten)]
    pub creator: Creator,
    /// The files that name it, newest first (at most 500).
    pub file_list: Vec<KnowledgeFile>,
}

/// One search hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SearchHit {
    /// The file's id.
    pub file_id: i64,
    /// Its path relative to its root.
    pub path: String,
    /// Its title.
    pub title: String,
    /// Its agent.
    pub agent: Option<String>,
    /// BM25 relevance; higher is better.
    pub score: f32,
    /// Plain text around the best match.
    pub snippet: String,
    /// Matches in the snippet: `[start, end)` in characters.
    pub highlights: Vec<[usize; 2]>,
}

/// `GET /api/knowledge/search`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SearchAnswer {
    /// The query as given.
    pub query: String,
    /// Files matching, all of them.
    pub total: u64,
    /// Time spent searching.
    pub took_ms: f64,
    /// Files matching, per agent (before the agent filter, so a picker can show them).
    pub agents: BTreeMap<String, u64>,
    /// The best files, best first.
    pub hits: Vec<SearchHit>,
}

/// A file the scan could not read as it should.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScanProblem {
    /// The file, relative to its root (or the root itself).
    pub path: String,
    /// What was wrong; the file is indexed as well as it could be, or skipped when said.
    pub error: String,
}

/// The result of a `kb_scan` job.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct ScanResult {
    /// Files new to the index.
    pub added: u64,
    /// Files whose content changed.
    pub changed: u64,
    /// Files gone.
    pub removed: u64,
    /// Files left as they were (not re-read when size and mtime are unchanged).
    pub unchanged: u64,
    /// What went wrong, per file.
    pub errors: Vec<ScanProblem>,
}
