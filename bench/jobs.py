#!/usr/bin/env python3
"""Job runner benchmark: 1,000 queued jobs of a trivial action, a per-second
schedule, and one job's output streamed to 100 followers.

Starts `$OURS_BIN up` on a fresh state dir and measures:

  * queue: 1,000 POST /api/actions/noop (a `sh` that waits for a gate file,
    concurrency 4) sent over one keep-alive connection, so all are queued; then
    the gate opens; throughput = jobs / (last completed_at - gate opened);
    scheduling latency = started_at - due, where due is when
    the job could start: max(its created_at, the moment a slot of the action
    freed up), replaying the FIFO slot queue from the recorded times;
  * schedule: a `* * * * * *` schedule for --schedule-seconds; latency =
    started_at - the cron instant (the whole second the run stands for);
  * followers: 100 SSE clients on /api/jobs/{id}/logs?follow=true of a job
    that prints --lines lines; every follower must get every line; reports the
    time from the first to the last line at the slowest follower, the
    daemon's CPU and peak RSS.

Prints one JSON object (and writes it to --out). Linux only.

  OURS_BIN=target/release/ctrl python3 bench/jobs.py [--jobs 1000] [--followers 100]
"""
import argparse
import datetime
import heapq
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from ctrlapi import Api, pct, proc_cpu_rss, start_daemon

def log(*a):
    print("[jobs]", *a, file=sys.stderr, flush=True)


def ts(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def summary(ms):
    return {"n": len(ms), "p50_ms": round(pct(ms, 50), 2), "p99_ms": round(pct(ms, 99), 2),
            "max_ms": round(max(ms), 2), "mean_ms": round(statistics.mean(ms), 2)}


def wait_all(api, ids, limit=300):
    deadline = time.time() + limit
    pending = set(ids)
    jobs = {}
    while pending and time.time() < deadline:
        for j in api.call("GET", "/api/jobs?limit=1000&action=noop"):
            if j["status"] not in ("queued", "running"):
                jobs[j["id"]] = j
                pending.discard(j["id"])
        if pending:
            time.sleep(0.2)
    if pending:
        raise RuntimeError(f"{len(pending)} jobs did not end")
    return [jobs[i] for i in ids]


def queue_bench(api, n, concurrency):
    # Every job waits for the file `gate`: all of them are queued before any ends.
    t0 = time.time()
    ids = [api.call("POST", "/api/actions/noop", {})["id"] for _ in range(n)]
    submit_s = time.time() - t0
    time.sleep(0.5)
    queued = len(api.call("GET", "/api/jobs?limit=1000&action=noop&status=queued"))
    gate_at = time.time()
    Path(api.workdir, "gate").write_text("")
    jobs = wait_all(api, ids)
    failed = [j for j in jobs if j["status"] != "succeeded"]
    created = [ts(j["created_at"]) for j in jobs]
    started = [ts(j["started_at"]) for j in jobs]
    done = [ts(j["completed_at"]) for j in jobs]
    # Replay the FIFO slots: a job is due when it exists and a slot is free.
    free = [float("-inf")] * concurrency
    latency = []
    for c, s, d in sorted(zip(created, started, done), key=lambda x: x[1]):
        due = max(c, heapq.heappop(free))
        latency.append(max(0.0, s - due) * 1000)
        heapq.heappush(free, d)
    span = max(done) - gate_at
    return {"jobs": n, "concurrency": concurrency, "failed": len(failed), "queued_at_gate": queued,
            "submit_s": round(submit_s, 3), "submit_per_s": round(n / submit_s, 1),
            "drain_s": round(span, 3), "jobs_per_s": round(n / span, 1),
            "due_to_started": summary(latency),
            "run_ms": summary([(d - s) * 1000 for s, d in zip(started, done)])}


def schedule_bench(api, seconds):
    api.call("POST", "/api/schedules", {"name": "tick", "action": "tick", "cron": "* * * * * *"})
    time.sleep(seconds + 1.5)
    api.call("PATCH", "/api/schedules/tick", {"enabled": False})
    time.sleep(1)
    jobs = [j for j in api.call("GET", "/api/jobs?limit=1000&action=tick") if j["started_at"]]
    lat = []
    for j in jobs:
        s = ts(j["started_at"])
        lat.append((s - int(ts(j["created_at"]))) * 1000)
    return {"runs": len(jobs), "seconds": seconds, "cron_instant_to_started": summary(lat)}


def follower(addr, token, job, results, idx, ready):
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    conn.request("GET", f"/api/jobs/{job}/logs?follow=true&lines=0",
                 headers={"Authorization": f"Bearer {token}"})
    res = conn.getresponse()
    ready.release()
    lines, first, last, event, skipped = 0, None, None, None, 0
    for raw in res:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event == "log":
            # Counted without parsing: the client must not be what is measured.
            if '"line":"[ctrl:' in line:
                skipped += 1
                continue
            now = time.time()
            first = first or now
            last = now
            lines += 1
        elif line.startswith("data: ") and event == "job":
            if json.loads(line[6:]).get("completed_at"):
                break
    results[idx] = {"lines": lines, "first": first, "last": last, "skipped_notes": skipped}


def followers_bench(api, addr, token, pid, n, lines):
    gate = api.call("POST", "/api/actions/chatty", {"params": {"n": lines}})
    job = gate["id"]
    results = [None] * n
    ready = threading.Semaphore(0)
    threads = [threading.Thread(target=follower, args=(addr, token, job, results, i, ready), daemon=True)
               for i in range(n)]
    for t in threads:
        t.start()
    for _ in range(n):
        ready.acquire()
    cpu0, _ = proc_cpu_rss(pid)
    t0 = time.time()
    # The job waits for the file `go` so that every follower is in place first.
    Path(api.workdir, "go").write_text("")
    peak = 0
    while any(t.is_alive() for t in threads) and time.time() - t0 < 120:
        peak = max(peak, proc_cpu_rss(pid)[1])
        time.sleep(0.05)
    cpu1, _ = proc_cpu_rss(pid)
    got = [r["lines"] if r else 0 for r in results]
    spans = [(r["last"] - r["first"]) for r in results if r and r["first"]]
    return {"followers": n, "lines": lines, "complete_followers": sum(1 for g in got if g == lines),
            "min_lines": min(got), "skipped_notes": sum(r["skipped_notes"] for r in results if r),
            "slowest_follower_s": round(max(spans), 3) if spans else None,
            "wall_s": round(time.time() - t0, 3), "daemon_cpu_s": round(cpu1 - cpu0, 3),
            "daemon_peak_rss_mib": round(peak / 2**20, 1)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--schedule-seconds", type=int, default=20)
    ap.add_argument("--followers", type=int, default=100)
    ap.add_argument("--lines", type=int, default=20000)
    ap.add_argument("--out")
    a = ap.parse_args()
    binary = os.path.abspath(os.environ.get("OURS_BIN", "target/release/ctrl"))
    work = tempfile.mkdtemp(prefix="ctrl-jobs-bench-")
    Path(work, "ctrl.toml").write_text(f"""
[server]
listen = "127.0.0.1:0"
state_dir = "state"

[actions.noop]
command = ["sh", "-c", "while [ ! -f gate ]; do sleep 0.005; done"]
concurrency = {a.concurrency}

[actions.tick]
command = ["true"]
concurrency = 10

[actions.chatty]
command = ["sh", "-c", "while [ ! -f go ]; do sleep 0.01; done; i=0; while [ $i -lt $1 ]; do i=$((i+1)); echo \\"line $i of the chatty job\\"; done", "chatty", "{{n}}"]
params.n = {{ type = "int", min = 1, max = 1000000 }}
""")
    daemon, addr, token = start_daemon(binary, work)
    try:
        api = Api(addr, token)
        api.workdir = work
        _, rss0 = proc_cpu_rss(daemon.pid)
        log(f"queue: {a.jobs} jobs, concurrency {a.concurrency}")
        queue = queue_bench(api, a.jobs, a.concurrency)
        log(json.dumps(queue))
        log(f"schedule: every second for {a.schedule_seconds} s")
        sched = schedule_bench(api, a.schedule_seconds)
        log(json.dumps(sched))
        log(f"followers: {a.followers} x {a.lines} lines")
        follow = followers_bench(api, addr, token, daemon.pid, a.followers, a.lines)
        log(json.dumps(follow))
        out = {"when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "binary": binary, "cpus": os.cpu_count(), "idle_rss_mib": round(rss0 / 2**20, 1),
               "queue": queue, "schedule": sched, "followers": follow}
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
    text = json.dumps(out, indent=2)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
