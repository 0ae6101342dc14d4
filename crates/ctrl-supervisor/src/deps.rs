//! Waiting for dependencies: a launch goes ahead once every condition holds.

use std::time::Duration;

use ctrl_core::config::Condition;

use crate::actor::Registry;

/// Returns once every dependency satisfies its condition, calling `waiting` with
/// a reason whenever it has to wait ("waiting for db to be healthy (db is backoff)").
///
/// Dependencies are looked up by name each round, so a dependency replaced by a
/// reload is followed to its new task; one missing for a moment (being replaced)
/// is waited for, never skipped.
pub async fn wait_for(deps: Vec<(String, Condition)>, registry: Registry, waiting: impl Fn(String)) {
    'again: loop {
        for (name, condition) in &deps {
            let state = registry.read().unwrap_or_else(|p| p.into_inner()).get(name).map(|h| h.state.clone());
            let Some(mut state) = state else {
                waiting(format!(
                    "waiting for {name} to be {} ({name} is being reloaded)",
                    condition.as_str()
                ));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue 'again;
            };
            let now = state.borrow_and_update().clone();
            if now.satisfies(*condition) {
                continue;
            }
            waiting(format!(
                "waiting for {name} to be {} ({name} is {})",
                condition.as_str(),
                now.view.status
            ));
            if state.changed().await.is_err() {
                // That task ended (reload or shutdown): look the name up again.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            continue 'again;
        }
        return;
    }
}
