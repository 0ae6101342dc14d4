//! Alerts: rules over service events, job ends and host thresholds, sent to
//! webhooks (generic JSON, Slack, Discord, ntfy) with retries. A crash loop is
//! one alert and, once the service runs steadily again, one recovery; every
//! alert is recorded with how its delivery went.

mod send;
mod watch;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use ctrl_core::alert::{Threshold, Tracker, Verdict};
use ctrl_core::config::{AlertKind, AlertsConfig};
use ctrl_proto::{AlertInfo, AlertRuleInfo, ChannelInfo};
use ctrl_store::Store;

/// Why an alerts request failed.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// No channel of that name.
    #[error("no channel named '{0}'")]
    UnknownChannel(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] ctrl_store::StoreError),
}

impl From<AlertError> for ctrl_proto::ApiError {
    fn from(e: AlertError) -> ctrl_proto::ApiError {
        use ctrl_proto::{ApiError, ErrorCode};
        match e {
            AlertError::UnknownChannel(_) => ApiError::new(ErrorCode::NotFound, e.to_string()),
            AlertError::Store(e) => e.into(),
        }
    }
}

struct Inner {
    config: RwLock<AlertsConfig>,
    store: Store,
    client: send::Http,
    tracker: Mutex<Tracker>,
    thresholds: Mutex<HashMap<(String, String), Threshold>>,
    /// Every alert raised, for a host to report to its hub.
    raised: tokio::sync::broadcast::Sender<AlertInfo>,
}

/// The alert engine. Cheap to clone.
#[derive(Clone)]
pub struct Alerts(Arc<Inner>);

impl Alerts {
    /// An engine for `config`; `start` the watchers to make it listen.
    pub fn new(config: &AlertsConfig, store: Store) -> Alerts {
        let client = send::client();
        Alerts(Arc::new(Inner {
            config: RwLock::new(config.clone()),
            store,
            client,
            tracker: Mutex::new(Tracker::default()),
            thresholds: Mutex::new(HashMap::new()),
            raised: tokio::sync::broadcast::channel(64).0,
        }))
    }

    /// Takes a reloaded config. Episodes and thresholds of rules that are gone or
    /// changed are forgotten: a changed rule starts from a clean slate.
    pub fn set_config(&self, config: &AlertsConfig) {
        let old =
            std::mem::replace(&mut *self.0.config.write().unwrap_or_else(|p| p.into_inner()), config.clone());
        let kept = |rule: &str| old.rules.get(rule).is_some_and(|r| config.rules.get(rule) == Some(r));
        self.0.thresholds.lock().unwrap_or_else(|p| p.into_inner()).retain(|(r, _), _| kept(r));
        let mut tracker = self.0.tracker.lock().unwrap_or_else(|p| p.into_inner());
        for rule in old.rules.keys().filter(|r| !kept(r)) {
            tracker.forget(rule);
        }
    }

    fn config(&self) -> AlertsConfig {
        self.0.config.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The last `limit` alerts, newest first.
    pub async fn list(&self, limit: u32) -> Result<Vec<AlertInfo>, AlertError> {
        Ok(self.0.store.alerts(limit).await?)
    }

    /// The rules, with what each is firing for now.
    pub fn rules(&self) -> Vec<AlertRuleInfo> {
        let config = self.config();
        let tracker = self.0.tracker.lock().unwrap_or_else(|p| p.into_inner());
        let thresholds = self.0.thresholds.lock().unwrap_or_else(|p| p.into_inner());
        config
            .rules
            .iter()
            .map(|(name, r)| {
                let mut firing: Vec<String> = tracker.firing_subjects(name);
                firing.extend(
                    thresholds
                        .iter()
                        .filter(|((rule, _), t)| rule == name && t.is_firing())
                        .map(|((_, s), _)| s.clone()),
                );
                AlertRuleInfo {
                    name: name.clone(),
                    on: r.on.clone(),
                    channels: r.channels.clone(),
                    services: r.services.clone(),
                    actions: r.actions.clone(),
                    hosts: r.hosts.clone(),
                    above: r.above,
                    for_s: r.hold.map(|d| d.0.as_secs()),
                    clear_below: r.clear_below,
                    mount: r.mount.clone(),
                    firing,
                }
            })
            .collect()
    }

    /// The channels (names and formats only: URLs carry secrets).
    pub fn channels(&self) -> Vec<ChannelInfo> {
        self.config()
            .channels
            .iter()
            .map(|(n, c)| ChannelInfo { name: n.clone(), format: c.format })
            .collect()
    }

    /// Sends a test message to one channel and answers once delivery ended.
    pub async fn test(&self, channel: &str) -> Result<AlertInfo, AlertError> {
        let ch = self
            .config()
            .channels
            .get(channel)
            .cloned()
            .ok_or_else(|| AlertError::UnknownChannel(channel.into()))?;
        let msg = format!("[TEST] Control Center can reach the channel '{channel}'.");
        let mut a = self.0.store.add_alert("test", AlertKind::Test, channel, "test", &msg).await?;
        a.deliveries = vec![send::deliver(&self.0.client, channel, &ch, &a).await];
        self.0.store.alert_delivered(a.id, &a.deliveries).await?;
        Ok(a)
    }

    /// Records an alert and delivers it to the rule's channels in the background.
    async fn raise(&self, rule: &str, kind: AlertKind, subject: &str, firing: bool, message: String) {
        let config = self.config();
        let Some(spec) = config.rules.get(rule) else { return };
        let state = if firing { "firing" } else { "resolved" };
        // An alert goes out even when it cannot be recorded (the database may be
        // what is in trouble); it then has no id and its deliveries are not stored.
        let a = match self.0.store.add_alert(rule, kind, subject, state, &message).await {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, rule, "cannot record an alert; sending it all the same");
                AlertInfo {
                    id: 0,
                    at: chrono::Utc::now(),
                    rule: rule.into(),
                    kind,
                    subject: subject.into(),
                    state: state.into(),
                    message,
                    deliveries: Vec::new(),
                }
            }
        };
        tracing::info!(rule, subject, state, "alert");
        let _ = self.0.raised.send(a.clone());
        let channels: Vec<_> = spec
            .channels
            .iter()
            .filter_map(|n| config.channels.get(n).map(|c| (n.clone(), c.clone())))
            .collect();
        let me = self.clone();
        tokio::spawn(async move {
            let mut done = Vec::new();
            for (name, ch) in &channels {
                done.push(send::deliver(&me.0.client, name, ch, &a).await);
            }
            for d in done.iter().filter(|d| !d.ok) {
                tracing::warn!(channel = %d.channel, error = ?d.error, "an alert was not delivered");
            }
            if a.id != 0
                && let Err(e) = me.0.store.alert_delivered(a.id, &done).await
            {
                tracing::error!(error = %e, "cannot record an alert's delivery");
            }
        });
    }

    /// Trouble for `subject`: fires once per episode.
    async fn trouble(&self, rule: &str, kind: AlertKind, subject: &str, detail: &str) {
        let escalation = kind == AlertKind::Fatal;
        let verdict = self.0.tracker.lock().unwrap_or_else(|p| p.into_inner()).trouble(
            rule,
            subject,
            chrono::Utc::now(),
            escalation,
        );
        if verdict == Verdict::Fire {
            self.raise(rule, kind, subject, true, format!("[FIRING] {subject}: {} - {detail}", words(kind)))
                .await;
        }
    }

    /// Good news for `subject`: recovers an episode that fired.
    async fn fine(&self, rule: &str, kind: AlertKind, subject: &str, detail: &str) {
        let verdict =
            self.0.tracker.lock().unwrap_or_else(|p| p.into_inner()).fine(rule, subject, chrono::Utc::now());
        if let Verdict::Recover { lasted, suppressed } = verdict {
            let lasted = humantime::format_duration(std::time::Duration::from_secs(lasted.as_secs()));
            let more = if suppressed > 0 { format!("; {suppressed} more not sent") } else { String::new() };
            self.raise(
                rule,
                kind,
                subject,
                false,
                format!("[RESOLVED] {subject}: {detail} after {lasted}{more}"),
            )
            .await;
        }
    }

    /// Every alert raised from now on (a host reports them to its hub).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<AlertInfo> {
        self.0.raised.subscribe()
    }

    /// The rules that cover `host` for `kind`: it is in their `on` and their `hosts`.
    fn host_rules(&self, host: &str, kind: AlertKind) -> Vec<(String, ctrl_core::config::RuleSpec)> {
        let config = self.config();
        config
            .rules
            .into_iter()
            .filter(|(_, r)| {
                r.on.contains(&kind) && r.hosts.as_ref().is_none_or(|h| h.iter().any(|h| h == host))
            })
            .collect()
    }

    /// Whether a rule's own filters (services, actions, mount) take a host's
    /// alert about `subject`.
    fn takes(r: &ctrl_core::config::RuleSpec, kind: AlertKind, subject: &str) -> bool {
        let named = |list: &Option<Vec<String>>| list.as_ref().is_none_or(|l| l.iter().any(|x| x == subject));
        match kind {
            AlertKind::Crash | AlertKind::Fatal | AlertKind::Unhealthy => named(&r.services),
            AlertKind::JobFailed | AlertKind::JobTimedOut => named(&r.actions),
            AlertKind::Disk => r.mount.as_ref().is_none_or(|m| m == subject),
            _ => true,
        }
    }

    /// A host behind this hub lost its link: fires once it has stayed offline for
    /// the rule's `for` (at once without one), as `still_offline` tells then.
    pub fn host_offline<F>(
        &self,
        host: &str,
        why: &str,
        still_offline: impl Fn() -> F + Send + Sync + 'static,
    ) where
        F: std::future::Future<Output = bool> + Send,
    {
        let still_offline = Arc::new(still_offline);
        for (rule, spec) in self.host_rules(host, AlertKind::HostOffline) {
            let (me, host, why, still) =
                (self.clone(), host.to_owned(), why.to_owned(), still_offline.clone());
            let wait = spec.hold.map(|d| d.0).unwrap_or_default();
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                if still().await {
                    me.trouble(&rule, AlertKind::HostOffline, &host, &why).await;
                }
            });
        }
    }

    /// A host behind this hub is linked again.
    pub async fn host_online(&self, host: &str) {
        for (rule, _) in self.host_rules(host, AlertKind::HostOffline) {
            self.fine(&rule, AlertKind::HostOffline, host, "online again").await;
        }
    }

    /// An alert a host behind this hub raised: one episode per rule and
    /// `host/subject`, whatever the host sends again.
    pub async fn host_alert(&self, host: &str, alert: &AlertInfo) {
        let subject = format!("{host}/{}", alert.subject);
        // The host's words after its own "[FIRING] subject: what - ".
        let detail = alert.message.split_once(" - ").map_or(alert.message.as_str(), |(_, d)| d);
        match alert.state.as_str() {
            "firing" => {
                for (rule, r) in self.host_rules(host, alert.kind) {
                    if Self::takes(&r, alert.kind, &alert.subject) {
                        self.trouble(&rule, alert.kind, &subject, detail).await;
                    }
                }
            }
            // A recovery may name another kind than the trouble did (a rule's first):
            // every episode open for that subject ends.
            "resolved" => {
                let rules: Vec<String> = self.config().rules.into_keys().collect();
                for rule in rules.into_iter().filter(|r| self.is_firing(r, &subject)) {
                    self.fine(&rule, alert.kind, &subject, "resolved on the host").await;
                }
            }
            _ => {}
        }
    }

    fn is_firing(&self, rule: &str, subject: &str) -> bool {
        self.0.tracker.lock().unwrap_or_else(|p| p.into_inner()).is_firing(rule, subject)
    }
}

fn words(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::Crash => "crashed",
        AlertKind::Fatal => "gave up restarting (fatal)",
        AlertKind::Unhealthy => "unhealthy",
        AlertKind::JobFailed => "job failed",
        AlertKind::JobTimedOut => "job timed out",
        AlertKind::Cpu => "CPU high",
        AlertKind::Memory => "memory high",
        AlertKind::Disk => "disk full",
        AlertKind::Test => "test",
        AlertKind::HostOffline => "host offline",
    }
}

pub use watch::start;

#[cfg(test)]
mod tests {
    use super::*;

    async fn engine(rules: &str) -> (Alerts, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&ctrl_store::testing::sqlite(dir.path())).await.unwrap();
        let text = format!("[channels.void]\nurl = \"http://127.0.0.1:9/x\"\n{rules}");
        let config: AlertsConfig = toml::from_str(&text).unwrap();
        (Alerts::new(&config, store), dir)
    }

    fn alert(kind: AlertKind, subject: &str, state: &str) -> AlertInfo {
        AlertInfo {
            id: 1,
            at: chrono::Utc::now(),
            rule: "theirs".into(),
            kind,
            subject: subject.into(),
            state: state.into(),
            message: format!("[{state}] {subject}: x - exit 3"),
            deliveries: Vec::new(),
        }
    }

    /// A host's recovery may name another kind than its trouble (its rule's
    /// first): the hub's episode ends all the same; and a rule's own filters hold.
    #[tokio::test]
    async fn a_hosts_alerts_fire_once_resolve_whatever_the_kind_and_keep_the_filters() {
        let (a, _dir) = engine(
            "[rules.crashes]\non = [\"crash\"]\nchannels = [\"void\"]\n\
             [rules.db]\non = [\"crash\"]\nchannels = [\"void\"]\nservices = [\"db\"]\nhosts = [\"web-1\"]\n",
        )
        .await;
        a.host_alert("web-1", &alert(AlertKind::Crash, "app", "firing")).await;
        a.host_alert("web-1", &alert(AlertKind::Crash, "app", "firing")).await;
        assert!(a.is_firing("crashes", "web-1/app"));
        assert!(!a.is_firing("db", "web-1/app"), "the rule is for db only");
        a.host_alert("web-2", &alert(AlertKind::Crash, "db", "firing")).await;
        assert!(!a.is_firing("db", "web-2/db"), "the rule is for web-1 only");
        assert!(a.is_firing("crashes", "web-2/db"));
        a.host_alert("web-1", &alert(AlertKind::Fatal, "app", "resolved")).await;
        assert!(!a.is_firing("crashes", "web-1/app"), "resolved though the host said fatal");
        let rows = a.list(100).await.unwrap();
        let firing = rows.iter().filter(|r| r.subject == "web-1/app" && r.state == "firing").count();
        assert_eq!(firing, 1, "one episode: {rows:?}");
    }
}
