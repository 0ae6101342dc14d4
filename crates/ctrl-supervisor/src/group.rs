//! Signals to a service's process group, which is how no grandchild is left behind.

use std::time::Duration;

use ctrl_core::config::StopSignal;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// The OS signal for a configured stop signal.
pub fn os_signal(s: StopSignal) -> Signal {
    match s {
        StopSignal::Term => Signal::SIGTERM,
        StopSignal::Int => Signal::SIGINT,
        StopSignal::Hup => Signal::SIGHUP,
        StopSignal::Quit => Signal::SIGQUIT,
        StopSignal::Kill => Signal::SIGKILL,
        StopSignal::Usr1 => Signal::SIGUSR1,
        StopSignal::Usr2 => Signal::SIGUSR2,
    }
}

/// Sends `sig` to every process in group `pgid`; a group already gone is fine.
pub fn signal_group(pgid: u32, sig: Signal) {
    if let Ok(p) = i32::try_from(pgid)
        && p > 1
    {
        let _ = killpg(Pid::from_raw(p), sig);
    }
}

/// Sends `sig` to the strays of `service` (its daemonised descendants, which
/// came to the daemon as subreaper): to each one's group, unless that is the
/// daemon's own, then to the stray alone. Returns the pids signalled, and
/// whether the service had a live stray at all (one scan for both).
pub fn signal_strays(service: &str, sig: Signal, skip: &[u32]) -> (Vec<u32>, bool) {
    let own = nix::unistd::getpgrp().as_raw();
    ctrl_host::children::with_strays_of(service, |strays| {
        let mut sent = Vec::new();
        for s in strays.iter().filter(|s| !skip.contains(&s.pid)) {
            match i32::try_from(s.pgid) {
                Ok(g) if g > 1 && g != own => signal_group(s.pgid, sig),
                _ => {
                    let _ = nix::sys::signal::kill(Pid::from_raw(s.pid as i32), sig);
                }
            }
            sent.push(s.pid);
        }
        (sent, !strays.is_empty())
    })
}

/// Whether `service` has a live stray.
pub fn strays_alive(service: &str) -> bool {
    ctrl_host::children::with_strays_of(service, |strays| !strays.is_empty())
}

/// Whether any process of group `pgid` is still alive (zombies excluded).
pub fn group_alive(pgid: u32) -> bool {
    match i32::try_from(pgid) {
        // killpg answers "gone" cheaply; "alive" may mean zombies left for a slow
        // (or absent) init to reap, so that answer is checked in /proc.
        Ok(p) if p > 1 => killpg(Pid::from_raw(p), None).is_ok() && ctrl_host::group_has_live_member(pgid),
        _ => false,
    }
}

/// A deadline `d` from now that cannot overflow.
pub fn deadline_after(d: Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(d).unwrap_or_else(|| now + crate::MAX_WAIT)
}

/// A pidfd for a process we did not spawn: readable once it exits.
#[allow(unsafe_code)] // pidfd_open has no safe wrapper (SAFETY below)
pub fn pidfd(pid: u32) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the fd was just returned to us and nothing else owns it.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

/// Kills what is left of a process group when dropped (exec probes cut short).
pub struct GroupGuard(pub u32);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        signal_group(self.0, Signal::SIGKILL);
    }
}

/// The name of the signal that ended a process (`SIGKILL`), from its wait status.
pub fn signal_name(sig: i32) -> String {
    Signal::try_from(sig).map(|s| s.as_str().to_owned()).unwrap_or_else(|_| format!("signal {sig}"))
}

/// Makes sure nothing of group `pgid` survives: `sig`, then SIGKILL after `grace`.
///
/// Used in the background after a crash, where the leader is gone but helpers
/// it started may still hold ports or files.
pub async fn reap_group(pgid: u32, sig: Signal, grace: Duration) {
    if !group_alive(pgid) {
        return;
    }
    signal_group(pgid, sig);
    if !wait_group_gone(pgid, deadline_after(grace)).await {
        signal_group(pgid, Signal::SIGKILL);
    }
}

/// Waits until group `pgid` has no live member, or `until`; true when it is gone.
///
/// Polls from every 10 ms up to every 200 ms: while a group lives, each check
/// is a scan of /proc, so a long stop must not keep a core busy.
pub async fn wait_group_gone(pgid: u32, until: tokio::time::Instant) -> bool {
    let mut every = Duration::from_millis(10);
    loop {
        if !group_alive(pgid) {
            return true;
        }
        let now = tokio::time::Instant::now();
        if now >= until {
            return false;
        }
        tokio::time::sleep(every.min(until - now)).await;
        every = (every * 2).min(Duration::from_millis(200));
    }
}
