//! `agents` and `knowledge_files`: what the knowledge base's scans found.
//!
//! A scan first reserves a row for each new or changed file (its `sha256` set to
//! NULL: not indexed), then writes the search index, then saves the rows whole.
//! A crash in between leaves NULL rows, which the next scan reads again; a saved
//! row is therefore always in the index. Writes go in statements of many rows,
//! so a cold scan of thousands of files is a few round trips, not thousands.

use std::collections::HashMap;

use chrono::{DateTime, TimeZone, Utc};
use ctrl_proto::{AgentInfo, KnowledgeFile};

use crate::db::{self, Arg, Row};
use crate::{Store, StoreError};

/// Rows per multi-row statement (16 arguments each stays far under both backends' limits).
const CHUNK: usize = 200;

/// What a scan compares a file on disk with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KbFileState {
    /// The row's id.
    pub id: i64,
    /// The root it is under (canonical path).
    pub root: String,
    /// Its path under the root.
    pub file_path: String,
    /// Its agent's name.
    pub agent: Option<String>,
    /// Size at the last reading.
    pub bytes: Option<i64>,
    /// Modification time at the last reading, ns.
    pub mtime_ns: Option<i64>,
    /// Content hash at the last reading; `None` when not indexed yet.
    pub sha256: Option<String>,
}

/// A file as a scan saves it.
#[derive(Debug, Clone, PartialEq)]
pub struct KbFileWrite {
    /// The reserved row.
    pub id: i64,
    /// Its root (as reserved).
    pub root: String,
    /// Its path under the root (as reserved).
    pub file_path: String,
    /// Its agent's name.
    pub agent: Option<String>,
    /// Its title.
    pub title: String,
    /// Its own category.
    pub category: Option<String>,
    /// 0 to 1.
    pub confidence: Option<f64>,
    /// A creator id.
    pub creator: Option<String>,
    /// Its tags.
    pub tags: Vec<String>,
    /// Its front matter, JSON.
    pub front_matter: String,
    /// Its size.
    pub bytes: i64,
    /// Its modification time, ns.
    pub mtime_ns: i64,
    /// Its content hash (none for a file too large to read).
    pub sha256: Option<String>,
    /// What was wrong with it.
    pub problem: Option<String>,
}

/// An agent as a scan found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KbAgent {
    /// Its name.
    pub name: String,
    /// From its `_agent.yaml`.
    pub level: Option<String>,
    /// From its `_agent.yaml`.
    pub category: Option<String>,
}

/// Which files to list.
#[derive(Debug, Clone, Default)]
pub struct KbFilter {
    /// Of this agent.
    pub agent: Option<String>,
    /// Of this category (the file's own, else its agent's).
    pub category: Option<String>,
    /// By this creator.
    pub creator: Option<String>,
    /// With this tag.
    pub tag: Option<String>,
}

const FILE_COLUMNS: &str = "f.id, a.name AS agent, f.file_path, f.title, COALESCE(f.category, a.category) AS category, \
     f.confidence, f.creator, f.tags, f.bytes, f.mtime_ns, f.sha256, f.problem, f.created_at, f.updated_at";

fn file_of(r: &Row) -> Result<KnowledgeFile, StoreError> {
    let tags: String = r.get("tags")?;
    let created: DateTime<Utc> = r.get("created_at")?;
    let mtime_ns: Option<i64> = r.get("mtime_ns")?;
    Ok(KnowledgeFile {
        id: r.get("id")?,
        agent: r.get("agent")?,
        file_path: r.get("file_path")?,
        title: r.get("title")?,
        category: r.get("category")?,
        confidence: r.get("confidence")?,
        creator: r.get("creator")?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        bytes: r.get::<Option<i64>>("bytes")?.unwrap_or(0).max(0) as u64,
        mtime: mtime_ns.map(|ns| Utc.timestamp_nanos(ns)),
        // "": listed by its metadata only, never hashed.
        sha256: r.get::<Option<String>>("sha256")?.filter(|s| !s.is_empty()),
        problem: r.get("problem")?,
        created_at: created,
        updated_at: r.get::<Option<DateTime<Utc>>>("updated_at")?.unwrap_or(created),
    })
}

const STATE_SQL: &str = "SELECT f.id, f.root, f.file_path, a.name AS agent, f.bytes, f.mtime_ns, f.sha256 \
     FROM knowledge_files f LEFT JOIN agents a ON a.id = f.agent_id";

fn state_of(r: &Row) -> Result<KbFileState, StoreError> {
    Ok(KbFileState {
        id: r.get("id")?,
        root: r.get("root")?,
        file_path: r.get("file_path")?,
        agent: r.get("agent")?,
        bytes: r.get("bytes")?,
        mtime_ns: r.get("mtime_ns")?,
        sha256: r.get("sha256")?,
    })
}

/// `text` inside a LIKE pattern, its wildcards escaped with `\`.
fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// A LIKE pattern matching `needle` anywhere.
fn contains(needle: &str) -> String {
    format!("%{}%", escape_like(needle))
}

impl Store {
    /// Every file row, for a scan to compare with the disk.
    pub async fn kb_file_states(&self) -> Result<Vec<KbFileState>, StoreError> {
        let rows = db::query(STATE_SQL).fetch_all(&self.pool).await?;
        rows.iter().map(state_of).collect()
    }

    /// The row of one file, if it has one.
    pub async fn kb_file_state(
        &self,
        root: &str,
        file_path: &str,
    ) -> Result<Option<KbFileState>, StoreError> {
        let row = db::query(format!("{STATE_SQL} WHERE f.root = $1 AND f.file_path = $2"))
            .bind(root)
            .bind(file_path)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(state_of).transpose()
    }

    /// Whether any file is known under the folder `dir` of `root` (a folder that
    /// vanished from the tree had files only if so).
    pub async fn kb_has_folder(&self, root: &str, dir: &str) -> Result<bool, StoreError> {
        let row = db::query(
            "SELECT 1 AS x FROM knowledge_files WHERE root = $1 AND file_path LIKE $2 ESCAPE '\\' LIMIT 1",
        )
        .bind(root)
        .bind(format!("{}/%", escape_like(dir)))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Reserves a row for each `(root, file_path)`, marked not indexed; answers their ids in order.
    pub async fn kb_reserve(&self, files: &[(String, String)]) -> Result<Vec<i64>, StoreError> {
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        let mut ids: HashMap<(String, String), i64> = HashMap::with_capacity(files.len());
        for chunk in files.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO knowledge_files (root, file_path, created_at) VALUES {}
                 ON CONFLICT (root, file_path) DO UPDATE SET sha256 = NULL
                 RETURNING id, root, file_path",
                db::placeholders(chunk.len(), 3)
            );
            let mut q = db::query(sql);
            for (root, path) in chunk {
                q = q.bind(root).bind(path).bind(now);
            }
            for r in q.fetch_all(&mut tx).await? {
                ids.insert((r.get("root")?, r.get("file_path")?), r.get("id")?);
            }
        }
        tx.commit().await?;
        Ok(files.iter().map(|k| ids.get(k).copied().unwrap_or(0)).collect())
    }

    /// Makes the agents exist; with `update`, known ones take these levels and
    /// categories too. Answers every agent's id by name.
    pub async fn kb_agents_sync(
        &self,
        agents: &[KbAgent],
        update: bool,
    ) -> Result<HashMap<String, i64>, StoreError> {
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        for chunk in agents.chunks(CHUNK) {
            let on_conflict = if update {
                "DO UPDATE SET level = excluded.level, category = excluded.category"
            } else {
                "DO NOTHING"
            };
            let sql = format!(
                "INSERT INTO agents (name, level, category, created_at) VALUES {} ON CONFLICT (name) {on_conflict}",
                db::placeholders(chunk.len(), 4)
            );
            let mut q = db::query(sql);
            for a in chunk {
                q = q.bind(&a.name).bind(&a.level).bind(&a.category).bind(now);
            }
            q.execute(&mut tx).await?;
        }
        let rows = db::query("SELECT id, name FROM agents").fetch_all(&mut tx).await?;
        tx.commit().await?;
        rows.iter().map(|r| Ok((r.get("name")?, r.get("id")?))).collect()
    }

    /// Saves files read by a scan (their rows reserved), now indexed.
    pub async fn kb_save(
        &self,
        files: &[KbFileWrite],
        agents: &HashMap<String, i64>,
    ) -> Result<(), StoreError> {
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        for chunk in files.chunks(CHUNK) {
            // An upsert on the id: one statement updates many rows on both backends.
            let sql = format!(
                "INSERT INTO knowledge_files (id, agent_id, title, category, confidence, creator, tags,
                     front_matter, bytes, mtime_ns, sha256, problem, updated_at, root, file_path, created_at) VALUES {}
                 ON CONFLICT (id) DO UPDATE SET agent_id = excluded.agent_id, title = excluded.title,
                     category = excluded.category, confidence = excluded.confidence, creator = excluded.creator,
                     tags = excluded.tags, front_matter = excluded.front_matter, bytes = excluded.bytes,
                     mtime_ns = excluded.mtime_ns, sha256 = excluded.sha256, problem = excluded.problem,
                     updated_at = excluded.updated_at",
                db::placeholders(chunk.len(), 16)
            );
            let mut q = db::query(sql);
            for f in chunk {
                let agent_id = f.agent.as_ref().and_then(|a| agents.get(a)).copied();
                q = q
                    .bind(f.id)
                    .bind(agent_id)
                    .bind(&f.title)
                    .bind(&f.category)
                    .bind(f.confidence)
                    .bind(&f.creator)
                    .bind(serde_json::to_string(&f.tags).unwrap_or_else(|_| "[]".into()))
                    .bind(&f.front_matter)
                    .bind(f.bytes)
                    .bind(f.mtime_ns)
                    .bind(&f.sha256)
                    .bind(&f.problem)
                    .bind(now)
                    // As reserved: the row exists, so only the update applies.
                    .bind(&f.root)
                    .bind(&f.file_path)
                    .bind(now);
            }
            q.execute(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records a new size and mtime (`(id, bytes, mtime_ns)`) for files whose content did not change.
    pub async fn kb_touch(&self, files: &[(i64, i64, i64)]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for (id, bytes, mtime_ns) in files {
            db::query("UPDATE knowledge_files SET bytes = $2, mtime_ns = $3 WHERE id = $1")
                .bind(*id)
                .bind(*bytes)
                .bind(*mtime_ns)
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await
    }

    /// Forgets files, and agents left with no file and no `_agent.yaml` (not in `keep`).
    pub async fn kb_remove(&self, ids: &[i64], keep_agents: &[String]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for chunk in ids.chunks(CHUNK) {
            let list = (1..=chunk.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
            let mut q = db::query(format!("DELETE FROM knowledge_files WHERE id IN ({list})"));
            for id in chunk {
                q = q.bind(*id);
            }
            q.execute(&mut tx).await?;
        }
        let mut orphans = String::from(
            "DELETE FROM agents WHERE NOT EXISTS (SELECT 1 FROM knowledge_files f WHERE f.agent_id = agents.id)",
        );
        if !keep_agents.is_empty() {
            let list = (1..=keep_agents.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
            orphans.push_str(&format!(" AND name NOT IN ({list})"));
        }
        let mut q = db::query(orphans);
        for name in keep_agents {
            q = q.bind(name);
        }
        q.execute(&mut tx).await?;
        tx.commit().await
    }

    /// Every agent with its file count, by name.
    pub async fn kb_agents(&self) -> Result<Vec<AgentInfo>, StoreError> {
        let rows = db::query(
            "SELECT a.id, a.name, a.level, a.category, a.created_at, COUNT(f.id) AS files
             FROM agents a LEFT JOIN knowledge_files f ON f.agent_id = a.id AND f.sha256 IS NOT NULL
             GROUP BY a.id, a.name, a.level, a.category, a.created_at ORDER BY a.name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AgentInfo {
                    id: r.get("id")?,
                    name: r.get("name")?,
                    level: r.get("level")?,
                    category: r.get("category")?,
                    files: r.get::<i64>("files")?.max(0) as u64,
                    created_at: r.get("created_at")?,
                })
            })
            .collect()
    }

    /// A page of files matching `filter`, by path, and how many match in all.
    pub async fn kb_files(
        &self,
        filter: &KbFilter,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<KnowledgeFile>, u64), StoreError> {
        let mut clauses = Vec::new();
        let mut args: Vec<Arg> = Vec::new();
        let mut add = |clause: &str, v: String| {
            args.push(v.into());
            clauses.push(clause.replace('?', &format!("${}", args.len())));
        };
        if let Some(a) = &filter.agent {
            add("a.name = ?", a.clone());
        }
        if let Some(c) = &filter.category {
            add("COALESCE(f.category, a.category) = ?", c.clone());
        }
        if let Some(c) = &filter.creator {
            add("f.creator = ?", c.clone());
        }
        if let Some(t) = &filter.tag {
            // Tags are stored lowercase (by the scan); the filter matches in any case.
            let lower: String = t.chars().flat_map(char::to_lowercase).collect();
            let quoted = serde_json::to_string(&lower).unwrap_or_default();
            add("f.tags LIKE ? ESCAPE '\\'", contains(&quoted));
        }
        // Rows reserved by a scan that has not saved them yet are not files yet.
        clauses.push("f.sha256 IS NOT NULL".into());
        let filter_sql = format!("WHERE {}", clauses.join(" AND "));
        let from = format!("FROM knowledge_files f LEFT JOIN agents a ON a.id = f.agent_id {filter_sql}");
        let mut count = db::query(format!("SELECT COUNT(*) AS n {from}"));
        for a in &args {
            count = count.bind(a.clone());
        }
        let total: i64 = count.fetch_one(&self.pool).await?.get("n")?;
        let n = args.len();
        let mut page = db::query(format!(
            "SELECT {FILE_COLUMNS} {from} ORDER BY f.root, f.file_path LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        ));
        for a in args {
            page = page.bind(a);
        }
        let rows = page
            .bind(i64::from(limit))
            .bind(offset.min(i64::MAX as u64) as i64)
            .fetch_all(&self.pool)
            .await?;
        Ok((rows.iter().map(file_of).collect::<Result<_, _>>()?, total.max(0) as u64))
    }

    /// One file, with the root it is under and its front matter (JSON).
    pub async fn kb_file(&self, id: i64) -> Result<Option<(KnowledgeFile, String, String)>, StoreError> {
        let row = db::query(format!(
            "SELECT {FILE_COLUMNS}, f.root, f.front_matter
             FROM knowledge_files f LEFT JOIN agents a ON a.id = f.agent_id WHERE f.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((file_of(&r)?, r.get("root")?, r.get("front_matter")?))).transpose()
    }

    /// Files and their bytes in all, and agents.
    pub async fn kb_totals(&self) -> Result<(u64, u64, u64), StoreError> {
        let r = db::query(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(bytes), 0) AS BIGINT) AS b,
                 (SELECT COUNT(*) FROM agents) AS agents
             FROM knowledge_files WHERE sha256 IS NOT NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        let count = |c: &str| -> Result<u64, StoreError> { Ok(r.get::<i64>(c)?.max(0) as u64) };
        Ok((count("n")?, count("b")?, count("agents")?))
    }

    /// Files per creator id.
    pub async fn kb_creator_counts(&self) -> Result<HashMap<String, u64>, StoreError> {
        let rows = db::query(
            "SELECT creator, COUNT(*) AS n FROM knowledge_files WHERE creator IS NOT NULL AND sha256 IS NOT NULL GROUP BY creator",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.get("creator")?, r.get::<i64>("n")?.max(0) as u64))).collect()
    }

    /// Whether an agent of that name is known.
    pub async fn kb_agent_exists(&self, name: &str) -> Result<bool, StoreError> {
        let row = db::query("SELECT 1 AS x FROM agents WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(contains("a_b%c\\"), "%a\\_b\\%c\\\\%");
    }
}
