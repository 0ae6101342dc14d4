//! The search index: tantivy, in `<state_dir>/kb/index`. Derived data: it can
//! be deleted at any time and is rebuilt from the files.
//!
//! One writer (behind a lock: scans and the watcher take turns under the
//! knowledge base's own lock anyway) and commits per batch, never per file, so
//! thousands of saves make a handful of segments. Readers reload right after a
//! commit, so a file is searchable as soon as its batch is in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ctrl_proto::SearchHit;
use tantivy::collector::{Count, FacetCollector, TopDocs};
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, EmptyQuery, Occur, PhraseQuery, Query as TQuery, TermQuery,
};
use tantivy::schema::{
    FAST, Facet, FacetOptions, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TEXT, Value,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::directory::ReadDirectory;
use crate::error::KbError;
use crate::query::{Filters, Query, Term as QTerm};

/// Memory the writer may buffer before it writes a segment: small, so indexing
/// a large tree keeps the daemon's memory in bounds.
const WRITER_HEAP: usize = 15_000_000; // tantivy's least
/// Words a `prefix*` stands for at most (the first in order).
const PREFIX_EXPANSIONS: usize = 64;
/// Characters of a snippet.
const SNIPPET_CHARS: usize = 220;

/// A note as the index holds it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Doc {
    /// The file's id in the store.
    pub id: i64,
    /// Its root (canonical).
    pub root: String,
    /// Its path under its root.
    pub path: String,
    /// Its title.
    pub title: String,
    /// The text searched.
    pub body: String,
    /// Its agent.
    pub agent: Option<String>,
    /// Its category (its own, else its agent's).
    pub category: Option<String>,
    /// Its creator id.
    pub creator: Option<String>,
    /// Its tags.
    pub tags: Vec<String>,
}

/// What a search found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Found {
    /// Files matching.
    pub total: u64,
    /// Files matching per agent, before the agent filter.
    pub agents: BTreeMap<String, u64>,
    /// The best, best first.
    pub hits: Vec<SearchHit>,
}

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    root: Field,
    path: Field,
    title: Field,
    body: Field,
    agent: Field,
    agent_name: Field,
    category: Field,
    creator: Field,
    tag: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let f = Fields {
        id: b.add_i64_field("id", INDEXED | STORED | FAST),
        root: b.add_text_field("root", STORED),
        path: b.add_text_field("path", STORED),
        title: b.add_text_field("title", TEXT | STORED),
        // Not stored: snippets are cut from the file itself, which keeps the index
        // (and what merging it reads) to postings, a third of the size.
        body: b.add_text_field("body", TEXT),
        agent: b.add_facet_field("agent", FacetOptions::default()),
        agent_name: b.add_text_field("agent_name", STORED),
        category: b.add_text_field("category", STRING),
        creator: b.add_text_field("creator", STRING),
        tag: b.add_text_field("tag", STRING),
    };
    (b.build(), f)
}

/// The search index of one knowledge base.
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    f: Fields,
    dir: PathBuf,
}

impl SearchIndex {
    /// Opens the index in `dir`, or makes a new one; an index of another schema
    /// or one that cannot be read is replaced. The flag says whether it is new
    /// (then every file must be read into it).
    pub fn open(dir: &Path) -> Result<(SearchIndex, bool), KbError> {
        let (schema, f) = schema();
        let io = |e: std::io::Error| KbError::Index(format!("{}: {e}", dir.display()));
        std::fs::create_dir_all(dir).map_err(io)?;
        let existing = match ReadDirectory::open(dir) {
            Ok(d) if Index::exists(&d).unwrap_or(false) => match Index::open(d) {
                Ok(i) if i.schema() == schema => Some(i),
                Ok(_) => {
                    tracing::info!(dir = %dir.display(), "the search index has another layout; rebuilding it");
                    None
                }
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "the search index cannot be read; rebuilding it");
                    None
                }
            },
            _ => None,
        };
        let fresh = existing.is_none();
        let index = match existing {
            Some(i) => i,
            None => {
                std::fs::remove_dir_all(dir).map_err(io)?;
                std::fs::create_dir_all(dir).map_err(io)?;
                let d = ReadDirectory::open(dir).map_err(KbError::index)?;
                Index::create(d, schema, tantivy::IndexSettings::default()).map_err(KbError::index)?
            }
        };
        // One thread builds segments and one merges them: the daemon shares two cores
        // with what it supervises, and each merge at once holds its own buffers.
        let options = tantivy::indexer::IndexWriterOptions::builder()
            .memory_budget_per_thread(WRITER_HEAP)
            .num_worker_threads(1)
            .num_merge_threads(1)
            .build();
        let writer = index.writer_with_options(options).map_err(KbError::index)?;
        let reader =
            index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().map_err(KbError::index)?;
        Ok((SearchIndex { index, reader, writer: Mutex::new(writer), f, dir: dir.to_path_buf() }, fresh))
    }

    /// Replaces the documents of `upserts` (by id), removes `deletes`, and commits:
    /// searches see all of it from the moment this returns. Blocking.
    pub fn apply(&self, upserts: &[Doc], deletes: &[i64]) -> Result<(), KbError> {
        if upserts.is_empty() && deletes.is_empty() {
            return Ok(());
        }
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        for id in deletes.iter().chain(upserts.iter().map(|d| &d.id)) {
            w.delete_term(Term::from_field_i64(self.f.id, *id));
        }
        for d in upserts {
            w.add_document(self.document(d)).map_err(KbError::index)?;
        }
        w.commit().map_err(KbError::index)?;
        drop(w);
        self.reader.reload().map_err(KbError::index)
    }

    /// Removes every document (a rebuild starts from nothing). Blocking.
    pub fn clear(&self) -> Result<(), KbError> {
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        w.delete_all_documents().map_err(KbError::index)?;
        w.commit().map_err(KbError::index)?;
        drop(w);
        self.reader.reload().map_err(KbError::index)
    }

    fn document(&self, d: &Doc) -> TantivyDocument {
        let f = &self.f;
        let mut doc = TantivyDocument::default();
        doc.add_i64(f.id, d.id);
        doc.add_text(f.root, &d.root);
        doc.add_text(f.path, &d.path);
        doc.add_text(f.title, &d.title);
        doc.add_text(f.body, &d.body);
        if let Some(a) = &d.agent {
            doc.add_facet(f.agent, Facet::from_path(std::iter::once(a.as_str())));
            doc.add_text(f.agent_name, a);
        }
        if let Some(c) = &d.category {
            doc.add_text(f.category, c);
        }
        if let Some(c) = &d.creator {
            doc.add_text(f.creator, c);
        }
        // Tags are lowercase already (front_matter::meta); filters are lowercased to match.
        for t in &d.tags {
            doc.add_text(f.tag, t);
        }
        doc
    }

    /// Documents in the index.
    pub fn docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// The ids of every document (to check the index against the store). Blocking.
    pub fn ids(&self) -> Result<Vec<i64>, KbError> {
        let searcher = self.reader.searcher();
        let mut out = Vec::with_capacity(searcher.num_docs() as usize);
        for seg in searcher.segment_readers() {
            let col = seg.fast_fields().i64("id").map_err(KbError::index)?;
            let alive = seg.alive_bitset();
            for doc in 0..seg.max_doc() {
                if alive.is_none_or(|a| a.is_alive(doc)) {
                    out.extend(col.first(doc));
                }
            }
        }
        Ok(out)
    }

    /// Bytes of the index on disk.
    pub fn bytes(&self) -> u64 {
        std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum()
    }

    /// The best `limit` files for `q` within `filters`, with the count per agent. Blocking.
    pub fn search(
        &self,
        q: &Query,
        filters: &Filters,
        limit: usize,
        roots: &[PathBuf],
    ) -> Result<Found, KbError> {
        let searcher = self.reader.searcher();
        let f = self.f;
        // Words to highlight: the query's, with every prefix's expansions.
        let mut highlight: Vec<String> = Vec::new();
        let mut clauses: Vec<(Occur, Box<dyn TQuery>)> = Vec::new();
        for t in &q.must {
            clauses.push((Occur::Must, self.term_query(&searcher, t, Some(&mut highlight))?));
        }
        for t in &q.not {
            clauses.push((Occur::MustNot, self.term_query(&searcher, t, None)?));
        }
        if q.must.is_empty() {
            clauses.push((Occur::Must, Box::new(AllQuery)));
        }
        let keyword = |field: Field, v: &str| -> Box<dyn TQuery> {
            Box::new(TermQuery::new(Term::from_field_text(field, v), IndexRecordOption::Basic))
        };
        let tag = filters.tag.as_ref().map(|t| t.chars().flat_map(char::to_lowercase).collect::<String>());
        for (field, v) in [(f.category, &filters.category), (f.creator, &filters.creator), (f.tag, &tag)] {
            if let Some(v) = v {
                clauses.push((Occur::Must, keyword(field, v)));
            }
        }
        let unfiltered = BooleanQuery::new(clauses.iter().map(|(o, q)| (*o, q.box_clone())).collect());
        let mut facets = FacetCollector::for_field("agent");
        facets.add_facet(Facet::root());
        let top = TopDocs::with_limit(limit.max(1)).order_by_score();
        let (top, total, counts) = match &filters.agent {
            None => searcher.search(&unfiltered, &(top, Count, facets)).map_err(KbError::index)?,
            Some(agent) => {
                let counts = searcher.search(&unfiltered, &facets).map_err(KbError::index)?;
                let term = Term::from_facet(f.agent, &Facet::from_path(std::iter::once(agent.as_str())));
                clauses.push((Occur::Must, Box::new(TermQuery::new(term, IndexRecordOption::Basic))));
                let filtered = BooleanQuery::new(clauses);
                let (top, total) = searcher.search(&filtered, &(top, Count)).map_err(KbError::index)?;
                (top, total, counts)
            }
        };
        let agents = counts
            .get(Facet::root())
            .filter_map(|(facet, n)| facet.to_path().first().map(|a| ((*a).to_owned(), n)))
            .collect();
        let snippets = self.snippets(&searcher, &highlight)?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, addr) in top.into_iter().take(limit) {
            let doc: TantivyDocument = searcher.doc(addr).map_err(KbError::index)?;
            let text = |field: Field| doc.get_first(field).and_then(|v| v.as_str()).unwrap_or("").to_owned();
            let agent = doc.get_first(f.agent_name).and_then(|v| v.as_str()).map(str::to_owned);
            let root = text(f.root);
            let body = if roots.iter().any(|r| r.as_path() == Path::new(&root)) {
                read_body(&root, &text(f.path))
            } else {
                String::new()
            };
            let (snippet, highlights) = snippet_of(&snippets, &body);
            hits.push(SearchHit {
                file_id: doc.get_first(f.id).and_then(|v| v.as_i64()).unwrap_or(0),
                path: text(f.path),
                title: text(f.title),
                agent,
                score,
                snippet,
                highlights,
            });
        }
        Ok(Found { total: total as u64, agents, hits })
    }

    /// One term of the query over title (weighted double) and body.
    fn term_query(
        &self,
        searcher: &tantivy::Searcher,
        t: &QTerm,
        highlight: Option<&mut Vec<String>>,
    ) -> Result<Box<dyn TQuery>, KbError> {
        let fields = [(self.f.title, 2.0), (self.f.body, 1.0)];
        let words: Vec<String> = match t {
            QTerm::Word(w) => vec![w.clone()],
            QTerm::Phrase(ws) => ws.clone(),
            QTerm::Prefix(p) => self.expand(searcher, p)?,
        };
        if let Some(h) = highlight {
            h.extend(words.iter().cloned());
        }
        let mut per_field: Vec<(Occur, Box<dyn TQuery>)> = Vec::new();
        for (field, boost) in fields {
            let q: Box<dyn TQuery> = match t {
                QTerm::Phrase(ws) => {
                    Box::new(PhraseQuery::new(ws.iter().map(|w| Term::from_field_text(field, w)).collect()))
                }
                QTerm::Word(_) | QTerm::Prefix(_) => {
                    let any: Vec<(Occur, Box<dyn TQuery>)> = words
                        .iter()
                        .map(|w| {
                            let term = Term::from_field_text(field, w);
                            (
                                Occur::Should,
                                Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs))
                                    as Box<dyn TQuery>,
                            )
                        })
                        .collect();
                    if any.is_empty() { Box::new(EmptyQuery) } else { Box::new(BooleanQuery::new(any)) }
                }
            };
            per_field.push((Occur::Should, Box::new(BoostQuery::new(q, boost))));
        }
        Ok(Box::new(BooleanQuery::new(per_field)))
    }

    /// The indexed words that start with `prefix` (title or body), first ones in order.
    fn expand(&self, searcher: &tantivy::Searcher, prefix: &str) -> Result<Vec<String>, KbError> {
        let mut out = std::collections::BTreeSet::new();
        let upper = prefix_end(prefix.as_bytes());
        for seg in searcher.segment_readers() {
            for field in [self.f.body, self.f.title] {
                let inverted = seg.inverted_index(field).map_err(KbError::index)?;
                let mut range = inverted.terms().range().ge(prefix.as_bytes());
                if let Some(u) = &upper {
                    range = range.lt(u);
                }
                let mut stream = range.into_stream().map_err(|e| KbError::Index(e.to_string()))?;
                while stream.advance() && out.len() < PREFIX_EXPANSIONS {
                    if let Ok(w) = std::str::from_utf8(stream.key()) {
                        out.insert(w.to_owned());
                    }
                }
            }
        }
        Ok(out.into_iter().take(PREFIX_EXPANSIONS).collect())
    }

    /// Highlights every query word (prefixes expanded), rarer words weighing more.
    fn snippets(&self, searcher: &tantivy::Searcher, words: &[String]) -> Result<SnippetGenerator, KbError> {
        let mut terms = BTreeMap::new();
        for w in words {
            let df = searcher.doc_freq(&Term::from_field_text(self.f.body, w)).map_err(KbError::index)?;
            if df > 0 {
                terms.insert(w.clone(), 1.0 / (1.0 + df as f32));
            }
        }
        let tokenizer = self.index.tokenizer_for_field(self.f.body).map_err(KbError::index)?;
        Ok(SnippetGenerator::new(terms, tokenizer, self.f.body, SNIPPET_CHARS))
    }
}

/// The first byte string after every string starting with `prefix`, if any.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Bytes of a note read to cut its snippet from.
const SNIPPET_READ: u64 = 512 * 1024;

/// The text of a hit as it is now (its start, without front matter); empty when it
/// is gone or its path now leads outside its root.
fn read_body(root: &str, rel: &str) -> String {
    match crate::walk::read_inside(Path::new(root), rel, SNIPPET_READ) {
        Ok(bytes) if !bytes[..bytes.len().min(8192)].contains(&0) => {
            crate::front_matter::body(&String::from_utf8_lossy(&bytes)).to_owned()
        }
        _ => String::new(),
    }
}

/// The snippet of a hit and its highlights in characters; the start of the body
/// when the match is only in the title.
fn snippet_of(generator: &SnippetGenerator, body: &str) -> (String, Vec<[usize; 2]>) {
    let s = generator.snippet(body);
    let fragment = s.fragment();
    if fragment.is_empty() || s.highlighted().is_empty() {
        let start: String = body.chars().take(SNIPPET_CHARS).collect();
        return (start.split_whitespace().collect::<Vec<_>>().join(" "), vec![]);
    }
    let chars = |byte: usize| fragment[..byte.min(fragment.len())].chars().count();
    let highlights = s.highlighted().iter().map(|r| [chars(r.start), chars(r.end)]).collect();
    (fragment.to_owned(), highlights)
}
