#!/usr/bin/env python3
"""The knowledge base of a real `ctrl up`, with ripgrep beside it on the same corpus.

    bench/kb/kb.py --bin target/release/ctrl --small DIR10K --large DIR100K --words WORDS.json --out OUT.json

Measures, on 2 cores:
  - cold index of the small corpus (the first scan job, start to end) and the
    daemon's peak RSS while indexing the large one;
  - a restart with the tree unchanged: the startup scan's time, and that it read nothing;
  - a saved file searchable: write a note with a new word, poll the search API
    until it is found (40 times; p50, p95);
  - /api/knowledge/search on the large corpus, with snippets: p50, p99 over every
    query kind (one keep-alive connection);
  - ripgrep (`rg -l -w WORD`, warm cache) for the same literal words: the floor a
    person compares against.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ctrlapi import Api, start_daemon  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round((len(xs) - 1) * p))]


def daemon(binary, corpus, watch):
    work = tempfile.mkdtemp(prefix="kb-bench-")
    Path(work, "ctrl.toml").write_text(
        '[server]\nlisten = "127.0.0.1:0"\nstate_dir = "state"\n\n'
        f'[knowledge]\nroots = ["{corpus}"]\ncreators = "{corpus}/creators.json"\nwatch = {str(watch).lower()}\n')
    proc, addr, token = start_daemon(binary, work)
    return work, proc, Api(addr, token)


def scan_done(api, after=0, limit=900):
    """The newest scan job with an id above `after`, once it has ended."""
    deadline = time.time() + limit
    while time.time() < deadline:
        jobs = api.call("GET", "/api/knowledge/jobs?limit=1")
        if jobs and jobs[0]["id"] > after and jobs[0]["completed_at"]:
            return jobs[0]
        time.sleep(0.05)
    raise RuntimeError("the scan did not end")


def took(job):
    from datetime import datetime
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(job["completed_at"]) - parse(job["started_at"])).total_seconds()


def stop(proc, work):
    proc.terminate()
    proc.wait(timeout=60)
    shutil.rmtree(work, ignore_errors=True)


def cold_and_restart(binary, corpus):
    work, proc, api = daemon(binary, corpus, watch=False)
    cold = scan_done(api)
    proc.terminate()
    proc.wait(timeout=60)
    Path(work, "state/http.addr").unlink()  # the new daemon writes its own
    t0 = time.perf_counter()
    proc, addr, token = start_daemon(binary, work)
    api = Api(addr, token)
    warm = scan_done(api, after=cold["id"])
    wall = time.perf_counter() - t0
    stop(proc, work)
    return {
        "files": cold["result"]["added"], "cold_index_s": took(cold),
        "restart_scan_s": took(warm), "restart_to_scanned_s": wall,
        "restart_result": {k: warm["result"][k] for k in ("added", "changed", "removed", "unchanged")},
    }


def rss_parts(pid):
    """Resident bytes: all, anonymous (heap), and file-backed (the binary, the index's mapped files)."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key = line.split(":")[0]
            if key in ("VmRSS", "RssAnon", "RssFile"):
                out[key] = int(line.split()[1]) * 1024
    return out


def rss_while_indexing(binary, corpus):
    work, proc, api = daemon(binary, corpus, watch=False)
    peak, stop_flag = {"VmRSS": 0, "RssAnon": 0, "RssFile": 0}, threading.Event()

    def sample():
        while not stop_flag.is_set():
            try:
                for k, v in rss_parts(proc.pid).items():
                    peak[k] = max(peak[k], v)
            except OSError:
                return
            time.sleep(0.05)
    t = threading.Thread(target=sample)
    t.start()
    job = scan_done(api)
    stop_flag.set()
    t.join()
    after = rss_parts(proc.pid)
    return work, proc, api, {"files": job["result"]["added"], "index_s": took(job),
                             "peak_rss_mb": peak["VmRSS"] / 2**20, "peak_anon_mb": peak["RssAnon"] / 2**20,
                             "peak_file_mb": peak["RssFile"] / 2**20, "rss_after_mb": after["VmRSS"] / 2**20,
                             "anon_after_mb": after["RssAnon"] / 2**20}


def searchable_after_save(binary, corpus, n=40):
    work, proc, api = daemon(binary, corpus, watch=True)
    scan_done(api)
    while not api.call("GET", "/api/knowledge/stats")["watching"]:
        time.sleep(0.05)
    lat = []
    folder = Path(corpus, "research")
    for i in range(n):
        word = f"zzsaved{i}x{os.getpid()}"
        path = folder / f"saved-{i}.md"
        t0 = time.perf_counter()
        path.write_text(f"---\ntitle: saved {i}\n---\nA note with {word} in it.\n")
        while True:
            if api.call("GET", f"/api/knowledge/search?q={word}&limit=1")["total"] == 1:
                break
            if time.perf_counter() - t0 > 30:
                raise RuntimeError("a saved note never became searchable")
            time.sleep(0.005)
        lat.append((time.perf_counter() - t0) * 1000)
    for i in range(n):
        Path(folder, f"saved-{i}.md").unlink()
    stop(proc, work)
    return {"saves": n, "p50_ms": pct(lat, 0.5), "p95_ms": pct(lat, 0.95), "max_ms": max(lat)}


def queries(words):
    return {
        "frequent": words["frequent"], "middling": words["middling"], "rare": words["rare"],
        "two_words": [f"{m} {f}" for m, f in zip(words["middling"], words["frequent"])],
        "phrase": [f'"{a} {b}"' for a, b in zip(words["frequent"], words["frequent"][1:])],
        "prefix": [m[:3] + "*" for m in words["middling"]],
        "filtered": [f"{m} agent:coder" for m in words["middling"]],
    }


def search_latency(api, words, rounds=10):
    out, every = {}, []
    for kind, qs in queries(words).items():
        for q in qs:  # warm-up
            api.call("GET", "/api/knowledge/search?q=" + urllib.parse.quote(q))
        ms = []
        for _ in range(rounds):
            for q in qs:
                t0 = time.perf_counter()
                a = api.call("GET", "/api/knowledge/search?q=" + urllib.parse.quote(q))
                ms.append((time.perf_counter() - t0) * 1000)
                assert a["hits"] is not None
        out[kind] = {"p50_ms": pct(ms, 0.5), "p99_ms": pct(ms, 0.99), "n": len(ms)}
        every += ms
    out["all"] = {"p50_ms": pct(every, 0.5), "p99_ms": pct(every, 0.99), "n": len(every)}
    return out


def ripgrep(corpus, words):
    rg = shutil.which("rg")
    if not rg:
        raise RuntimeError("ripgrep is not installed (bench/kb/run installs Debian's ripgrep)")
    out = {}
    for kind in ("frequent", "middling", "rare"):
        ms = []
        for w in words[kind][:5]:
            subprocess.run([rg, "-l", "-w", w, corpus], stdout=subprocess.DEVNULL, check=False)  # warm
            t0 = time.perf_counter()
            subprocess.run([rg, "-l", "-w", w, corpus], stdout=subprocess.DEVNULL, check=False)
            ms.append((time.perf_counter() - t0) * 1000)
        out[kind] = {"p50_ms": statistics.median(ms)}
    out["version"] = subprocess.run([rg, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--small", required=True)
    ap.add_argument("--large", required=True)
    ap.add_argument("--words", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--only-rss", action="store_true", help="index the large corpus and report memory only")
    a = ap.parse_args()
    if a.only_rss:
        work, proc, api, r = rss_while_indexing(a.bin, a.large)
        stop(proc, work)
        print(json.dumps(r))
        return
    words = json.loads(Path(a.words).read_text())
    result = {"small": cold_and_restart(a.bin, a.small)}
    print("small:", json.dumps(result["small"]), flush=True)
    result["save_to_search"] = searchable_after_save(a.bin, a.small)
    print("save:", json.dumps(result["save_to_search"]), flush=True)
    work, proc, api, result["large_index"] = rss_while_indexing(a.bin, a.large)
    print("large:", json.dumps(result["large_index"]), flush=True)
    result["search_large"] = search_latency(api, words)
    print("search:", json.dumps(result["search_large"]), flush=True)
    stop(proc, work)
    result["ripgrep_large"] = ripgrep(a.large, words)
    print("ripgrep:", json.dumps(result["ripgrep_large"]), flush=True)
    Path(a.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
