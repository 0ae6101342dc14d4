//! The API contract shared by the daemon, its HTTP API and the CLI.
//!
//! Objects keep the field names of DESIGN.md; the envelope is the seed API's
//! `{"success": true, "data": …}` / `{"success": false, "error": …, "code": …}`.
//! The CLI speaks the same API over the daemon's unix socket.

mod access;
mod agent;
mod alerts;
mod envelope;
mod host;
mod hosts;
mod jobs;
mod knowledge;
mod llm;
mod objects;
mod params;

pub use access::{AuditEntry, Me, TokenInfo, UserInfo};
pub use agent::{
    AgentSession, EventType, NewSession, PostMessage, QueuedMessage, SessionEvent, SessionMessage,
    SessionStatus, VncTargetInfo,
};
pub use alerts::{AlertInfo, AlertRuleInfo, ChannelInfo, Delivery, TestAlert};
pub use envelope::{ApiError, Envelope, ErrorCode, ErrorEnvelope};
pub use host::{
    Cpu, Disk, Gpu, History, Memory, Metric, NetInterface, PortInfo, ProcessInfo, Stats, Swap, Temperature,
};
pub use hosts::{Enrolment, HostEvent, HostInfo, HostStatus, HostSummary, NewHost, ServiceCounts};
pub use jobs::{
    ActionInfo, BackupFile, BackupTarget, JobInfo, JobUpdate, NewSchedule, ParamInfo, RunAction,
    ScheduleChange, ScheduleInfo,
};
pub use knowledge::{
    AgentInfo, Creator, CreatorDetail, FileDetail, FilePage, Heading, Insights, KbStats, KnowledgeFile,
    ScanProblem, ScanResult, SearchAnswer, SearchHit,
};
pub use llm::{
    Attempt, CacheCleared, CreatedLlmKey, Interaction, LlmKeyInfo, NewLlmKey, UpstreamCheck, UpstreamInfo,
    UsageRow,
};
pub use objects::{LogLine, ReloadReport, ServiceChange, ServiceInfo, ServiceUpdate, SseEvent};
pub use params::{EventsQuery, LogStream};
