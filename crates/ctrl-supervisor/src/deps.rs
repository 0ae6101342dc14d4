//! Waiting for dependencies: a launch goes ahead once every condition holds.

use ctrl_core::config::Condition;
use tokio::sync::watch;

use crate::snapshot::Snapshot;

/// One dependency to wait for.
pub struct Dependency {
    /// Its name.
    pub name: String,
    /// What we wait for.
    pub condition: Condition,
    /// Its published state.
    pub state: watch::Receiver<Snapshot>,
}

/// Returns once every dependency satisfies its condition, calling `waiting` with
/// a reason whenever it has to wait ("waiting for db to be healthy (db is backoff)").
pub async fn wait_for(mut deps: Vec<Dependency>, waiting: impl Fn(String)) {
    loop {
        let Some(blocker) = deps.iter_mut().find(|d| !d.state.borrow().satisfies(d.condition)) else {
            return;
        };
        let now = blocker.state.borrow().status;
        waiting(format!(
            "waiting for {} to be {} ({} is {now})",
            blocker.name,
            blocker.condition.as_str(),
            blocker.name
        ));
        if blocker.state.changed().await.is_err() {
            // The dependency's task ended (daemon shutting down): wait forever, the launch will be dropped.
            std::future::pending::<()>().await;
        }
    }
}
