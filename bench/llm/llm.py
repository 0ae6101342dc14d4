#!/usr/bin/env python3
"""The LLM gateway of a real `ctrl up` and the LiteLLM proxy, in front of the same fast
fake upstream, in one run on this machine.

    bench/llm/llm.py --bin target/release/ctrl --tools DIR --litellm VENV/bin/litellm --out OUT.json

For each target (the fake upstream called directly, ctrl, LiteLLM) and each mode
(whole answers, streams of 10 chunks) at 1,000 and 5,000 requests/s for 15 s:
latency p50/p90/p99 and time to first byte, from an open-loop load (bench/llm/fake's
llm-load: no coordinated omission). Overhead = the target's percentile minus the
direct call's. Then the most each sustains (wrk, 32 connections, 15 s), ctrl's own
overhead histogram, and ctrl's RSS over 1,000,000 requests with every usage row
checked against the answers counted by the load tool. ctrl runs with interaction
logging and accounting on and the cache off (every call goes upstream).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ctrlapi import Api, free_port, proc_cpu_rss, start_daemon  # noqa: E402

WHOLE = {"model": "bench", "max_tokens": 32, "messages": [{"role": "user", "content": "Say something about foxes."}]}
STREAM = dict(WHOLE, stream=True)
RATES = [1000, 5000]
SECONDS = 15
CONNECTIONS = 64


def wait_http(url, limit=60, headers=None):
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            req = urllib.request.Request(url, headers=headers or {})
            with urllib.request.urlopen(req, timeout=2) as r:
                if r.status < 500:
                    return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} never answered")


def load(tools, url, body, rate, seconds, token=None):
    args = [f"{tools}/llm-load", url, json.dumps(body), str(rate), str(seconds), str(CONNECTIONS)]
    if token:
        args.append(token)
    out = subprocess.run(args, capture_output=True, text=True, timeout=seconds * 20 + 120, check=True)
    return json.loads(out.stdout)


def wrk(url, body, token=None, seconds=15):
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    auth = f'wrk.headers["Authorization"] = "Bearer {token}"\n' if token else ""
    script.write(f'wrk.method = "POST"\nwrk.body = {json.dumps(json.dumps(body))}\n'
                 f'wrk.headers["Content-Type"] = "application/json"\n{auth}')
    script.close()
    out = subprocess.run(["wrk", "-t1", "-c32", f"-d{seconds}s", "-s", script.name, url],
                         capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "requests": total, "non_2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": errors.group(1) if errors else None}


def overhead_histogram(api):
    """p50 and p99 (bucket upper bounds, ms) of ctrl_llm_overhead_seconds."""
    _, text = api.raw("GET", "/metrics")
    buckets = []
    for m in re.finditer(r'ctrl_llm_overhead_seconds_bucket\{le="([^"]+)"\} (\d+)', text.decode()):
        le = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
        buckets.append((le, int(m.group(2))))
    buckets.sort()
    total = buckets[-1][1] if buckets else 0

    def q(p):
        for le, n in buckets:
            if n >= p * total:
                return le * 1000
        return None
    return {"count": total, "p50_le_ms": q(0.5), "p99_le_ms": q(0.99), "p999_le_ms": q(0.999)}


def usage_calls(api):
    rows = api.call("GET", "/api/llm/usage?group_by=model")
    return sum(r["calls"] for r in rows if r["model"] == "bench")


def dropped(api):
    _, text = api.raw("GET", "/metrics")
    m = re.search(r"ctrl_llm_log_dropped_total (\d+)", text.decode())
    return int(m.group(1)) if m else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--tools", required=True, help="folder with llm-fake and llm-load")
    ap.add_argument("--litellm", required=True, help="the litellm command")
    ap.add_argument("--out", required=True)
    ap.add_argument("--million", type=int, default=1_000_000)
    a = ap.parse_args()
    result = {"rates": RATES, "seconds": SECONDS, "connections": CONNECTIONS, "cores": os.cpu_count()}

    fake_port = free_port()
    fake = subprocess.Popen([f"{a.tools}/llm-fake", str(fake_port), "10"])
    wait_http(f"http://127.0.0.1:{fake_port}/v1/models")
    upstream = f"http://127.0.0.1:{fake_port}/v1"

    work = tempfile.mkdtemp(prefix="llm-bench-")
    Path(work, "ctrl.toml").write_text(
        '[server]\nlisten = "127.0.0.1:0"\nstate_dir = "state"\n\n'
        '[llm]\ncache_ttl = "0"\nlog_interactions = true\n\n'
        f'[llm.upstreams.fake]\nurl = "{upstream}"\nmodels = ["*"]\n\n'
        '[llm.prices.bench]\ninput_per_1m = 1.0\noutput_per_1m = 2.0\n')
    ctrl, addr, token = start_daemon(a.bin, work)
    api = Api(addr, token)
    ctrl_url = f"http://{addr}/v1/chat/completions"
    wait_http(f"http://{addr}/health")
    result["ctrl_idle_rss_mb"] = proc_cpu_rss(ctrl.pid)[1] / 2**20

    lite_port = free_port()
    lite_dir = tempfile.mkdtemp(prefix="litellm-bench-")
    Path(lite_dir, "config.yaml").write_text(
        "model_list:\n  - model_name: bench\n    litellm_params:\n      model: openai/bench\n"
        f"      api_base: {upstream}\n      api_key: none\n")
    lite = subprocess.Popen([a.litellm, "--config", f"{lite_dir}/config.yaml", "--host", "127.0.0.1",
                             "--port", str(lite_port)], cwd=lite_dir, stdout=subprocess.DEVNULL,
                            stderr=open(f"{lite_dir}/litellm.log", "w"), env=dict(os.environ, LITELLM_LOG="ERROR"))
    wait_http(f"http://127.0.0.1:{lite_port}/health/liveliness", limit=180)
    lite_url = f"http://127.0.0.1:{lite_port}/v1/chat/completions"
    result["litellm_version"] = subprocess.run([a.litellm, "--version"], capture_output=True, text=True).stdout.strip()[-40:]

    targets = [("direct", f"{upstream}/chat/completions", None), ("ctrl", ctrl_url, token), ("litellm", lite_url, None)]
    answered_by_ctrl = 0
    latency = {}
    try:
        # Warm up each (connections, caches, Python imports).
        for name, url, tok in targets:
            load(a.tools, url, WHOLE, 200, 2, tok)
            if name == "ctrl":
                answered_by_ctrl += 400
        for mode, body in (("whole", WHOLE), ("stream", STREAM)):
            for rate in RATES:
                for name, url, tok in targets:
                    key = f"{name}/{mode}/{rate}"
                    if name == "litellm" and rate > RATES[0] and latency.get(f"litellm/{mode}/{RATES[0]}", {}).get("kept_up") is False:
                        latency[key] = {"skipped": f"could not keep up with {RATES[0]}/s"}
                        continue
                    before = dropped(api) if name == "ctrl" else None
                    r = load(a.tools, url, body, rate, SECONDS if name != "litellm" else 10, tok)
                    r["kept_up"] = r["errors"] == 0 and r["achieved_rps"] >= 0.9 * rate
                    if name == "ctrl":
                        r["log_rows_dropped"] = dropped(api) - before
                    latency[key] = r
                    if name == "ctrl":
                        answered_by_ctrl += r["ok"]
                    print(key, json.dumps(r), flush=True)
        result["latency"] = latency
        over = {}
        for mode in ("whole", "stream"):
            for rate in RATES:
                d, c = latency[f"direct/{mode}/{rate}"], latency[f"ctrl/{mode}/{rate}"]
                row = {f"ctrl_{p}": round(c[f"{p}_ms"] - d[f"{p}_ms"], 4) for p in ("p50", "p90", "p99")}
                row["ctrl_ttfb_p50"] = round(c["ttfb_p50_ms"] - d["ttfb_p50_ms"], 4)
                row["ctrl_ttfb_p99"] = round(c["ttfb_p99_ms"] - d["ttfb_p99_ms"], 4)
                lt = latency.get(f"litellm/{mode}/{rate}", {})
                if "p50_ms" in lt:
                    row.update({f"litellm_{p}": round(lt[f"{p}_ms"] - d[f"{p}_ms"], 4) for p in ("p50", "p99")})
                over[f"{mode}/{rate}"] = row
        result["overhead_ms"] = over
        result["ctrl_overhead_histogram"] = overhead_histogram(api)

        result["max_rps"] = {}
        for name, url, tok in targets:
            before = dropped(api) if name == "ctrl" else None
            w = wrk(url, WHOLE, tok)
            if name == "ctrl":
                w["log_rows_dropped"] = dropped(api) - before
            result["max_rps"][name] = w
            if name == "ctrl":
                answered_by_ctrl = None  # wrk's cut-off requests may or may not have been answered
            print("max", name, json.dumps(w), flush=True)
        result["throughput_ratio_ctrl_to_litellm"] = round(result["max_rps"]["ctrl"]["rps"] / result["max_rps"]["litellm"]["rps"], 1)
        lite.terminate()
        lite.wait(timeout=60)

        # A million calls, in steps, at 80% of what ctrl sustained: RSS after each step,
        # and usage counted against the answers.
        rate = int(result["max_rps"]["ctrl"]["rps"] * 0.8)
        time.sleep(2)
        before = usage_calls(api)
        dropped_before = dropped(api)
        steps, done = [], 0
        step = 100_000
        while done < a.million:
            n = min(step, a.million - done)
            r = load(a.tools, ctrl_url, WHOLE, rate, n / rate, token)
            done += r["sent"]
            steps.append({"requests": done, "ok": r["ok"], "rss_mb": round(proc_cpu_rss(ctrl.pid)[1] / 2**20, 2),
                          "p99_ms": r["p99_ms"]})
            print("million", json.dumps(steps[-1]), flush=True)
        ok = sum(s["ok"] for s in steps)
        time.sleep(2.5)  # usage is written once a second
        after = usage_calls(api)
        first, last = steps[0]["rss_mb"], steps[-1]["rss_mb"]
        result["million"] = {"rate": rate, "steps": steps, "answered": ok, "usage_calls_added": after - before,
                             "usage_lost": ok - (after - before), "rss_first_step_mb": first, "rss_last_step_mb": last,
                             "rss_growth_pct": round(100 * (last - first) / first, 2),
                             "log_rows_dropped": dropped(api) - dropped_before}
    finally:
        for p in (lite, ctrl, fake):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(lite_dir, ignore_errors=True)
    Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("overhead_ms", "max_rps", "throughput_ratio_ctrl_to_litellm")}, indent=1))


if __name__ == "__main__":
    main()
