//! The LLM gateway's tables: `api_usage` per day, service, model and key;
//! `llm_keys`; `llm_interactions`.

use chrono::{DateTime, Utc};
use ctrl_proto::{Attempt, Interaction, LlmKeyInfo, UsageRow};

use crate::db::{self, Row};
use crate::{Store, StoreError};

/// Usage to add to one `api_usage` row (the gateway sums calls before writing).
#[derive(Debug, Clone, PartialEq)]
pub struct UsageDelta {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    /// Who called.
    pub service: String,
    /// The model asked for.
    pub model: String,
    /// The LLM key, if any.
    pub key_id: Option<i64>,
    /// Calls.
    pub calls: u64,
    /// Of which from the cache.
    pub cached: u64,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Cost.
    pub cost: f64,
    /// Calls whose tokens were estimated.
    pub estimated: u64,
}

/// How `api_usage` is summed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageGroup {
    /// Per day.
    Day,
    /// Per model.
    Model,
    /// Per LLM key.
    Key,
    /// Per service (a key's name or a caller).
    Service,
}

/// An LLM key as stored: its public part and the hash of its secret.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmKeyRow {
    /// What clients see (`spent` is filled by the gateway).
    pub info: LlmKeyInfo,
    /// SHA-256 of the secret.
    pub hash: String,
}

/// One interaction to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewInteraction {
    /// When the call came in.
    pub at: DateTime<Utc>,
    /// Which route.
    pub endpoint: &'static str,
    /// The model asked for.
    pub model: String,
    /// The upstream that answered.
    pub upstream: Option<String>,
    /// Who called.
    pub service: String,
    /// The LLM key, if any.
    pub key_id: Option<i64>,
    /// Streamed or not.
    pub stream: bool,
    /// The request's JSON (none when prompts are not logged).
    pub request: Option<String>,
    /// The answer's JSON (none as the request).
    pub response: Option<String>,
    /// The status the client got.
    pub status: u16,
    /// Milliseconds to the end of the answer.
    pub processing_ms: f64,
    /// Milliseconds to its first byte.
    pub ttfb_ms: Option<f64>,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Cost.
    pub cost: f64,
    /// From the cache.
    pub cached: bool,
    /// Tokens counted here.
    pub estimated: bool,
    /// What went wrong.
    pub error: Option<String>,
    /// Every upstream tried.
    pub attempts: Vec<Attempt>,
}

/// Which interactions to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct InteractionFilter {
    /// At most this many.
    pub limit: u32,
    /// Only ids below this (the next page).
    pub before: Option<i64>,
    /// Only this model.
    pub model: Option<String>,
    /// Only this LLM key.
    pub key: Option<i64>,
    /// Only those whose request, answer or error contains this (any case, ASCII).
    pub q: Option<String>,
}

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
fn count(r: &Row, col: &str) -> Result<u64, StoreError> {
    Ok(u64::try_from(r.get::<i64>(col)?).unwrap_or(0))
}

fn key_of(r: &Row) -> Result<LlmKeyRow, StoreError> {
    let models: String = r.get("models")?;
    Ok(LlmKeyRow {
        info: LlmKeyInfo {
            id: r.get("id")?,
            name: r.get("name")?,
            prefix: r.get("prefix")?,
            models: serde_json::from_str(&models).unwrap_or_default(),
            budget: r.get("budget")?,
            spent: 0.0,
            period: r.get("period")?,
            created_at: r.get("created_at")?,
            revoked_at: r.get("revoked_at")?,
        },
        hash: r.get("hash")?,
    })
}

fn interaction_of(r: &Row, whole: bool) -> Result<Interaction, StoreError> {
    let json = |col: &str| -> Result<Option<serde_json::Value>, StoreError> {
        if !whole {
            return Ok(None);
        }
        let text: Option<String> = r.get(col)?;
        Ok(text.map(|t| serde_json::from_str(&t).unwrap_or(serde_json::Value::String(t))))
    };
    let attempts: String = r.get("attempts")?;
    Ok(Interaction {
        id: r.get("id")?,
        at: r.get("at")?,
        endpoint: r.get("endpoint")?,
        model: r.get("model")?,
        upstream: r.get("upstream")?,
        service: r.get("service")?,
        key: r.get("key_id")?,
        stream: r.get("stream")?,
        request: json("request")?,
        response: json("response")?,
        status: u16::try_from(r.get::<i32>("status")?).unwrap_or(0),
        processing_ms: r.get("processing_ms")?,
        ttfb_ms: r.get("ttfb_ms")?,
        prompt_tokens: count(r, "prompt_tokens")?,
        completion_tokens: count(r, "completion_tokens")?,
        cost: r.get("cost")?,
        cached: r.get("cached")?,
        estimated: r.get("estimated")?,
        error: r.get("error")?,
        attempts: serde_json::from_str(&attempts).unwrap_or_default(),
    })
}

/// Columns of a listed interaction: everything but the bodies.
const LISTED: &str = "id, at, endpoint, model, upstream, service, key_id, stream, status, processing_ms, \
    ttfb_ms, prompt_tokens, completion_tokens, cost, cached, estimated, error, attempts";

impl Store {
    /// Adds usage to its rows, making the rows that do not exist yet, in one transaction.
    pub async fn llm_usage_add(&self, deltas: &[UsageDelta]) -> Result<(), StoreError> {
        // Both statements take the group as $1-$4 and the amounts as $5-$10.
        fn bound<'s>(q: db::Query<'s>, d: &UsageDelta) -> db::Query<'s> {
            q.bind(&d.date)
                .bind(&d.service)
                .bind(&d.model)
                .bind(d.key_id)
                .bind(int(d.calls))
                .bind(int(d.cached))
                .bind(int(d.prompt_tokens))
                .bind(int(d.completion_tokens))
                .bind(d.cost)
                .bind(int(d.estimated))
        }
        let mut tx = self.pool.begin().await?;
        for d in deltas {
            let update = db::query(
                "UPDATE api_usage SET calls = calls + $5, cached = cached + $6, prompt_tokens = prompt_tokens + $7, \
                 completion_tokens = completion_tokens + $8, cost = cost + $9, estimated = estimated + $10 \
                 WHERE date = $1 AND service = $2 AND model = $3 AND key_id IS NOT DISTINCT FROM $4",
            );
            if bound(update, d).execute(&mut tx).await? == 0 {
                let insert = db::query(
                    "INSERT INTO api_usage (date, service, model, key_id, calls, cached, prompt_tokens, \
                     completion_tokens, cost, estimated) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                );
                bound(insert, d).execute(&mut tx).await?;
            }
        }
        tx.commit().await
    }

    /// Usage between two days (inclusive, `YYYY-MM-DD`), summed per group, in the group's order.
    pub async fn llm_usage(
        &self,
        from: &str,
        to: &str,
        group: UsageGroup,
    ) -> Result<Vec<UsageRow>, StoreError> {
        let column = match group {
            UsageGroup::Day => "date",
            UsageGroup::Model => "model",
            UsageGroup::Key => "key_id",
            UsageGroup::Service => "service",
        };
        let sql = format!(
            "SELECT {column} AS g, CAST(SUM(calls) AS BIGINT) AS calls, CAST(SUM(cached) AS BIGINT) AS cached, \
             CAST(SUM(prompt_tokens) AS BIGINT) AS prompt_tokens, \
             CAST(SUM(completion_tokens) AS BIGINT) AS completion_tokens, \
             COALESCE(SUM(cost), 0.0) AS cost, CAST(SUM(estimated) AS BIGINT) AS estimated \
             FROM api_usage WHERE date >= $1 AND date <= $2 GROUP BY {column} ORDER BY {column}"
        );
        let rows = db::query(sql).bind(from).bind(to).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let mut row = UsageRow {
                    date: None,
                    service: None,
                    model: None,
                    key: None,
                    calls: count(r, "calls")?,
                    cached: count(r, "cached")?,
                    prompt_tokens: count(r, "prompt_tokens")?,
                    completion_tokens: count(r, "completion_tokens")?,
                    cost: r.get("cost")?,
                    estimated: count(r, "estimated")?,
                };
                match group {
                    UsageGroup::Day => row.date = r.get("g")?,
                    UsageGroup::Model => row.model = r.get("g")?,
                    UsageGroup::Key => row.key = r.get("g")?,
                    UsageGroup::Service => row.service = r.get("g")?,
                }
                Ok(row)
            })
            .collect()
    }

    /// What a key has spent since a day (`YYYY-MM-DD`, inclusive).
    pub async fn llm_key_spent(&self, key_id: i64, since: &str) -> Result<f64, StoreError> {
        db::query("SELECT COALESCE(SUM(cost), 0.0) AS spent FROM api_usage WHERE key_id = $1 AND date >= $2")
            .bind(key_id)
            .bind(since)
            .fetch_one(&self.pool)
            .await?
            .get("spent")
    }

    /// Every LLM key, revoked ones too, oldest first.
    pub async fn llm_keys(&self) -> Result<Vec<LlmKeyRow>, StoreError> {
        let rows = db::query("SELECT * FROM llm_keys ORDER BY id").fetch_all(&self.pool).await?;
        rows.iter().map(key_of).collect()
    }

    /// Stores a new key; `None` when a live key already has this name.
    pub async fn llm_key_add(
        &self,
        name: &str,
        hash: &str,
        prefix: &str,
        models: &[String],
        budget: Option<f64>,
        period: &str,
    ) -> Result<Option<LlmKeyRow>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let taken = db::query("SELECT id FROM llm_keys WHERE name = $1 AND revoked_at IS NULL")
            .bind(name)
            .fetch_optional(&mut tx)
            .await?;
        if taken.is_some() {
            return Ok(None);
        }
        let row = db::query(
            "INSERT INTO llm_keys (name, hash, prefix, models, budget, period, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
        )
        .bind(name)
        .bind(hash)
        .bind(prefix)
        .bind(serde_json::to_string(models).unwrap_or_else(|_| "[]".into()))
        .bind(budget)
        .bind(period)
        .bind(Utc::now())
        .fetch_one(&mut tx)
        .await?;
        let key = key_of(&row)?;
        tx.commit().await?;
        Ok(Some(key))
    }

    /// Revokes a live key; `None` when there is no such live key.
    pub async fn llm_key_revoke(&self, id: i64) -> Result<Option<LlmKeyRow>, StoreError> {
        let row =
            db::query("UPDATE llm_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING *")
                .bind(id)
                .bind(Utc::now())
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(key_of).transpose()
    }

    /// Records interactions, in one transaction of statements of 16 rows each.
    ///
    /// Not one statement for them all: SQLite finds each of a statement's numbered
    /// parameters by a linear search, so a statement of 512 rows (9,728 parameters)
    /// cost a sixth of the daemon's CPU under load (measured with perf).
    pub async fn llm_interactions_add(&self, rows: &[NewInteraction]) -> Result<(), StoreError> {
        const WIDTH: usize = 19;
        let mut tx = self.pool.begin().await?;
        for chunk in rows.chunks(16) {
            let sql = format!(
                "INSERT INTO llm_interactions (at, endpoint, model, upstream, service, key_id, stream, request, \
                 response, status, processing_ms, ttfb_ms, prompt_tokens, completion_tokens, cost, cached, \
                 estimated, error, attempts) VALUES {}",
                db::placeholders(chunk.len(), WIDTH)
            );
            let mut q = db::query(sql);
            for i in chunk {
                q = q
                    .bind(i.at)
                    .bind(i.endpoint)
                    .bind(&i.model)
                    .bind(&i.upstream)
                    .bind(&i.service)
                    .bind(i.key_id)
                    .bind(i.stream)
                    .bind(&i.request)
                    .bind(&i.response)
                    .bind(i32::from(i.status))
                    .bind(i.processing_ms)
                    .bind(i.ttfb_ms)
                    .bind(int(i.prompt_tokens))
                    .bind(int(i.completion_tokens))
                    .bind(i.cost)
                    .bind(i.cached)
                    .bind(i.estimated)
                    .bind(&i.error)
                    .bind(serde_json::to_string(&i.attempts).unwrap_or_else(|_| "[]".into()));
            }
            q.execute(&mut tx).await?;
        }
        tx.commit().await
    }

    /// Interactions, newest first, without their bodies.
    pub async fn llm_interactions(&self, f: &InteractionFilter) -> Result<Vec<Interaction>, StoreError> {
        let mut sql = format!("SELECT {LISTED} FROM llm_interactions WHERE 1 = 1");
        let mut q = Vec::new();
        if let Some(b) = f.before {
            q.push(db::Arg::from(b));
            sql += &format!(" AND id < ${}", q.len());
        }
        if let Some(m) = &f.model {
            q.push(db::Arg::from(m));
            sql += &format!(" AND model = ${}", q.len());
        }
        if let Some(k) = f.key {
            q.push(db::Arg::from(k));
            sql += &format!(" AND key_id = ${}", q.len());
        }
        if let Some(text) = f.q.as_deref().filter(|t| !t.is_empty()) {
            let escaped = text.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            q.push(db::Arg::from(format!("%{escaped}%")));
            let n = q.len();
            sql += &format!(
                " AND (LOWER(COALESCE(request, '')) LIKE ${n} ESCAPE '\\' \
                 OR LOWER(COALESCE(response, '')) LIKE ${n} ESCAPE '\\' \
                 OR LOWER(COALESCE(error, '')) LIKE ${n} ESCAPE '\\' OR LOWER(model) LIKE ${n} ESCAPE '\\')"
            );
        }
        q.push(db::Arg::from(i64::from(f.limit)));
        sql += &format!(" ORDER BY id DESC LIMIT ${}", q.len());
        let mut query = db::query(sql);
        for a in q {
            query = query.bind(a);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(|r| interaction_of(r, false)).collect()
    }

    /// One interaction with its request and answer.
    pub async fn llm_interaction(&self, id: i64) -> Result<Option<Interaction>, StoreError> {
        let row = db::query("SELECT * FROM llm_interactions WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|r| interaction_of(r, true)).transpose()
    }

    /// Deletes at most `limit` interactions older than `before`, oldest first; returns
    /// how many (the caller repeats until fewer than `limit` go).
    pub async fn llm_interactions_prune(&self, before: DateTime<Utc>, limit: u64) -> Result<u64, StoreError> {
        db::query(
            "DELETE FROM llm_interactions WHERE id IN \
             (SELECT id FROM llm_interactions WHERE at < $1 ORDER BY at LIMIT $2)",
        )
        .bind(before)
        .bind(int(limit))
        .execute(&self.pool)
        .await
    }
}
