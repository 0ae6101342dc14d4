#!/usr/bin/env python3
"""Store benchmark: the same daemon on SQLite and on PostgreSQL, in ONE run.

For each backend, `$OURS_BIN up` on a fresh state dir (and, for PostgreSQL, a
fresh database on a server this script starts with scripts/postgres) and:

  * crash loop: 50 services that exit at once and restart after 100 ms, for
    --seconds; every transition is an event the store must persist. Counts the
    events seen live (SSE /api/services/stream), the events stored (each
    service's /events), the events published (ctrl_service_events_total), the writer's backlog at its peak (ctrl_store_events_pending)
    and the drops (ctrl_store_events_dropped_total): lost = published - stored
    (the live stream's count is a floor: it starts after the first starts);
  * API: 2,000 jobs of a trivial action, then `wrk -c32 -t2 --latency` for
    --wrk-seconds on /api/services and on /api/jobs?limit=100: req/s and p99;
  * the daemon's RSS after all of it.

Prints one JSON object (and writes it to --out), and a markdown table with the
PostgreSQL / SQLite ratios to --md. Linux only; needs wrk and PostgreSQL's
binaries (Debian's postgresql package).

  OURS_BIN=target/release/ctrl python3 bench/store.py [--seconds 20] [--wrk-seconds 10]
"""
import argparse
import datetime
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ctrlapi import Api, free_port, proc_cpu_rss, start_daemon

ROOT = Path(__file__).resolve().parent.parent
SERVICES = 50


def log(*a):
    print("[store]", *a, file=sys.stderr, flush=True)


def watch_events(addr, token, counts, stop):
    """Counts the transitions the live stream shows, per service."""
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.request("GET", "/api/services/stream", headers={"Authorization": f"Bearer {token}"})
    res = conn.getresponse()
    name = None
    while not stop.is_set():
        try:
            line = res.fp.readline()
        except (TimeoutError, socket.timeout):
            continue
        if not line:
            return
        line = line.decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: ") and name == "event":
            svc = json.loads(line[6:])["data"]["event"]["service"]
            counts[svc] = counts.get(svc, 0) + 1
        elif line.startswith("data: ") and name == "snapshot":
            counts["_snapshots"] = counts.get("_snapshots", 0) + 1


def wrk(addr, token, path, seconds):
    out = subprocess.run(
        ["wrk", "-c32", "-t2", f"-d{seconds}s", "--latency", "-H", f"Authorization: Bearer {token}",
         f"http://{addr}{path}"], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"req_per_s": round(rps), "p99_ms": round(float(p99.group(1)) * scale, 3),
            "non_2xx": int(errors.group(1)) if errors else 0}


def config(storage):
    services = "".join(f"""
[services.crash{i:02}]
command = ["sh", "-c", "exit 1"]
restart = "always"
backoff = {{ initial = "100ms", max = "100ms" }}
start_limit = {{ burst = 1000000, interval = "1s" }}
""" for i in range(SERVICES))
    return f"""
[server]
listen = "127.0.0.1:0"
state_dir = "state"

{storage}

[actions.noop]
command = ["true"]
concurrency = 8
{services}"""


def run_backend(binary, label, storage, a):
    work = tempfile.mkdtemp(prefix=f"ctrl-store-bench-{label}-")
    Path(work, "ctrl.toml").write_text(config(storage))
    daemon, addr, token = start_daemon(binary, work)
    try:
        api = Api(addr, token)
        counts, stop = {}, threading.Event()
        watcher = threading.Thread(target=watch_events, args=(addr, token, counts, stop), daemon=True)
        watcher.start()

        log(f"{label}: crash loop of {SERVICES} services for {a.seconds} s")
        t0 = time.time()
        peak_pending = 0
        while time.time() - t0 < a.seconds:
            peak_pending = max(peak_pending, api.metric("ctrl_store_events_pending") or 0)
            time.sleep(0.25)
        api.call("POST", "/api/services/stop")
        loop_s = time.time() - t0
        deadline = time.time() + 60
        while (api.metric("ctrl_store_events_pending") or 0) > 0 and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(1)  # the live stream delivers the last stops
        stop.set()
        stored = sum(len(api.call("GET", f"/api/services/crash{i:02}/events?limit=10000"))
                     for i in range(SERVICES))
        seen = sum(v for k, v in counts.items() if not k.startswith("_"))
        published = int(api.metric("ctrl_service_events_total") or 0)
        crash = {"seconds": round(loop_s, 2), "events_published": published, "events_stored": stored,
                 "lost": published - stored, "events_seen_live": seen,
                 "stored_per_s": round(stored / loop_s), "peak_pending": int(peak_pending),
                 "dropped": int(api.metric("ctrl_store_events_dropped_total") or 0),
                 "live_stream_snapshots_after_lag": counts.get("_snapshots", 0) - 1}
        log(f"{label}: {json.dumps(crash)}")

        log(f"{label}: {a.jobs} jobs")
        for _ in range(a.jobs):
            api.call("POST", "/api/actions/noop", {"params": {}})
        deadline = time.time() + 120
        while time.time() < deadline:
            running = api.call("GET", "/api/jobs?status=queued&limit=1") + api.call("GET", "/api/jobs?status=running&limit=1")
            if not running:
                break
            time.sleep(0.2)
        results = {"crash_loop": crash}
        for name, path in [("services", "/api/services"), ("jobs", "/api/jobs?limit=100")]:
            log(f"{label}: wrk {path}")
            results[name] = wrk(addr, token, path, a.wrk_seconds)
            log(f"{label}: {json.dumps(results[name])}")
        results["rss_mib"] = round(proc_cpu_rss(daemon.pid)[1] / 2**20, 1)
        return results
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--wrk-seconds", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=2000)
    ap.add_argument("--out")
    ap.add_argument("--md")
    a = ap.parse_args()
    binary = os.path.abspath(os.environ.get("OURS_BIN", "target/release/ctrl"))
    pg_dir = tempfile.mkdtemp(prefix="ctrl-store-bench-pg-")
    os.chmod(pg_dir, 0o755)
    port = free_port()
    url = subprocess.run([str(ROOT / "scripts/postgres"), "start", f"{pg_dir}/main", str(port), "bench"],
                         capture_output=True, text=True, check=True).stdout.strip()
    try:
        out = {"when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "binary": binary, "cpus": os.cpu_count(), "services": SERVICES,
               "sqlite": run_backend(binary, "sqlite", "", a),
               "postgres": run_backend(binary, "postgres", f'[storage]\nurl = "{url}"', a)}
    finally:
        subprocess.run([str(ROOT / "scripts/postgres"), "stop", f"{pg_dir}/main"], check=False)
    text = json.dumps(out, indent=2)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")
    if a.md:
        s, p = out["sqlite"], out["postgres"]
        rows = [
            ("crash loop: events stored per second", "crash_loop", "stored_per_s", ""),
            ("crash loop: events lost (published − stored)", "crash_loop", "lost", "0"),
            ("crash loop: dropped (counter)", "crash_loop", "dropped", ""),
            ("crash loop: writer's peak backlog (events)", "crash_loop", "peak_pending", ""),
            ("`/api/services` req/s (wrk -c32)", "services", "req_per_s", ""),
            ("`/api/services` p99 ms", "services", "p99_ms", "≤ 1.5x"),
            ("`/api/jobs?limit=100` req/s", "jobs", "req_per_s", ""),
            ("`/api/jobs?limit=100` p99 ms", "jobs", "p99_ms", "≤ 1.5x"),
        ]
        lines = ["| Metric | SQLite | PostgreSQL | PostgreSQL / SQLite | target |", "|---|---|---|---|---|"]
        for title, group, key, target in rows:
            sv, pv = s[group][key], p[group][key]
            ratio = f"{pv / sv:.2f}x" if isinstance(sv, (int, float)) and isinstance(pv, (int, float)) and sv else "-"
            lines.append(f"| {title} | {sv} | {pv} | {ratio} | {target} |")
        lines.append(f"| daemon RSS after the run (MiB) | {s['rss_mib']} | {p['rss_mib']} | "
                     f"{p['rss_mib'] / s['rss_mib']:.2f}x | |")
        Path(a.md).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
