//! The states of a job.

use serde::{Deserialize, Serialize};

/// Where a job is: `queued -> running -> succeeded | failed | cancelled | timed_out`
/// (a queued job may also be cancelled before it runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for a free slot of its action's concurrency.
    Queued,
    /// Its process (or built-in work) is going.
    Running,
    /// Finished with exit code 0.
    Succeeded,
    /// Finished otherwise: a non-zero exit, a signal, or an error before it could start.
    Failed,
    /// Cancelled by a user, or by the daemon shutting down.
    Cancelled,
    /// Stopped because it ran past its action's timeout.
    TimedOut,
}

impl JobStatus {
    /// Every state, in order.
    pub const ALL: [JobStatus; 6] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Cancelled,
        JobStatus::TimedOut,
    ];

    /// The word used in the API and the `status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
            JobStatus::TimedOut => "timed_out",
        }
    }

    /// Parses the word back.
    pub fn parse(s: &str) -> Option<JobStatus> {
        JobStatus::ALL.into_iter().find(|j| j.as_str() == s)
    }

    /// Whether the job has ended (nothing will change it again).
    pub fn is_final(self) -> bool {
        !matches!(self, JobStatus::Queued | JobStatus::Running)
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_only_queued_and_running_are_live() {
        for s in JobStatus::ALL {
            assert_eq!(JobStatus::parse(s.as_str()), Some(s));
            assert_eq!(s.is_final(), !matches!(s, JobStatus::Queued | JobStatus::Running));
        }
        assert_eq!(JobStatus::parse("done"), None);
    }
}
