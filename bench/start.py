#!/usr/bin/env python3
"""Start that reports its outcome: how long after a service's readiness probe
passes does `POST /api/services/{name}/start` answer?

Starts `$OURS_BIN up` on a fresh state dir with one HTTP service whose readiness
probe is an HTTP check every 100 ms, then --runs times: POST start (which waits
until the service is ready), note when the answer arrived, read the service's
`ready` event (when the daemon saw the probe pass), POST stop. Reports the gap
answer - probe passed (target: under 50 ms) and the whole start, p50/p95/max.

Prints one JSON object (and writes it to --out). Linux only.

  OURS_BIN=target/release/ctrl python3 bench/start.py [--runs 30]
"""
import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
import time

from ctrlapi import Api, free_port, pct, start_daemon

SERVER = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--out")
    a = ap.parse_args()
    binary = os.environ.get("OURS_BIN", "target/release/ctrl")
    with tempfile.TemporaryDirectory() as work:
        port = free_port()
        with open(f"{work}/server.py", "w") as f:
            f.write(SERVER)
        with open(f"{work}/ctrl.toml", "w") as f:
            f.write(f"""[server]
listen = "127.0.0.1:0"
state_dir = "state"

[services.web]
command = ["python3", "{work}/server.py", "{port}"]
autostart = false
readiness = {{ http = "http://127.0.0.1:{port}/", interval = "100ms", timeout = "1s" }}
""")
        daemon, addr, token = start_daemon(binary, work)
        try:
            api = Api(addr, token)
            gaps, totals = [], []
            for _ in range(a.runs):
                t0 = time.time()
                status, body = api.raw("POST", "/api/services/web/start")
                t1 = time.time()
                state = json.loads(body)["data"]["status"]
                if status != 200 or state != "ready":
                    raise RuntimeError(f"start answered {status} {state}")
                events = api.call("GET", "/api/services/web/events?limit=10")
                ready = [e for e in events if e["to"] == "ready"][-1]
                at = datetime.datetime.fromisoformat(ready["at"].replace("Z", "+00:00")).timestamp()
                gaps.append((t1 - at) * 1000)
                totals.append((t1 - t0) * 1000)
                api.call("POST", "/api/services/web/stop")
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
    out = {
        "runs": a.runs,
        "answer_after_probe_passed_ms": {"p50": round(pct(gaps, 50), 2), "p95": round(pct(gaps, 95), 2),
                                         "max": round(max(gaps), 2)},
        "start_to_answer_ms": {"p50": round(pct(totals, 50), 1), "p95": round(pct(totals, 95), 1),
                               "max": round(max(totals), 1)},
        "target_ms": 50,
        "mean_gap_ms": round(statistics.mean(gaps), 2),
    }
    text = json.dumps(out, indent=2)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
