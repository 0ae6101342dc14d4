//! Applying a changed config: only the difference is touched.

use ctrl_core::config::Config;
use ctrl_core::service::Input;
pub use ctrl_proto::ReloadReport;

use crate::control::{Supervisor, quit};
use crate::error::ControlError;

impl Supervisor {
    /// Applies `new`: starts added services, stops removed ones, restarts changed
    /// ones, and leaves unchanged ones alone. Server settings apply at the next start.
    pub async fn reload(&self, new: Config) -> Result<ReloadReport, ControlError> {
        let _one_at_a_time = self.inner.reload_lock.lock().await;
        self.ensure_open()?;
        let old = self.config();
        let mut report = ReloadReport::default();
        let mut was_live = Vec::new();
        for name in old.services.keys() {
            match new.services.get(name) {
                None => report.removed.push(name.clone()),
                Some(spec) if Some(spec) != old.services.get(name) => report.changed.push(name.clone()),
                Some(_) => report.unchanged.push(name.clone()),
            }
        }
        report.added = new.services.keys().filter(|n| !old.services.contains_key(*n)).cloned().collect();

        // Store work first: if it fails, nothing has been touched yet.
        let fresh: Vec<String> = report.added.iter().chain(&report.changed).cloned().collect();
        let created = self.declare(&new, &fresh).await?;
        let going: Vec<_> = {
            let mut reg = self.inner.shared.registry.write().unwrap_or_else(|p| p.into_inner());
            report
                .removed
                .iter()
                .chain(&report.changed)
                .filter_map(|n| reg.remove(n).map(|h| (n.clone(), h)))
                .collect()
        };
        for (name, handle) in going {
            if handle.state.borrow().view.status.is_live() {
                was_live.push(name);
            }
            quit(handle).await;
        }
        *self.inner.config.lock().unwrap_or_else(|p| p.into_inner()) = new.clone();
        self.spawn_actors(&new, &fresh, &created);
        for name in &report.removed {
            if let Err(e) = self.store().forget_service(name).await {
                tracing::warn!(service = %name, error = %e, "cannot remove the service's row");
            }
        }
        if self.ensure_open().is_err() {
            return Ok(report);
        }
        for name in &fresh {
            if new.services[name].autostart || was_live.contains(name) {
                let _ =
                    self.send(name, Input::Start { reason: "config reloaded".into(), trial: false }).await;
            }
        }
        Ok(report)
    }
}
