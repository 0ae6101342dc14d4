//! Table-style tests of the service rules, with time passed in.

use std::time::{Duration, Instant};

use super::*;
use crate::config::{Command, RestartPolicy, ServiceSpec};

fn spec(restart: RestartPolicy) -> ServiceSpec {
    let text = format!(
        "command = [\"x\"]\nrestart = \"{}\"\n",
        match restart {
            RestartPolicy::Always => "always",
            RestartPolicy::OnFailure => "on-failure",
            RestartPolicy::Never => "never",
        }
    );
    let s: ServiceSpec = toml::from_str(&text).unwrap();
    assert_eq!(s.command, Command::Argv(vec!["x".into()]));
    s
}

fn started(spec: &ServiceSpec, now: Instant) -> Machine {
    let mut m = Machine::new(now);
    m.handle(spec, Input::Start { reason: "test".into(), trial: false }, now, 0.0).unwrap();
    m.handle(spec, Input::Spawned { pid: 42 }, now, 0.0).unwrap();
    assert_eq!(m.view.status, Status::Running);
    m
}

fn to_states(o: &Outcome) -> Vec<Status> {
    o.transitions.iter().map(|t| t.to).collect()
}

#[test]
fn start_launches_then_spawn_runs() {
    let s = spec(RestartPolicy::OnFailure);
    let now = Instant::now();
    let mut m = Machine::new(now);
    let o = m.handle(&s, Input::Start { reason: "autostart".into(), trial: false }, now, 0.0).unwrap();
    assert_eq!(to_states(&o), [Status::Starting]);
    assert_eq!(o.effects, [Effect::Launch]);
    let o = m.handle(&s, Input::Spawned { pid: 7 }, now, 0.0).unwrap();
    assert_eq!(to_states(&o), [Status::Running]);
    assert_eq!(o.transitions[0].pid, Some(7), "the event names the new pid");
    assert_eq!(m.view.pid, Some(7));
    assert_eq!(o.effects, [Effect::StartProbes]);
}

#[test]
fn start_of_live_service_is_refused() {
    let s = spec(RestartPolicy::OnFailure);
    let now = Instant::now();
    let mut m = started(&s, now);
    let err = m.handle(&s, Input::Start { reason: "again".into(), trial: false }, now, 0.0).unwrap_err();
    assert_eq!(err, Refusal::AlreadyRunning(Status::Running));
    assert_eq!(err.to_string(), "service is already running");
}

#[test]
fn exit_policies() {
    // (policy, exit code, signal, expected states after the exit)
    type Row<'a> = (RestartPolicy, Option<i32>, Option<&'a str>, &'a [Status]);
    let table: &[Row] = &[
        (RestartPolicy::OnFailure, Some(0), None, &[Status::Completed]),
        (RestartPolicy::OnFailure, Some(3), None, &[Status::Exited, Status::Backoff]),
        (RestartPolicy::OnFailure, None, Some("SIGKILL"), &[Status::Exited, Status::Backoff]),
        (RestartPolicy::Never, Some(0), None, &[Status::Completed]),
        (RestartPolicy::Never, Some(1), None, &[Status::Exited]),
        (RestartPolicy::Always, Some(0), None, &[Status::Exited, Status::Backoff]),
    ];
    for (policy, code, signal, want) in table {
        let s = spec(*policy);
        let now = Instant::now();
        let mut m = started(&s, now);
        let o =
            m.handle(&s, Input::Exited { code: *code, signal: signal.map(str::to_owned) }, now, 0.0).unwrap();
        assert_eq!(to_states(&o), *want, "{policy:?} {code:?} {signal:?}");
        assert_eq!(o.transitions[0].exit_code, *code);
        assert_eq!(o.transitions[0].signal.as_deref(), *signal);
        assert_eq!(o.transitions[0].pid, Some(42));
        assert_eq!(m.view.pid, None);
    }
}

#[test]
fn backoff_doubles_and_caps() {
    let mut s = spec(RestartPolicy::Always);
    s.start_limit.burst = 100;
    let now = Instant::now();
    let mut m = started(&s, now);
    let mut delays = Vec::new();
    for _ in 0..9 {
        let o = m.handle(&s, Input::Exited { code: Some(1), signal: None }, now, 0.0).unwrap();
        let Some(Effect::ArmBackoff(d)) = o.effects.last().cloned() else { panic!("{o:?}") };
        delays.push(d.as_millis());
        m.handle(&s, Input::BackoffElapsed, now, 0.0).unwrap();
        m.handle(&s, Input::Spawned { pid: 43 }, now, 0.0).unwrap();
    }
    assert_eq!(delays, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    assert_eq!(m.view.restarts, 9);
}

#[test]
fn jitter_shortens_by_at_most_a_fifth() {
    let b = crate::config::Backoff::default();
    assert_eq!(backoff_delay(&b, 0, 0.0), Duration::from_millis(500));
    assert_eq!(backoff_delay(&b, 0, 0.5), Duration::from_millis(450));
    assert!(backoff_delay(&b, 10, 0.999) > Duration::from_secs(24));
    assert!(backoff_delay(&b, 10, 0.999) <= Duration::from_secs(30));
}

#[test]
fn long_run_resets_backoff() {
    let s = spec(RestartPolicy::Always);
    let t0 = Instant::now();
    let mut m = started(&s, t0);
    m.handle(&s, Input::Exited { code: Some(1), signal: None }, t0, 0.0).unwrap();
    m.handle(&s, Input::BackoffElapsed, t0, 0.0).unwrap();
    m.handle(&s, Input::Spawned { pid: 2 }, t0, 0.0).unwrap();
    let later = t0 + Duration::from_secs(31);
    let o = m.handle(&s, Input::Exited { code: Some(1), signal: None }, later, 0.0).unwrap();
    assert_eq!(o.effects.last(), Some(&Effect::ArmBackoff(Duration::from_millis(500))));
}

#[test]
fn start_limit_goes_fatal_and_manual_start_clears_it() {
    let s = spec(RestartPolicy::Always); // burst 5 within 60s
    let now = Instant::now();
    let mut m = started(&s, now);
    let mut last = Outcome::default();
    for i in 0..5 {
        last = m.handle(&s, Input::Exited { code: Some(1), signal: None }, now, 0.0).unwrap();
        if i < 4 {
            m.handle(&s, Input::BackoffElapsed, now, 0.0).unwrap();
            m.handle(&s, Input::Spawned { pid: 50 + i }, now, 0.0).unwrap();
        }
    }
    assert_eq!(to_states(&last), [Status::Exited, Status::Fatal]);
    assert!(last.transitions[1].reason.as_deref().unwrap().contains("5 starts within 1m"));
    assert!(last.effects.iter().all(|e| !matches!(e, Effect::ArmBackoff(_))));
    // Starts outside the window do not count.
    let mut m2 = started(&s, now);
    let late = now + Duration::from_secs(61);
    let o = m2.handle(&s, Input::Exited { code: Some(1), signal: None }, late, 0.0).unwrap();
    assert_eq!(to_states(&o), [Status::Exited, Status::Backoff]);
    // A manual start clears fatal.
    let o = m.handle(&s, Input::Start { reason: "by hand".into(), trial: false }, now, 0.0).unwrap();
    assert_eq!(to_states(&o), [Status::Starting]);
}

#[test]
fn stop_signals_group_then_escalates() {
    let s = spec(RestartPolicy::Always);
    let now = Instant::now();
    let mut m = started(&s, now);
    let o = m.handle(&s, Input::Stop, now, 0.0).unwrap();
    assert_eq!(to_states(&o), [Status::Stopping]);
    assert_eq!(
        o.effects,
        [
            Effect::StopProbes,
            Effect::Signal(crate::config::StopSignal::Term),
            Effect::ArmStopTimeout(Duration::from_secs(10))
        ]
    );
    let o = m.handle(&s, Input::StopTimedOut, now, 0.0).unwrap();
    assert_eq!(o.effects, [Effect::KillGroup]);
    let o = m.handle(&s, Input::Exited { code: None, signal: Some("SIGKILL".into()) }, now, 0.0).unwrap();
    assert_eq!(to_states(&o), [Status::Stopped], "a stop is never followed by a restart");
    assert_eq!(o.transitions[0].signal.as_deref(), Some("SIGKILL"));
    assert_eq!(m.handle(&s, Input::Stop, now, 0.0).unwrap_err(), Refusal::AlreadyStopped);
}

#[test]
fn stop_while_waiting_cancels_launch() {
    let s = spec(RestartPolicy::Always);
    let now = Instant::now();
    let mut m = Machine::new(now);
    m.handle(&s, Input::Start { reason: "x".into(), trial: false }, now, 0.0).unwrap();
    let o = m.handle(&s, Input::Stop, now, 0.0).unwrap();
    assert_eq!(o.effects, [Effect::CancelLaunch]);
    assert_eq!(m.view.status, Status::Stopped);
    // A spawn that raced the cancel is killed, not adopted.
    let o = m.handle(&s, Input::Spawned { pid: 9 }, now, 0.0).unwrap();
    assert_eq!(o.effects, [Effect::KillGroup]);
    assert_eq!(m.view.status, Status::Stopped);
}

#[test]
fn restart_stops_then_launches() {
    let s = spec(RestartPolicy::Never);
    let now = Instant::now();
    let mut m = started(&s, now);
    m.handle(&s, Input::Restart { trial: false }, now, 0.0).unwrap();
    assert_eq!(m.view.status, Status::Stopping);
    let o = m.handle(&s, Input::Exited { code: None, signal: Some("SIGTERM".into()) }, now, 0.0).unwrap();
    assert_eq!(to_states(&o), [Status::Stopped, Status::Starting]);
    assert!(o.effects.contains(&Effect::Launch));
    assert_eq!(m.view.restarts, 1);
    // Restart of a stopped service is a start.
    let mut m = Machine::new(now);
    let o = m.handle(&s, Input::Restart { trial: false }, now, 0.0).unwrap();
    assert_eq!(to_states(&o), [Status::Starting]);
}

#[test]
fn readiness_and_liveness() {
    let s = spec(RestartPolicy::Always);
    let now = Instant::now();
    let mut m = started(&s, now);
    let o = m.handle(&s, Input::ReadinessPassed, now, 0.0).unwrap();
    assert_eq!(to_states(&o), [Status::Ready]);
    assert_eq!(m.view.health, Health::Healthy);
    let o = m.handle(&s, Input::ReadinessFailed { reason: "refused".into() }, now, 0.0).unwrap();
    assert_eq!(to_states(&o), [Status::Running]);
    assert_eq!(m.view.health, Health::Unhealthy);
    let o = m.handle(&s, Input::LivenessFailed { reason: "timeout".into() }, now, 0.0).unwrap();
    assert_eq!(to_states(&o), [Status::Stopping]);
    assert_eq!(o.transitions[0].reason.as_deref(), Some("liveness failed: timeout; restarting"));
    let o = m.handle(&s, Input::Exited { code: None, signal: Some("SIGTERM".into()) }, now, 0.0).unwrap();
    assert_eq!(to_states(&o), [Status::Stopped, Status::Starting]);
}

#[test]
fn spawn_failure_counts_as_a_failed_start() {
    let s = spec(RestartPolicy::Never);
    let now = Instant::now();
    let mut m = Machine::new(now);
    m.handle(&s, Input::Start { reason: "x".into(), trial: false }, now, 0.0).unwrap();
    let o = m
        .handle(
            &s,
            Input::SpawnFailed { reason: "port 8000 is held by pid 1 (init)".into(), port: None },
            now,
            0.0,
        )
        .unwrap();
    assert_eq!(to_states(&o), [Status::Exited]);
    assert_eq!(m.view.reason.as_deref(), Some("port 8000 is held by pid 1 (init)"));
}

#[test]
fn late_timers_are_ignored() {
    let s = spec(RestartPolicy::Always);
    let now = Instant::now();
    let mut m = started(&s, now);
    assert_eq!(m.handle(&s, Input::BackoffElapsed, now, 0.0).unwrap(), Outcome::default());
    assert_eq!(m.handle(&s, Input::StopTimedOut, now, 0.0).unwrap(), Outcome::default());
    assert_eq!(m.view.status, Status::Running);
}

#[test]
fn status_words_round_trip() {
    for s in Status::ALL {
        assert_eq!(Status::parse(s.as_str()), Some(s));
    }
}

fn on_trial(spec: &ServiceSpec, now: Instant) -> Machine {
    let mut m = Machine::new(now);
    m.handle(spec, Input::Start { reason: "started by request".into(), trial: true }, now, 0.0).unwrap();
    m
}

#[test]
fn a_requested_start_that_fails_before_it_is_up_is_final() {
    let s = spec(RestartPolicy::Always);
    let now = Instant::now();
    // The port is taken: fatal at once, the holder kept for the answer.
    let mut m = on_trial(&s, now);
    let holder = PortHolder { port: 8000, pid: Some(1), process: Some("init".into()) };
    let o = m
        .handle(
            &s,
            Input::SpawnFailed { reason: "port 8000 is in use".into(), port: Some(holder.clone()) },
            now,
            0.0,
        )
        .unwrap();
    assert_eq!(to_states(&o), [Status::Fatal]);
    assert!(o.effects.is_empty(), "no backoff armed: {:?}", o.effects);
    assert_eq!(m.view.port_holder, Some(holder));
    assert!(m.view.reason.as_deref().unwrap().starts_with("port 8000 is in use; not restarted"));

    // An exit within the start window (1 s without readiness): fatal, not retried.
    let mut m = on_trial(&s, now);
    m.handle(&s, Input::Spawned { pid: 9 }, now, 0.0).unwrap();
    assert!(
        m.on_trial(&s, now) && !m.on_trial(&s, now + Duration::from_secs(1)),
        "the trial ends with the window"
    );
    let later = now + Duration::from_millis(300);
    let o = m.handle(&s, Input::Exited { code: Some(3), signal: None }, later, 0.0).unwrap();
    assert_eq!(to_states(&o), [Status::Fatal]);
    assert_eq!(m.view.exit_code, Some(3));
    assert_eq!(
        m.view.reason.as_deref(),
        Some("exited with code 3 during start-up; not restarted: fix it and start it again")
    );
    assert!(!o.effects.iter().any(|e| matches!(e, Effect::ArmBackoff(_))));

    // The same exit after the window is a crash: the policy restarts it.
    let mut m = on_trial(&s, now);
    m.handle(&s, Input::Spawned { pid: 9 }, now, 0.0).unwrap();
    let o = m
        .handle(&s, Input::Exited { code: Some(3), signal: None }, now + Duration::from_secs(2), 0.0)
        .unwrap();
    assert_eq!(to_states(&o), [Status::Exited, Status::Backoff]);

    // Not on trial (autostart): the policy as always.
    let mut m = started(&s, now);
    let o = m.handle(&s, Input::Exited { code: Some(3), signal: None }, later, 0.0).unwrap();
    assert_eq!(to_states(&o), [Status::Exited, Status::Backoff]);
}

#[test]
fn a_one_shot_that_completes_during_its_window_is_a_success() {
    let s = spec(RestartPolicy::OnFailure);
    let now = Instant::now();
    let mut m = on_trial(&s, now);
    m.handle(&s, Input::Spawned { pid: 9 }, now, 0.0).unwrap();
    let o = m.handle(&s, Input::Exited { code: Some(0), signal: None }, now, 0.0).unwrap();
    assert_eq!(to_states(&o), [Status::Completed]);
}

#[test]
fn readiness_ends_the_trial_and_a_restart_is_on_trial_again() {
    let s: ServiceSpec = toml::from_str("command = [\"x\"]\nport = 8000\nrestart = \"always\"\n").unwrap();
    assert_eq!(s.start_window(), Duration::from_secs(30), "with a readiness probe: 30 s to be ready");
    let now = Instant::now();
    let mut m = on_trial(&s, now);
    m.handle(&s, Input::Spawned { pid: 9 }, now, 0.0).unwrap();
    m.handle(&s, Input::ReadinessPassed, now, 0.0).unwrap();
    assert!(!m.on_trial(&s, now));
    let o = m.handle(&s, Input::Exited { code: Some(1), signal: None }, now, 0.0).unwrap();
    assert_eq!(to_states(&o), [Status::Exited, Status::Backoff], "up, then a crash: restarted");

    // A requested restart: the new start is on trial; a liveness restart's is not.
    let mut m = on_trial(&s, now);
    m.handle(&s, Input::Spawned { pid: 9 }, now, 0.0).unwrap();
    m.handle(&s, Input::ReadinessPassed, now, 0.0).unwrap();
    m.handle(&s, Input::Restart { trial: true }, now, 0.0).unwrap();
    m.handle(&s, Input::Exited { code: None, signal: Some("SIGTERM".into()) }, now, 0.0).unwrap();
    assert!(m.on_trial(&s, now));
    m.handle(&s, Input::Spawned { pid: 10 }, now, 0.0).unwrap();
    m.handle(&s, Input::ReadinessPassed, now, 0.0).unwrap();
    m.handle(&s, Input::LivenessFailed { reason: "no answer".into() }, now, 0.0).unwrap();
    m.handle(&s, Input::Exited { code: None, signal: Some("SIGTERM".into()) }, now, 0.0).unwrap();
    assert_eq!(m.view.status, Status::Starting);
    assert!(!m.on_trial(&s, now));
}
