//! The knowledge base's routes (`/api/knowledge/…`).

use ctrl_proto::{AgentInfo, Creator, CreatorDetail, FileDetail, FilePage, JobInfo, KbStats, SearchAnswer};
use hyper::Method;

use crate::{Client, Error, segment};

/// A search (`GET /api/knowledge/search`).
#[derive(Debug, Clone, Default)]
pub struct KbSearch {
    /// The query text.
    pub q: String,
    /// Only this agent.
    pub agent: Option<String>,
    /// Only this category.
    pub category: Option<String>,
    /// Only this creator id.
    pub creator: Option<String>,
    /// Only this tag.
    pub tag: Option<String>,
    /// Hits answered.
    pub limit: Option<u32>,
}

/// Which files to list (`GET /api/knowledge/files`).
#[derive(Debug, Clone, Default)]
pub struct KbFiles {
    /// Of this agent.
    pub agent: Option<String>,
    /// Of this category.
    pub category: Option<String>,
    /// By this creator.
    pub creator: Option<String>,
    /// With this tag.
    pub tag: Option<String>,
    /// How many.
    pub limit: Option<u32>,
    /// How many to skip.
    pub offset: Option<u64>,
}

impl Client {
    /// `GET /api/knowledge/stats`.
    pub async fn kb_stats(&self) -> Result<KbStats, Error> {
        self.get("/api/knowledge/stats").await
    }

    /// `GET /api/knowledge/agents`.
    pub async fn kb_agents(&self) -> Result<Vec<AgentInfo>, Error> {
        self.get("/api/knowledge/agents").await
    }

    /// `GET /api/knowledge/agents/{name}/files`.
    pub async fn kb_agent_files(
        &self,
        name: &str,
        limit: Option<u32>,
        offset: Option<u64>,
    ) -> Result<FilePage, Error> {
        let q = crate::api::query(&[
            ("limit", limit.map(|n| n.to_string())),
            ("offset", offset.map(|n| n.to_string())),
        ]);
        self.get(&format!("/api/knowledge/agents/{}/files{q}", segment(name))).await
    }

    /// `GET /api/knowledge/files`.
    pub async fn kb_files(&self, f: &KbFiles) -> Result<FilePage, Error> {
        let q = crate::api::query(&[
            ("agent", f.agent.clone()),
            ("category", f.category.clone()),
            ("creator", f.creator.clone()),
            ("tag", f.tag.clone()),
            ("limit", f.limit.map(|n| n.to_string())),
            ("offset", f.offset.map(|n| n.to_string())),
        ]);
        self.get(&format!("/api/knowledge/files{q}")).await
    }

    /// `GET /api/knowledge/files/{id}`.
    pub async fn kb_file(&self, id: i64) -> Result<FileDetail, Error> {
        self.get(&format!("/api/knowledge/files/{id}")).await
    }

    /// `GET /api/knowledge/creators`.
    pub async fn kb_creators(&self) -> Result<Vec<Creator>, Error> {
        self.get("/api/knowledge/creators").await
    }

    /// `GET /api/knowledge/creators/{id}`.
    pub async fn kb_creator(&self, id: &str) -> Result<CreatorDetail, Error> {
        self.get(&format!("/api/knowledge/creators/{}", segment(id))).await
    }

    /// `POST /api/knowledge/scan`: queues a scan.
    pub async fn kb_scan(&self) -> Result<JobInfo, Error> {
        self.call(Method::POST, "/api/knowledge/scan", None::<&()>).await
    }

    /// `POST /api/knowledge/reindex`: rebuilds the search index.
    pub async fn kb_reindex(&self) -> Result<JobInfo, Error> {
        self.call(Method::POST, "/api/knowledge/reindex", None::<&()>).await
    }

    /// `GET /api/knowledge/jobs`: the scans, newest first.
    pub async fn kb_jobs(&self, limit: Option<u32>) -> Result<Vec<JobInfo>, Error> {
        let q = crate::api::query(&[("limit", limit.map(|n| n.to_string()))]);
        self.get(&format!("/api/knowledge/jobs{q}")).await
    }

    /// `GET /api/knowledge/search`.
    pub async fn kb_search(&self, s: &KbSearch) -> Result<SearchAnswer, Error> {
        let q = crate::api::query(&[
            ("q", Some(s.q.clone())),
            ("agent", s.agent.clone()),
            ("category", s.category.clone()),
            ("creator", s.creator.clone()),
            ("tag", s.tag.clone()),
            ("limit", s.limit.map(|n| n.to_string())),
        ]);
        self.get(&format!("/api/knowledge/search{q}")).await
    }
}
