//! Process identity: a pid alone can be reused, a pid with its start time cannot.

/// A process as the kernel knows it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessIdentity {
    /// Process id.
    pub pid: u32,
    /// Start time in clock ticks since boot (`/proc/PID/stat` field 22).
    pub start_ticks: u64,
    /// Process group id.
    pub pgid: u32,
}

/// Reads the identity of `pid`, or `None` if it does not exist (or is a zombie).
pub fn process_identity(pid: u32) -> Option<ProcessIdentity> {
    let stat = procfs::process::Process::new(i32::try_from(pid).ok()?).ok()?.stat().ok()?;
    if stat.state == 'Z' {
        return None;
    }
    Some(ProcessIdentity { pid, start_ticks: stat.starttime, pgid: u32::try_from(stat.pgrp).ok()? })
}

/// Whether any process of group `pgid` is alive (zombies do not count: a zombie
/// re-parented to a daemon that is PID 1 would otherwise keep a group "alive").
pub fn group_has_live_member(pgid: u32) -> bool {
    // Unreadable /proc: say alive rather than let a group escape its stop.
    let Ok(all) = procfs::process::all_processes() else { return true };
    all.flatten().filter_map(|p| p.stat().ok()).any(|s| s.pgrp as i64 == i64::from(pgid) && s.state != 'Z')
}
