//! This daemon's children: the ones it spawned (services, jobs, probes), and
//! strays: processes re-parented to it because it is a child subreaper (or PID 1
//! in a container) after their own parent exited, like a service's daemonising
//! grandchild (double fork, `setsid`).
//!
//! Strays are reaped here when they exit; the spawned ones never are (tokio
//! waits for those, and a reaped pid would lose its exit status). A stray keeps
//! the environment it was started with, so `CTRL_SERVICE`, which every service's
//! process gets, tells whose it is.

use std::collections::BTreeMap;
use std::sync::Mutex;

use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

/// The variable every service's process (and what it starts) carries: its name.
pub const SERVICE_VAR: &str = "CTRL_SERVICE";

/// The children this daemon spawned: pid → start time (a pid reused later is not ours).
static SPAWNED: Mutex<BTreeMap<u32, u64>> = Mutex::new(BTreeMap::new());

/// A child that is not one this daemon spawned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stray {
    /// Its pid.
    pub pid: u32,
    /// Its process group.
    pub pgid: u32,
    /// Exited, waiting to be reaped.
    pub zombie: bool,
    /// The service it came from (`CTRL_SERVICE` in its environment).
    pub service: Option<String>,
}

/// Makes this process the child subreaper of everything it starts: orphans of
/// its descendants come to it, not to init, and stay within its reach.
pub fn become_subreaper() -> nix::Result<()> {
    nix::sys::prctl::set_child_subreaper(true)
}

/// Spawns a child through `spawn` and notes it as this daemon's, with the
/// reaper held off meanwhile: a child that exits at once is still never taken
/// for a stray and reaped before its waiter sees it.
pub fn spawn_noted<C>(
    spawn: impl FnOnce() -> std::io::Result<C>,
    pid: impl Fn(&C) -> Option<u32>,
) -> std::io::Result<C> {
    let mut spawned = SPAWNED.lock().unwrap_or_else(|p| p.into_inner());
    let child = spawn()?;
    // A child already gone has no start time to note: its pid is kept with 0
    // until it is waited for (then it leaves /proc and this list).
    if let Some(p) = pid(&child) {
        spawned.insert(p, start_ticks(p).unwrap_or(0));
    }
    Ok(child)
}

/// The start time noted for `pid` when it was spawned through [`spawn_noted`]
/// (no second read of `/proc`); `None` if it was gone before it could be read.
pub fn noted_start(pid: u32) -> Option<u64> {
    SPAWNED.lock().unwrap_or_else(|p| p.into_inner()).get(&pid).copied().filter(|t| *t != 0)
}

/// Every child of this process now (all its threads'), from `/proc`: each
/// file in one read (read in pieces, it could skip a child that was reaped
/// between them).
fn children() -> Vec<u32> {
    use std::io::Read;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Vec::new() };
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    for task in tasks.flatten() {
        let Ok(mut f) = std::fs::File::open(task.path().join("children")) else { continue };
        let n = f.read(&mut buf).unwrap_or(0);
        let text = String::from_utf8_lossy(buf.get(..n).unwrap_or_default());
        out.extend(text.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The children that this daemon did not spawn.
pub fn strays() -> Vec<Stray> {
    let kids = children();
    let candidates = not_spawned(&kids, &SPAWNED.lock().unwrap_or_else(|p| p.into_inner()));
    candidates.into_iter().filter_map(stray).collect()
}

/// The pids of `kids` not spawned by this daemon (as far as the list knows).
fn not_spawned(kids: &[u32], spawned: &BTreeMap<u32, u64>) -> Vec<u32> {
    kids.iter().copied().filter(|p| !spawned.contains_key(p)).collect()
}

/// Forgets the spawned children that were waited for (gone from /proc) or
/// whose pid another process took. A child in this read of the children lists
/// is kept as it is; one missing from it is checked by its start time (a read
/// can miss a child), so this costs little when nothing changed.
fn forget_gone(spawned: &mut BTreeMap<u32, u64>, kids: &[u32]) {
    spawned.retain(|pid, start| {
        kids.binary_search(pid).is_ok()
            || match start_ticks(*pid) {
                Some(now) => *start == 0 || now == *start,
                None => false,
            }
    });
}

/// A child's group and whether it is a zombie, from its `stat` alone.
fn group_and_zombie(pid: u32) -> Option<(u32, bool)> {
    let stat = procfs::process::Process::new(i32::try_from(pid).ok()?).ok()?.stat().ok()?;
    Some((u32::try_from(stat.pgrp).unwrap_or(0), stat.state == 'Z'))
}

/// A child as a stray: its group, state and service.
fn stray(pid: u32) -> Option<Stray> {
    let (pgid, zombie) = group_and_zombie(pid)?;
    // A zombie has no environment left to read.
    Some(Stray { pid, pgid, zombie, service: if zombie { None } else { service_of(pid) } })
}

/// Reaps the strays that exited; how many. The scan runs unlocked (a spawn is
/// not held up by it); the lock is taken only to check the candidates against
/// the children spawned meanwhile and reap them.
pub fn reap_strays() -> usize {
    let kids = children();
    let candidates = not_spawned(&kids, &SPAWNED.lock().unwrap_or_else(|p| p.into_inner()));
    // Only the state is needed here: no environment is read on this path, which
    // runs at every SIGCHLD.
    let zombies: Vec<u32> =
        candidates.into_iter().filter(|p| group_and_zombie(*p).is_some_and(|(_, z)| z)).collect();
    let mut spawned = SPAWNED.lock().unwrap_or_else(|p| p.into_inner());
    forget_gone(&mut spawned, &kids);
    let mut reaped = 0;
    for pid in zombies.into_iter().filter(|p| !spawned.contains_key(p)) {
        if matches!(waitpid(Pid::from_raw(pid as i32), Some(WaitPidFlag::WNOHANG)), Ok(st) if st.pid().is_some())
        {
            reaped += 1;
        }
    }
    reaped
}

/// Runs `f` on the live strays of `service` with the reaper held off: a stray
/// signalled in `f` cannot be reaped and its pid taken by another process meanwhile.
pub fn with_strays_of<T>(service: &str, f: impl FnOnce(&[Stray]) -> T) -> T {
    let spawned = SPAWNED.lock().unwrap_or_else(|p| p.into_inner());
    let mine: Vec<Stray> = not_spawned(&children(), &spawned)
        .into_iter()
        .filter_map(stray)
        .filter(|s| !s.zombie && s.service.as_deref() == Some(service))
        .collect();
    let out = f(&mine);
    drop(spawned);
    out
}

/// `CTRL_SERVICE` in the environment `pid` was started with.
fn service_of(pid: u32) -> Option<String> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{SERVICE_VAR}=");
    env.split(|b| *b == 0)
        .find_map(|kv| kv.strip_prefix(prefix.as_bytes()))
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

fn start_ticks(pid: u32) -> Option<u64> {
    Some(procfs::process::Process::new(i32::try_from(pid).ok()?).ok()?.stat().ok()?.starttime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spawned_child_is_never_a_stray_and_a_stray_names_its_service() {
        let mut ours =
            spawn_noted(|| std::process::Command::new("sleep").arg("5").spawn(), |c| Some(c.id())).unwrap();
        // A child this test did not note, as a re-parented orphan would be.
        let mut other = std::process::Command::new("sleep").arg("5").env(SERVICE_VAR, "web").spawn().unwrap();
        // Its environment is readable once its exec is complete (spawn may return a little before).
        let mut all = strays();
        for _ in 0..200 {
            if all.iter().any(|s| s.pid == other.id() && s.service.is_some()) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            all = strays();
        }
        let stray = all.iter().find(|s| s.pid == other.id()).expect("the unnoted child is a stray");
        assert_eq!(stray.service.as_deref(), Some("web"), "its service, from its environment");
        assert!(!stray.zombie);
        assert!(with_strays_of("web", |mine| mine.iter().any(|s| s.pid == other.id())));
        assert!(!all.iter().any(|s| s.pid == ours.id()), "a spawned child is not a stray");
        // (Reaping every stray here could take another test's child: the daemon's
        // tests check that strays are reaped.)
        for c in [&mut ours, &mut other] {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }
}
