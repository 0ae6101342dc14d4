//! Indexes a corpus with one engine, then times the knowledge base's search:
//! the top 20 by BM25, the total, counts per agent and a highlighted snippet per hit.
//!
//!   kb-engines fts5|tantivy CORPUS INDEX_DIR 'QUERIES_JSON'
//!
//! QUERIES_JSON: {"kind": ["query", ...], ...}, queries in the engine-neutral form
//! "a b" (all words), "\"a b\"" (phrase), "ab*" (prefix). Prints one JSON object.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

struct Note {
    agent: String,
    title: String,
    body: String,
}

/// Every note of the corpus: agent from the first folder, title from the front matter.
fn notes(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "md") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn read(root: &Path, p: &Path) -> Note {
    let text = std::fs::read_to_string(p).unwrap_or_default();
    let agent = p.strip_prefix(root).ok().and_then(|r| r.iter().next()).map(|s| s.to_string_lossy().into_owned());
    let (mut title, mut body) = (String::new(), text.as_str());
    if let Some(rest) = text.strip_prefix("---\n") {
        if let Some(end) = rest.find("\n---\n") {
            for line in rest[..end].lines() {
                if let Some(t) = line.strip_prefix("title: ") {
                    title = t.to_owned();
                }
            }
            body = &rest[end + 5..];
        }
    }
    Note { agent: agent.unwrap_or_default(), title, body: body.to_owned() }
}

fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn dir_bytes(p: &Path) -> u64 {
    std::fs::read_dir(p).into_iter().flatten().flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum()
}

struct Answer {
    total: usize,
    agents: usize,
    snippet_chars: usize,
}

trait Engine {
    fn index(&mut self, root: &Path, files: &[PathBuf]) -> Res<()>;
    fn search(&mut self, q: &str) -> Res<Answer>;
}

// ---------------------------------------------------------------- FTS5

struct Fts5 {
    db: rusqlite::Connection,
}

impl Fts5 {
    fn open(dir: &Path) -> Res<Fts5> {
        let db = rusqlite::Connection::open(dir.join("index.db"))?;
        db.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
             CREATE TABLE meta (id INTEGER PRIMARY KEY, agent TEXT NOT NULL);
             CREATE VIRTUAL TABLE docs USING fts5(title, body, tokenize='unicode61', prefix='2 3');",
        )?;
        Ok(Fts5 { db })
    }

    /// The neutral query in FTS5's syntax: every word quoted (so no word is an operator).
    fn query(q: &str) -> String {
        if let Some(p) = q.strip_prefix('"') {
            return format!("\"{}\"", p.trim_end_matches('"'));
        }
        q.split_whitespace()
            .map(|w| match w.strip_suffix('*') {
                Some(pre) => format!("\"{pre}\"*"),
                None => format!("\"{w}\""),
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    }
}

impl Engine for Fts5 {
    fn index(&mut self, root: &Path, files: &[PathBuf]) -> Res<()> {
        for chunk in files.chunks(1000) {
            let tx = self.db.transaction()?;
            {
                let mut meta = tx.prepare_cached("INSERT INTO meta (id, agent) VALUES (?1, ?2)")?;
                let mut doc = tx.prepare_cached("INSERT INTO docs (rowid, title, body) VALUES (?1, ?2, ?3)")?;
                for p in chunk {
                    let n = read(root, p);
                    let id: i64 = meta.insert(rusqlite::params![rusqlite::types::Null, n.agent])?;
                    doc.execute(rusqlite::params![id, n.title, n.body])?;
                }
            }
            tx.commit()?;
        }
        self.db.execute_batch("INSERT INTO docs(docs) VALUES('optimize'); PRAGMA wal_checkpoint(TRUNCATE);")?;
        Ok(())
    }

    fn search(&mut self, q: &str) -> Res<Answer> {
        let m = Fts5::query(q);
        let mut top = self.db.prepare_cached("SELECT rowid FROM docs WHERE docs MATCH ?1 ORDER BY rank LIMIT 20")?;
        let ids: Vec<i64> = top.query_map([&m], |r| r.get(0))?.collect::<Result<_, _>>()?;
        let mut per_agent = self.db.prepare_cached(
            "SELECT meta.agent, count(*) FROM docs JOIN meta ON meta.id = docs.rowid WHERE docs MATCH ?1 GROUP BY meta.agent",
        )?;
        let counts: Vec<(String, i64)> =
            per_agent.query_map([&m], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
        let mut snip = self.db.prepare_cached(
            "SELECT snippet(docs, 1, char(1), char(2), '…', 24) FROM docs WHERE docs MATCH ?1 AND rowid = ?2",
        )?;
        let mut chars = 0;
        for id in &ids {
            let s: String = snip.query_row(rusqlite::params![&m, id], |r| r.get(0))?;
            chars += s.chars().count();
        }
        Ok(Answer { total: counts.iter().map(|c| c.1 as usize).sum(), agents: counts.len(), snippet_chars: chars })
    }
}

// ---------------------------------------------------------------- tantivy

#[cfg(feature = "tantivy")]
mod tv {
    use super::*;
    use tantivy::collector::{Count, FacetCollector, TopDocs};
    use tantivy::query::{BooleanQuery, Occur, PhrasePrefixQuery, PhraseQuery, Query, TermQuery};
    use tantivy::schema::IndexRecordOption;
    use tantivy::Term;
    use tantivy::schema::{FacetOptions, Field, STORED, Schema, TEXT, Value};
    use tantivy::snippet::SnippetGenerator;
    use tantivy::{Index, IndexReader, TantivyDocument, doc, schema::Facet};

    pub struct Tantivy {
        index: Index,
        reader: Option<IndexReader>,
        title: Field,
        body: Field,
        agent: Field,
    }

    impl Tantivy {
        pub fn open(dir: &Path) -> Res<Tantivy> {
            let mut sb = Schema::builder();
            let title = sb.add_text_field("title", TEXT | STORED);
            let body = sb.add_text_field("body", TEXT | STORED);
            let agent = sb.add_facet_field("agent", FacetOptions::default());
            let index = Index::create_in_dir(dir, sb.build())?;
            Ok(Tantivy { index, reader: None, title, body, agent })
        }
    }

    impl Tantivy {
        /// The neutral query as the daemon builds it: every word over title and
        /// body, a phrase on the body, a prefix expanded by the index (at most 50 words).
        fn query(&self, q: &str) -> Box<dyn Query> {
            let text = |f: Field, w: &str| Term::from_field_text(f, &w.to_lowercase());
            if let Some(p) = q.strip_prefix('"') {
                let terms = p.trim_end_matches('"').split_whitespace().map(|w| text(self.body, w)).collect();
                return Box::new(PhraseQuery::new(terms));
            }
            let clauses = q
                .split_whitespace()
                .map(|w| {
                    let q: Box<dyn Query> = match w.strip_suffix('*') {
                        Some(pre) => Box::new(PhrasePrefixQuery::new(vec![text(self.body, pre)])),
                        None => Box::new(BooleanQuery::new(
                            [self.title, self.body]
                                .into_iter()
                                .map(|f| {
                                    let t: Box<dyn Query> =
                                        Box::new(TermQuery::new(text(f, w), IndexRecordOption::WithFreqs));
                                    (Occur::Should, t)
                                })
                                .collect(),
                        )),
                    };
                    (Occur::Must, q)
                })
                .collect();
            Box::new(BooleanQuery::new(clauses))
        }
    }

    impl Engine for Tantivy {
        fn index(&mut self, root: &Path, files: &[PathBuf]) -> Res<()> {
            let mut w: tantivy::IndexWriter = self.index.writer_with_num_threads(2, 100_000_000)?;
            for p in files {
                let n = read(root, p);
                w.add_document(doc!(
                    self.title => n.title,
                    self.body => n.body,
                    self.agent => Facet::from(format!("/{}", n.agent).as_str()),
                ))?;
            }
            w.commit()?;
            w.wait_merging_threads()?;
            self.reader = Some(self.index.reader()?);
            Ok(())
        }

        fn search(&mut self, q: &str) -> Res<Answer> {
            let Some(reader) = &self.reader else { return Err("not indexed".into()) };
            let searcher = reader.searcher();
            let query = self.query(q);
            let mut facets = FacetCollector::for_field("agent");
            facets.add_facet("/");
            let (top, total, counts) =
                searcher.search(&query, &(TopDocs::with_limit(20).order_by_score(), Count, facets))?;
            let snippets = SnippetGenerator::create(&searcher, &*query, self.body)?;
            let mut chars = 0;
            for (_, addr) in top {
                let d: TantivyDocument = searcher.doc(addr)?;
                let _ = d.get_first(self.title).and_then(|v| v.as_str().map(str::len));
                let s = snippets.snippet_from_doc(&d);
                chars += s.fragment().chars().count() + s.highlighted().len();
            }
            Ok(Answer { total, agents: counts.get("/").count(), snippet_chars: chars })
        }
    }
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, engine, corpus, index_dir, queries] = args.as_slice() else {
        return Err("usage: kb-engines fts5|tantivy CORPUS INDEX_DIR QUERIES_JSON".into());
    };
    let root = PathBuf::from(corpus);
    let dir = PathBuf::from(index_dir);
    std::fs::create_dir_all(&dir)?;
    let queries: BTreeMap<String, Vec<String>> = serde_json::from_str(queries)?;
    let files = notes(&root);
    let mut e: Box<dyn Engine> = match engine.as_str() {
        "fts5" => Box::new(Fts5::open(&dir)?),
        #[cfg(feature = "tantivy")]
        "tantivy" => Box::new(tv::Tantivy::open(&dir)?),
        other => return Err(format!("unknown engine {other}").into()),
    };
    let t = Instant::now();
    e.index(&root, &files)?;
    let index_s = t.elapsed().as_secs_f64();
    let index_rss = peak_rss_kb();
    let mut out = serde_json::Map::new();
    for (kind, qs) in &queries {
        // One warm-up pass (page cache, statement cache), then the timed passes.
        for q in qs {
            e.search(q)?;
        }
        let mut ms = Vec::new();
        let (mut totals, mut agents, mut chars) = (0, 0, 0);
        for _ in 0..5 {
            for q in qs {
                let t = Instant::now();
                let a = e.search(q)?;
                ms.push(t.elapsed().as_secs_f64() * 1000.0);
                totals += a.total;
                agents += a.agents;
                chars += a.snippet_chars;
            }
        }
        ms.sort_by(f64::total_cmp);
        let pct = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
        let n = ms.len();
        out.insert(
            kind.clone(),
            serde_json::json!({"p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": ms[n - 1],
                "avg_total": totals / n, "avg_agents": agents / n, "avg_snippet_chars": chars / n}),
        );
    }
    let report = serde_json::json!({
        "engine": engine, "files": files.len(), "index_s": index_s, "index_bytes": dir_bytes(&dir),
        "peak_rss_kb_after_index": index_rss, "peak_rss_kb": peak_rss_kb(), "queries": out,
    });
    println!("{report}");
    Ok(())
}
