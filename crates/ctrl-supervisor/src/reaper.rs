//! The daemon is the child subreaper of everything it starts (and PID 1 in a
//! container): orphans of its services' descendants come to it. Those strays are
//! reaped here when they exit (on SIGCHLD: several that come together wake the
//! reaper once, and it reaps all); while they live they count in their service
//! and die with its stop (`group.rs`).

use tokio::signal::unix::{SignalKind, signal};

/// Makes the daemon its descendants' subreaper and starts reaping its strays.
pub fn start() -> std::io::Result<()> {
    if let Err(e) = ctrl_host::children::become_subreaper() {
        tracing::warn!(
            "cannot become the child subreaper ({e}): a service's daemonised processes go to init"
        );
    }
    let mut exits = signal(SignalKind::child())?;
    tokio::spawn(async move {
        // Signals that come together wake this once; each wake reaps every stray exited.
        while exits.recv().await.is_some() {
            let reaped = tokio::task::spawn_blocking(ctrl_host::children::reap_strays).await.unwrap_or(0);
            if reaped > 0 {
                tracing::debug!(reaped, "reaped exited processes that were not this daemon's children");
            }
        }
    });
    Ok(())
}
