//! `Machine::handle(input, now) -> transitions + effects`: the rules, without the acting.
//!
//! The runtime feeds in what happened (a request, a spawn, an exit, a timer, a
//! probe result) and performs the effects it gets back. Time and jitter are
//! parameters, so every rule below is a plain unit test.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::config::{RestartPolicy, ServiceSpec, StopSignal};

use super::backoff::backoff_delay;
use super::status::{Health, PortHolder, ServiceView, Status};

/// Something that happened to a service.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A request (or autostart) to start; clears `fatal` and the backoff.
    Start {
        /// Why, for the event: "autostart", "started by request".
        reason: String,
        /// Someone waits on this start (a request): a failure before the service
        /// is up is final, with no retry loop behind the person's back.
        trial: bool,
    },
    /// A request to stop.
    Stop,
    /// A request to restart: stop if live, then start.
    Restart {
        /// Someone waits on the new start (see `Start`).
        trial: bool,
    },
    /// The process was spawned.
    Spawned {
        /// Its pid, which is also its process group id.
        pid: u32,
    },
    /// The process could not be spawned (missing executable, port taken, …).
    SpawnFailed {
        /// The clear message for the user.
        reason: String,
        /// Who holds the service's port, when that was the cause.
        port: Option<PortHolder>,
    },
    /// The main process exited.
    Exited {
        /// Exit code, for a normal exit.
        code: Option<i32>,
        /// Signal name, when killed by one.
        signal: Option<String>,
    },
    /// The backoff delay is over.
    BackoffElapsed,
    /// `stop_timeout` passed while stopping.
    StopTimedOut,
    /// The readiness probe passed.
    ReadinessPassed,
    /// The readiness probe failed `failure_threshold` times in a row.
    ReadinessFailed {
        /// The last failure.
        reason: String,
    },
    /// The liveness probe passed.
    LivenessPassed,
    /// The liveness probe failed `failure_threshold` times in a row.
    LivenessFailed {
        /// The last failure.
        reason: String,
    },
    /// A live process of this service from a previous daemon was adopted.
    Adopted {
        /// Its pid.
        pid: u32,
    },
}

/// What the runtime must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Wait for dependencies, check the port, spawn; answer `Spawned` or `SpawnFailed`.
    Launch,
    /// Abandon a launch still waiting.
    CancelLaunch,
    /// Send this signal to the process group.
    Signal(StopSignal),
    /// SIGKILL the process group.
    KillGroup,
    /// Send `BackoffElapsed` after this delay.
    ArmBackoff(Duration),
    /// Send `StopTimedOut` after this delay.
    ArmStopTimeout(Duration),
    /// Begin probing the new process.
    StartProbes,
    /// Stop probing.
    StopProbes,
    /// Clean up what is left of the old process group in the background.
    ReapGroup,
}

/// One state change, for the event bus (the runtime adds name and time).
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// State before.
    pub from: Status,
    /// State after.
    pub to: Status,
    /// Main pid at the time.
    pub pid: Option<u32>,
    /// Exit code, when an exit caused this.
    pub exit_code: Option<i32>,
    /// Signal name, when a signal caused this.
    pub signal: Option<String>,
    /// Why.
    pub reason: Option<String>,
}

/// The result of one input.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// State changes, in order.
    pub transitions: Vec<Transition>,
    /// Work for the runtime, in order.
    pub effects: Vec<Effect>,
}

/// A request that does not apply in the current state (not an error: an answer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Start of a service that is live.
    #[error("service is already {0}")]
    AlreadyRunning(Status),
    /// Stop of a service that is not running.
    #[error("service is already stopped")]
    AlreadyStopped,
}

/// The state of one service and the memory its rules need.
#[derive(Debug, Clone)]
pub struct Machine {
    /// What others may see: state, pid, restarts, health, last exit, reason.
    pub view: ServiceView,
    /// When the current state began.
    pub since: Instant,
    attempt: u32,
    starts: VecDeque<Instant>,
    restart_after_stop: bool,
    /// The start after the stop is a requested one (a restart), not a liveness one.
    restart_on_trial: bool,
    /// The current start is on trial: it fails for good if the process is gone
    /// before it is up (ready, or alive for the start window).
    trial: bool,
}

impl Machine {
    /// Whether the current start is on trial at `now`: someone waits on it, and
    /// it is not up yet (not ready, or not alive for its start window).
    pub fn on_trial(&self, spec: &ServiceSpec, now: Instant) -> bool {
        self.trial && self.view.up_since.is_none_or(|up| now.duration_since(up) < spec.start_window())
    }

    /// A stopped service.
    pub fn new(now: Instant) -> Self {
        Machine {
            view: ServiceView::stopped(),
            since: now,
            attempt: 0,
            starts: VecDeque::new(),
            restart_after_stop: false,
            restart_on_trial: false,
            trial: false,
        }
    }

    /// Applies one input. `jitter` is a random number in `[0, 1)` for the backoff.
    pub fn handle(
        &mut self,
        spec: &ServiceSpec,
        input: Input,
        now: Instant,
        jitter: f64,
    ) -> Result<Outcome, Refusal> {
        let mut out = Outcome::default();
        use Status::*;
        match (self.view.status, input) {
            (Starting | Running | Ready | Stopping, Input::Start { .. }) => {
                return Err(Refusal::AlreadyRunning(self.view.status));
            }
            (_, Input::Start { reason, trial }) => {
                self.attempt = 0;
                self.starts.clear();
                self.trial = trial;
                self.view.port_holder = None;
                self.go(&mut out, Starting, Some(reason), now);
                out.effects.push(Effect::Launch);
            }

            (Stopped, Input::Stop) => return Err(Refusal::AlreadyStopped),
            (Starting, Input::Stop) if self.view.pid.is_none() => {
                out.effects.push(Effect::CancelLaunch);
                self.go(&mut out, Stopped, Some("stopped by request".into()), now);
            }
            (Starting | Running | Ready, Input::Stop) => {
                self.restart_after_stop = false;
                self.trial = false;
                self.begin_stop(spec, &mut out, "stopped by request".into(), now);
            }
            (Stopping, Input::Stop) => self.restart_after_stop = false,
            (Backoff | Exited | Completed | Fatal, Input::Stop) => {
                self.go(&mut out, Stopped, Some("stopped by request".into()), now);
            }

            // Still launching: the launch under way is the restart, now on trial.
            (Starting, Input::Restart { trial }) if self.view.pid.is_none() => self.trial |= trial,
            (Starting | Running | Ready, Input::Restart { trial }) => {
                self.view.restarts += 1;
                self.restart_after_stop = true;
                self.restart_on_trial = trial;
                self.begin_stop(spec, &mut out, "restart requested".into(), now);
            }
            (Stopping, Input::Restart { trial }) => {
                self.restart_after_stop = true;
                self.restart_on_trial = trial;
            }
            (_, Input::Restart { trial }) => {
                self.view.restarts += 1;
                let start = Input::Start { reason: "restart requested".into(), trial };
                return self.handle(spec, start, now, jitter);
            }

            (Starting, Input::Spawned { pid }) => {
                self.view.pid = Some(pid);
                self.view.up_since = Some(now);
                self.starts.push_back(now);
                self.view.health = Health::Unknown;
                self.go(&mut out, Running, None, now);
                out.effects.push(Effect::StartProbes);
            }
            (_, Input::Spawned { .. }) => out.effects.push(Effect::KillGroup),

            (Starting, Input::SpawnFailed { reason, port }) => {
                self.starts.push_back(now);
                self.view.port_holder = port;
                if std::mem::take(&mut self.trial) {
                    self.view.exit_code = None;
                    self.view.signal = None;
                    self.go(&mut out, Fatal, Some(format!("{reason}; {NOT_RESTARTED}")), now);
                } else {
                    self.after_exit(spec, &mut out, None, None, reason, now, jitter);
                }
            }

            (Stopping, Input::Exited { code, signal }) => {
                out.effects.push(Effect::StopProbes);
                out.effects.push(Effect::ReapGroup);
                self.view.exit_code = code;
                self.view.signal = signal;
                self.go(&mut out, Stopped, Some(exit_words(code, self.view.signal.as_deref())), now);
                self.pid_gone();
                self.trial = false;
                if std::mem::take(&mut self.restart_after_stop) {
                    self.trial = std::mem::take(&mut self.restart_on_trial);
                    self.view.port_holder = None;
                    self.go(&mut out, Starting, Some("restart requested".into()), now);
                    out.effects.push(Effect::Launch);
                }
            }
            (Starting | Running | Ready, Input::Exited { code, signal }) => {
                out.effects.push(Effect::StopProbes);
                out.effects.push(Effect::ReapGroup);
                if let Some(up) = self.view.up_since
                    && now.duration_since(up) >= spec.backoff.max.0.max(Duration::from_secs(1))
                {
                    self.attempt = 0;
                }
                let reason = exit_words(code, signal.as_deref());
                // Gone before it was up, on a start someone waits on: that start failed.
                let on_trial = self.on_trial(spec, now);
                self.trial = false;
                let failed = signal.is_some() || code != Some(0) || spec.restart == RestartPolicy::Always;
                if on_trial && failed {
                    self.view.exit_code = code;
                    self.view.signal = signal;
                    let why = format!("{reason} during start-up; {NOT_RESTARTED}");
                    self.go(&mut out, Fatal, Some(why), now);
                    self.pid_gone();
                } else {
                    self.after_exit(spec, &mut out, code, signal, reason, now, jitter);
                }
            }

            (Backoff, Input::BackoffElapsed) => {
                self.trial = false;
                self.view.restarts += 1;
                self.go(&mut out, Starting, Some(format!("restart #{}", self.view.restarts)), now);
                out.effects.push(Effect::Launch);
            }

            (Stopping, Input::StopTimedOut) => {
                out.effects.push(Effect::KillGroup);
                let reason = format!(
                    "no exit {} after {}; sent SIGKILL to the process group",
                    humantime_short(spec.stop_timeout.0),
                    spec.stop_signal.name()
                );
                self.go(&mut out, Stopping, Some(reason), now);
            }

            (Running, Input::ReadinessPassed) => {
                self.view.health = Health::Healthy;
                self.trial = false;
                self.attempt = 0;
                self.go(&mut out, Ready, Some("readiness probe passed".into()), now);
            }
            (Ready, Input::ReadinessFailed { reason }) => {
                self.view.health = Health::Unhealthy;
                self.go(&mut out, Running, Some(format!("readiness failed: {reason}")), now);
            }
            (Running, Input::ReadinessFailed { .. }) => self.view.health = Health::Unhealthy,

            (Running | Ready, Input::LivenessPassed) if spec.effective_readiness().is_none() => {
                self.view.health = Health::Healthy;
            }
            (Running | Ready, Input::LivenessFailed { reason }) => {
                self.view.health = Health::Unhealthy;
                self.view.restarts += 1;
                self.restart_after_stop = true;
                self.restart_on_trial = false;
                self.trial = false;
                self.begin_stop(spec, &mut out, format!("liveness failed: {reason}; restarting"), now);
            }

            (Stopped | Starting, Input::Adopted { pid }) => {
                out.effects.push(Effect::CancelLaunch);
                self.trial = false;
                self.view.pid = Some(pid);
                self.view.up_since = Some(now);
                self.go(&mut out, Running, Some("adopted from the previous daemon".into()), now);
                out.effects.push(Effect::StartProbes);
            }

            // Late timers and probe results of a state already left: nothing to do.
            _ => {}
        }
        Ok(out)
    }

    fn go(&mut self, out: &mut Outcome, to: Status, reason: Option<String>, now: Instant) {
        out.transitions.push(Transition {
            from: self.view.status,
            to,
            pid: self.view.pid,
            exit_code: if carries_exit(self.view.status, to) { self.view.exit_code } else { None },
            signal: if carries_exit(self.view.status, to) { self.view.signal.clone() } else { None },
            reason: reason.clone(),
        });
        self.view.status = to;
        self.view.reason = reason;
        self.since = now;
    }

    fn begin_stop(&mut self, spec: &ServiceSpec, out: &mut Outcome, reason: String, now: Instant) {
        out.effects.push(Effect::StopProbes);
        if spec.stop_signal == StopSignal::Kill {
            out.effects.push(Effect::KillGroup);
        } else {
            out.effects.push(Effect::Signal(spec.stop_signal));
            out.effects.push(Effect::ArmStopTimeout(spec.stop_timeout.0));
        }
        self.go(out, Status::Stopping, Some(reason), now);
    }

    /// The process is gone (or never came): completed, exited, backoff or fatal.
    #[allow(clippy::too_many_arguments)]
    fn after_exit(
        &mut self,
        spec: &ServiceSpec,
        out: &mut Outcome,
        code: Option<i32>,
        signal: Option<String>,
        reason: String,
        now: Instant,
        jitter: f64,
    ) {
        let failed = signal.is_some() || code != Some(0);
        self.view.exit_code = code;
        self.view.signal = signal;
        let restart = match spec.restart {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => failed,
            RestartPolicy::Never => false,
        };
        let to = if failed || restart { Status::Exited } else { Status::Completed };
        self.go(out, to, Some(reason.clone()), now);
        self.pid_gone();
        if !restart {
            return;
        }
        let window = spec.start_limit.interval.0;
        while self.starts.front().is_some_and(|t| now.duration_since(*t) > window) {
            self.starts.pop_front();
        }
        if self.starts.len() >= spec.start_limit.burst as usize {
            // The cause stays first: "port 8000 is already in use …; start limit reached …".
            let why = format!(
                "{reason}; start limit reached: {} starts within {}; start it by hand once fixed",
                self.starts.len(),
                humantime_short(window)
            );
            self.go(out, Status::Fatal, Some(why), now);
            return;
        }
        let delay = backoff_delay(&spec.backoff, self.attempt, jitter);
        self.attempt = self.attempt.saturating_add(1);
        self.go(
            out,
            Status::Backoff,
            Some(format!("{reason}; restarting in {}", humantime_short(delay))),
            now,
        );
        out.effects.push(Effect::ArmBackoff(delay));
    }

    fn pid_gone(&mut self) {
        self.view.pid = None;
        self.view.up_since = None;
        self.view.health = Health::Unknown;
    }
}

/// What a failed start on trial says after its cause.
const NOT_RESTARTED: &str = "not restarted: fix it and start it again";

/// Transitions caused by an exit carry its code or signal.
fn carries_exit(from: Status, to: Status) -> bool {
    matches!(to, Status::Exited | Status::Completed | Status::Fatal)
        || (from == Status::Stopping && to == Status::Stopped)
}

/// "exited with code 1", "killed by SIGKILL".
fn exit_words(code: Option<i32>, signal: Option<&str>) -> String {
    match (code, signal) {
        (_, Some(s)) => format!("killed by {s}"),
        (Some(c), None) => format!("exited with code {c}"),
        (None, None) => "exited".into(),
    }
}

/// A short duration for messages: "500ms", "30s", "1m 30s".
fn humantime_short(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms.is_multiple_of(1000) {
        humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}
