//! The task that owns one service: its state machine, its process, its timers.
//!
//! Nobody else touches the process. Requests arrive on a channel; the child's
//! exit, timers, the launch and probe verdicts arrive as select branches; each
//! becomes an [`Input`] for the machine, whose effects are performed here.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ctrl_core::config::ServiceSpec;
use ctrl_core::service::{Effect, Input, Machine, Refusal};
use ctrl_core::{ServiceEvent, Status};
use ctrl_store::ServiceRecord;
use nix::sys::signal::Signal;
use tokio::io::unix::AsyncFd;
use tokio::process::Child;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

use crate::bus::EventBus;
use crate::deps::wait_for;
use crate::group::{
    deadline_after, group_alive, os_signal, reap_group, signal_group, signal_name, signal_strays,
    strays_alive, wait_group_gone,
};
use crate::launch::{LaunchError, check_port, spawn};
use crate::logs::{Chunk, LogSink, Stream, capture, log_path};
use crate::probe::{self, ProbeKind, ProbeReport};
use crate::snapshot::Snapshot;

/// All services by name. Read-mostly; written only by start-up and reload.
pub(crate) type Registry = Arc<RwLock<BTreeMap<String, ServiceHandle>>>;

/// A message to a service's task.
pub(crate) enum ActorMsg {
    /// Start, stop or restart; the reply says whether it applied.
    Control { input: Input, reply: oneshot::Sender<Result<(), Refusal>> },
    /// Watch this live group leader left by a previous daemon, through its verified pidfd.
    Adopt { pid: u32, start_ticks: u64, pidfd: OwnedFd },
    /// Stop if needed, then end the task.
    Quit { reply: oneshot::Sender<()> },
}

/// How others reach a service's task.
pub(crate) struct ServiceHandle {
    pub spec: Arc<ServiceSpec>,
    pub tx: mpsc::Sender<ActorMsg>,
    pub state: watch::Receiver<Snapshot>,
    pub created_at: DateTime<Utc>,
    pub follow: broadcast::Sender<Arc<Chunk>>,
    pub task: JoinHandle<()>,
}

/// What every actor shares.
#[derive(Clone)]
pub(crate) struct Shared {
    pub bus: EventBus,
    pub registry: Registry,
}

/// Starts the task for service `name`.
pub(crate) fn spawn_actor(
    name: &str,
    spec: Arc<ServiceSpec>,
    created_at: DateTime<Utc>,
    state_dir: &Path,
    shared: Shared,
) -> ServiceHandle {
    let (tx, rx) = mpsc::channel(64);
    let (state_tx, state) = watch::channel(Snapshot::stopped(spec.effective_readiness().is_some()));
    // Room for 64 chunks (each one read of a pipe) per follower; a slower follower
    // is told how much it skipped. Small on purpose: every service has one.
    let (follow, _) = broadcast::channel(64);
    let sink = |s| Arc::new(LogSink::new(log_path(state_dir, name, s), s, spec.log, follow.clone()));
    let (probe_tx, probe_rx) = mpsc::channel(8);
    let actor = Actor {
        name: name.to_owned(),
        spec: spec.clone(),
        machine: Machine::new(std::time::Instant::now()),
        rx,
        state: Arc::new(state_tx),
        shared,
        sinks: [sink(Stream::Stdout), sink(Stream::Stderr)],
        proc: None,
        pgid: None,
        pid_start: None,
        launch: None,
        backoff_at: None,
        stop_at: None,
        draining: None,
        drain_every: Duration::from_millis(10),
        exited_at: None,
        stop_deadline: None,
        strays_signalled: Vec::new(),
        leftovers: Vec::new(),
        captures: Vec::new(),
        probes: Vec::new(),
        probe_tx,
        probe_rx,
        generation: 0,
        quit: None,
    };
    let task = tokio::spawn(actor.run());
    ServiceHandle { spec, tx, state, created_at, follow, task }
}

type Launch = Pin<Box<dyn Future<Output = Result<Child, LaunchError>> + Send>>;
type ExitStatus = (Option<i32>, Option<String>);

/// The process being watched: our child, or an adopted orphan seen through a pidfd.
enum Proc {
    Child(Child),
    Adopted(AsyncFd<OwnedFd>),
}

struct Actor {
    name: String,
    spec: Arc<ServiceSpec>,
    machine: Machine,
    rx: mpsc::Receiver<ActorMsg>,
    state: Arc<watch::Sender<Snapshot>>,
    shared: Shared,
    sinks: [Arc<LogSink>; 2],
    proc: Option<Proc>,
    pgid: Option<u32>,
    pid_start: Option<u64>,
    launch: Option<Launch>,
    backoff_at: Option<Instant>,
    stop_at: Option<Instant>,
    /// The leader exited while stopping but its group lives on: the exit waits here.
    draining: Option<ExitStatus>,
    /// How often the draining group is checked; grows while it lingers.
    drain_every: Duration,
    /// When the process was seen to exit (the machine judges the exit by it).
    exited_at: Option<std::time::Instant>,
    /// When a stop turns to SIGKILL (strays that appear later get it at once).
    stop_deadline: Option<std::time::Instant>,
    /// The strays this stop has signalled already.
    strays_signalled: Vec<u32>,
    /// Groups of crashed instances still being cleaned up; a new launch waits for them.
    leftovers: Vec<(u32, JoinHandle<()>)>,
    /// Output capture tasks, drained before the task ends so no last line is lost.
    captures: Vec<JoinHandle<()>>,
    probes: Vec<JoinHandle<()>>,
    probe_tx: mpsc::Sender<ProbeReport>,
    probe_rx: mpsc::Receiver<ProbeReport>,
    generation: u64,
    quit: Option<oneshot::Sender<()>>,
}

impl Actor {
    async fn run(mut self) {
        loop {
            let input = tokio::select! {
                msg = self.rx.recv() => match msg {
                    Some(msg) => self.on_message(msg),
                    // Every handle is gone: nobody can reach this service; Drop kills its group.
                    None => return,
                },
                exit = wait_proc(&mut self.proc), if self.proc.is_some() => {
                    self.proc = None;
                    match self.pgid {
                        // Stopped only once its group and its strays are gone.
                        Some(g) if self.machine.view.status == Status::Stopping
                            && (group_alive(g) || strays_alive(&self.name)) => {
                            self.draining = Some(exit);
                            self.drain_every = Duration::from_millis(10);
                            continue;
                        }
                        _ => {
                            let at = std::time::Instant::now();
                            // A start someone waits on failed: what it wrote to stderr
                            // goes into the answer, so its pipes are read to their end
                            // first (the waiter is told the exit is being taken in).
                            if self.machine.on_trial(&self.spec, at) {
                                self.state.send_modify(|s| s.exiting = true);
                                let until = tokio::time::Instant::now() + Duration::from_millis(200);
                                for c in self.captures.iter_mut().filter(|c| !c.is_finished()) {
                                    let _ = tokio::time::timeout_at(until, c).await;
                                }
                                self.captures.retain(|c| !c.is_finished());
                            }
                            self.exited_at = Some(at);
                            Some(Input::Exited { code: exit.0, signal: exit.1 })
                        }
                    }
                }
                _ = tokio::time::sleep(self.drain_every), if self.draining.is_some() => {
                    self.drain_every = (self.drain_every * 2).min(Duration::from_millis(200));
                    let strays = self.chase_strays();
                    if self.pgid.is_some_and(group_alive) || strays {
                        continue;
                    }
                    let (code, signal) = self.draining.take().unwrap_or_default();
                    Some(Input::Exited { code, signal })
                }
                res = poll_launch(&mut self.launch), if self.launch.is_some() => {
                    self.launch = None;
                    Some(match res {
                        Ok(child) => self.attach(child),
                        Err(e) => Input::SpawnFailed { reason: e.reason, port: e.port },
                    })
                }
                _ = sleep_until(self.backoff_at.unwrap_or_else(Instant::now)), if self.backoff_at.is_some() => {
                    self.backoff_at = None;
                    Some(Input::BackoffElapsed)
                }
                _ = sleep_until(self.stop_at.unwrap_or_else(Instant::now)), if self.stop_at.is_some() => {
                    self.stop_at = None;
                    Some(Input::StopTimedOut)
                }
                Some(report) = self.probe_rx.recv() => {
                    if report.generation != self.generation {
                        continue;
                    }
                    Some(report.input)
                }
            };
            if let Some(input) = input {
                let _ = self.feed(input);
            }
            if self.quit.is_some() && !self.machine.view.status.is_live() && self.proc.is_none() {
                self.kill_leftovers();
                for c in self.captures.drain(..) {
                    let _ = tokio::time::timeout(Duration::from_secs(2), c).await;
                }
                if let Some(q) = self.quit.take() {
                    let _ = q.send(());
                }
                return;
            }
        }
    }

    /// Handles a request; returns an input when the machine must see one outside a reply.
    #[allow(unsafe_code)] // registering the adopted pidfd with tokio (SAFETY below)
    fn on_message(&mut self, msg: ActorMsg) -> Option<Input> {
        match msg {
            ActorMsg::Control { input, reply } => {
                let _ = reply.send(self.feed(input));
                None
            }
            ActorMsg::Adopt { pid, start_ticks, pidfd } => {
                // SAFETY: an OwnedFd keeps its descriptor open and unchanged for its whole life.
                match unsafe { AsyncFd::register_with_interest(pidfd, tokio::io::Interest::READABLE) } {
                    Ok(fd) => {
                        self.proc = Some(Proc::Adopted(fd));
                        self.pgid = Some(pid);
                        self.pid_start = Some(start_ticks);
                        Some(Input::Adopted { pid })
                    }
                    Err(e) => {
                        let e = e.into_parts().1;
                        tracing::warn!(service = %self.name, pid, error = %e, "cannot watch the adopted process");
                        None
                    }
                }
            }
            ActorMsg::Quit { reply } => {
                self.quit = Some(reply);
                self.machine.view.status.is_live().then_some(Input::Stop)
            }
        }
    }

    /// Strays that appeared during a stop (a descendant that daemonised after
    /// the first signal) get it too, once; SIGKILL once the stop timed out.
    fn chase_strays(&mut self) -> bool {
        let late = self.stop_deadline.is_none_or(|d| std::time::Instant::now() >= d);
        let sig = if late { Signal::SIGKILL } else { os_signal(self.spec.stop_signal) };
        let skip = if late { Vec::new() } else { self.strays_signalled.clone() };
        let (sent, alive) = signal_strays(&self.name, sig, &skip);
        self.strays_signalled.extend(sent);
        alive
    }

    /// Runs one input (and any it causes) through the machine and performs the effects.
    fn feed(&mut self, input: Input) -> Result<(), Refusal> {
        let mut queue = VecDeque::from([input]);
        let mut first = true;
        // An exit is judged by when it happened, not by when its output was read.
        let mut exited_at = self.exited_at.take();
        // Published after the snapshot, so a subscriber that reacts to an event
        // already reads the service as it is after it.
        let mut records = Vec::new();
        while let Some(input) = queue.pop_front() {
            let now = exited_at.take().unwrap_or_else(std::time::Instant::now);
            let outcome = match self.machine.handle(&self.spec, input, now, rand::random::<f64>()) {
                Ok(o) => o,
                Err(refusal) if first => return Err(refusal),
                Err(_) => continue,
            };
            first = false;
            let at = Utc::now();
            for t in outcome.transitions {
                let pid_start = if t.to.is_up() { self.pid_start } else { None };
                records.push(ServiceRecord {
                    event: ServiceEvent {
                        service: self.name.clone(),
                        from: t.from,
                        to: t.to,
                        pid: t.pid,
                        exit_code: t.exit_code,
                        signal: t.signal,
                        reason: t.reason,
                        at,
                    },
                    pid_start,
                    restarts: self.machine.view.restarts,
                });
            }
            for effect in outcome.effects {
                self.apply(effect, &mut queue);
            }
        }
        if self.machine.view.status != Status::Backoff {
            self.backoff_at = None;
        }
        if self.machine.view.status != Status::Stopping {
            self.stop_at = None;
        }
        if self.machine.view.status == Status::Stopped {
            self.kill_leftovers();
        }
        self.publish_snapshot();
        for record in records {
            self.shared.bus.publish(record);
        }
        Ok(())
    }

    fn apply(&mut self, effect: Effect, queue: &mut VecDeque<Input>) {
        match effect {
            Effect::Launch => self.launch = Some(self.prepare_launch()),
            Effect::CancelLaunch => self.launch = None,
            Effect::Signal(s) => {
                self.pgid.into_iter().for_each(|g| signal_group(g, os_signal(s)));
                self.strays_signalled = signal_strays(&self.name, os_signal(s), &[]).0;
                self.stop_deadline = Some(std::time::Instant::now() + self.spec.stop_timeout.0);
            }
            Effect::KillGroup => {
                self.pgid.into_iter().for_each(|g| signal_group(g, Signal::SIGKILL));
                self.strays_signalled = signal_strays(&self.name, Signal::SIGKILL, &[]).0;
                self.stop_deadline = Some(std::time::Instant::now());
            }
            Effect::ArmBackoff(d) if d.is_zero() => queue.push_back(Input::BackoffElapsed),
            Effect::ArmBackoff(d) => self.backoff_at = Some(deadline_after(d)),
            Effect::ArmStopTimeout(d) => self.stop_at = Some(deadline_after(d)),
            Effect::StartProbes => self.start_probes(),
            Effect::StopProbes => {
                self.generation += 1;
                self.probes.drain(..).for_each(|p| p.abort());
            }
            Effect::ReapGroup => {
                if let Some(g) = self.pgid.take()
                    && group_alive(g)
                {
                    // An id is kept only while its clean-up runs, so a reused id is never signalled.
                    self.leftovers.retain(|(_, reap)| !reap.is_finished());
                    let reap = tokio::spawn(reap_group(
                        g,
                        os_signal(self.spec.stop_signal),
                        self.spec.stop_timeout.0,
                    ));
                    self.leftovers.push((g, reap));
                }
                self.pid_start = None;
            }
        }
    }

    /// SIGKILL to every group a crashed instance left behind.
    fn kill_leftovers(&mut self) {
        for (g, reap) in self.leftovers.drain(..) {
            if !reap.is_finished() {
                signal_group(g, Signal::SIGKILL);
            }
        }
    }

    /// The launch: let a crashed instance's leftovers go, wait for dependencies,
    /// check the port, spawn.
    fn prepare_launch(&self) -> Launch {
        let deps: Vec<_> = self.spec.depends_on.iter().map(|(n, c)| (n.clone(), *c)).collect();
        let registry = self.shared.registry.clone();
        let leftovers: Vec<u32> =
            self.leftovers.iter().filter(|(_, reap)| !reap.is_finished()).map(|(g, _)| *g).collect();
        let grace = self.spec.stop_timeout.0 + Duration::from_secs(1);
        let spec = self.spec.clone();
        let state = self.state.clone();
        let name = self.name.clone();
        Box::pin(async move {
            let until = deadline_after(grace);
            for g in leftovers {
                if !wait_group_gone(g, until).await {
                    signal_group(g, Signal::SIGKILL);
                }
            }
            wait_for(deps, registry, |reason| {
                state.send_if_modified(|s| {
                    let new = Some(reason);
                    let changed = s.view.reason != new;
                    s.view.reason = new;
                    changed
                });
            })
            .await;
            if let Some(port) = spec.port {
                check_port(port)?;
            }
            Ok(spawn(&name, &spec)?)
        })
    }

    /// Takes over a freshly spawned child: capture its output, remember its identity.
    fn attach(&mut self, mut child: Child) -> Input {
        let pid = child.id().unwrap_or(0);
        self.captures.retain(|c| !c.is_finished());
        if let Some(out) = child.stdout.take() {
            self.captures.push(tokio::spawn(capture(out, self.sinks[0].clone())));
        }
        if let Some(err) = child.stderr.take() {
            self.captures.push(tokio::spawn(capture(err, self.sinks[1].clone())));
        }
        self.pgid = Some(pid);
        self.pid_start = ctrl_host::children::noted_start(pid);
        self.proc = Some(Proc::Child(child));
        Input::Spawned { pid }
    }

    fn start_probes(&mut self) {
        self.generation += 1;
        let probes = [
            (ProbeKind::Readiness, self.spec.effective_readiness()),
            (ProbeKind::Liveness, self.spec.liveness.clone()),
        ];
        let ctx = probe::ExecContext {
            cwd: self.spec.cwd.clone(),
            env: self.spec.env.clone(),
            user: self.spec.user.clone(),
            group: self.spec.group.clone(),
            limits: self.spec.limits.settings(),
        };
        for (kind, p) in probes.into_iter().filter_map(|(k, p)| p.map(|p| (k, p))) {
            let tx = self.probe_tx.clone();
            self.probes.push(probe::start(kind, p, ctx.clone(), self.generation, tx));
        }
    }

    fn publish_snapshot(&self) {
        let view = &self.machine.view;
        self.state.send_modify(|s| {
            s.exiting = false;
            if s.view.status != view.status {
                s.updated_at = Utc::now();
            }
            s.view.clone_from(view);
        });
    }
}

impl Drop for Actor {
    /// A task that is aborted (a stop that never finished) takes its process and probes with it.
    fn drop(&mut self) {
        self.probes.drain(..).for_each(|p| p.abort());
        if let (Some(Proc::Child(_)), Some(g)) = (&self.proc, self.pgid) {
            signal_group(g, Signal::SIGKILL);
        }
        self.kill_leftovers();
    }
}

async fn poll_launch(launch: &mut Option<Launch>) -> Result<Child, LaunchError> {
    match launch.as_mut() {
        Some(l) => l.await,
        None => std::future::pending().await,
    }
}

/// Waits for the watched process to end; (exit code, signal name).
async fn wait_proc(proc: &mut Option<Proc>) -> ExitStatus {
    use std::os::unix::process::ExitStatusExt;
    match proc.as_mut() {
        Some(Proc::Child(c)) => match c.wait().await {
            Ok(s) => (s.code(), s.signal().map(signal_name)),
            Err(_) => (None, None),
        },
        Some(Proc::Adopted(fd)) => {
            let _ = fd.readable().await;
            (None, None)
        }
        None => std::future::pending().await,
    }
}
