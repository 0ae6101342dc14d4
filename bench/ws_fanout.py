#!/usr/bin/env python3
"""WebSocket fan-out of the live stats stream (`WS /api/system/ws`).

Starts `$OURS_BIN up` with no services and ws_interval = 1 s, opens N clients
(default 1000, in batches so the connect storm is not what is measured),
keeps them subscribed for --duration seconds and measures:

  * delivery: messages per client, and whether every client got every sample
    broadcast during the window (see "Completeness" below);
  * the daemon's cost: CPU (% of one core, from utime+stime in /proc/PID/stat,
    sampled every second) and RSS (VmRSS from /proc/PID/status);
  * connection errors and unexpected closes;
  * how long the daemon takes to exit on SIGTERM with every client still connected.

Completeness. A "sample" is one distinct `data.timestamp` value (the daemon
may send the same sample twice when its publish tick and the monitor's sample
tick drift past each other; that is not a new sample). The measured window is
[t0, t0 + duration], t0 being a short settle time after the last client
connected. The samples of the window are the distinct timestamps whose FIRST
arrival at any client falls inside it (the union over clients, so a broadcast
straddling the window edge is counted once, for every client). A client
"received every sample" if its own set of timestamps contains every window
sample that first arrived while it was connected (a client that closed early
is judged up to its close, and is also reported in `unexpected_closes`).
Clients keep listening for --grace seconds after the window, so a late
delivery of the last sample still counts.

Prints one JSON object on stdout (and writes it to --out). Linux only.

  OURS_BIN=target/release/ctrl python3 bench/ws_fanout.py [--clients 1000] [--duration 60]
"""
import argparse
import asyncio
import collections
import datetime
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

try:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed
except ImportError:
    sys.exit("ws_fanout.py needs the `websockets` package (>= 13): pip install websockets")

CLK_TCK = os.sysconf("SC_CLK_TCK")
TS_KEY = '"timestamp":"'


def log(*a):
    print("[ws_fanout]", *a, file=sys.stderr, flush=True)


def raise_nofile():
    """Soft RLIMIT_NOFILE up to the hard limit (used for us and, via preexec_fn, the daemon)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def proc_cpu_ticks(pid):
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return int(fields[11]) + int(fields[12])          # utime + stime, all threads


def proc_rss_kib(pid):
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1])
    return 0


def extract_ts(text):
    """The `data.timestamp` string, by a cheap search (it is the last key of the sample)."""
    i = text.rfind(TS_KEY)
    if i < 0:
        return None
    i += len(TS_KEY)
    j = text.find('"', i)
    return text[i:j] if j > 0 else None


class ProcSampler(threading.Thread):
    """Samples the daemon's CPU ticks and VmRSS every `interval` seconds on its own thread."""

    def __init__(self, pid, interval=1.0):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples = []              # (monotonic, cpu ticks, rss KiB)
        self.stop_evt = threading.Event()

    def sample(self):
        try:
            self.samples.append((time.monotonic(), proc_cpu_ticks(self.pid), proc_rss_kib(self.pid)))
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            pass

    def run(self):
        nxt = time.monotonic()
        while not self.stop_evt.is_set():
            self.sample()
            nxt += self.interval
            self.stop_evt.wait(max(0.0, nxt - time.monotonic()))

    def window(self, t0, t1):
        """CPU % of one core (mean over [t0, t1] and max of the 1 s steps) and RSS in MiB."""
        s = [x for x in self.samples if t0 - 0.5 <= x[0] <= t1 + 0.5]
        if len(s) < 2:
            return {}
        steps = [100.0 * (b[1] - a[1]) / CLK_TCK / (b[0] - a[0]) for a, b in zip(s, s[1:])]
        return {
            "cpu_pct_of_one_core_mean": round(100.0 * (s[-1][1] - s[0][1]) / CLK_TCK / (s[-1][0] - s[0][0]), 2),
            "cpu_pct_of_one_core_max_1s": round(max(steps), 1),
            "rss_mib_start": round(s[0][2] / 1024, 2),
            "rss_mib_end": round(s[-1][2] / 1024, 2),
            "rss_mib_max": round(max(x[2] for x in s) / 1024, 2),
            "samples": len(s),
        }


class Client:
    __slots__ = ("idx", "ws", "opened", "closed", "arrivals", "close_info")

    def __init__(self, idx):
        self.idx, self.ws = idx, None
        self.opened = self.closed = None       # monotonic times
        self.arrivals = []                     # (monotonic, wall, timestamp string)
        self.close_info = None

    async def listen(self, stopping):
        try:
            async for msg in self.ws:
                ts = extract_ts(msg) if isinstance(msg, str) else None
                self.arrivals.append((time.monotonic(), time.time(), ts))
        except ConnectionClosed as e:
            rcvd = e.rcvd
            self.close_info = f"{rcvd.code} {rcvd.reason}".strip() if rcvd else "no close frame"
        except Exception as e:                 # noqa: BLE001 - reported, not fatal
            self.close_info = f"{type(e).__name__}: {e}"
        else:
            code = self.ws.close_code
            self.close_info = f"{code} {self.ws.close_reason or ''}".strip() if code else "closed"
        self.closed = time.monotonic()
        if not stopping.is_set():
            log(f"client {self.idx} closed early: {self.close_info}")


def summarize(nums):
    if not nums:
        return None
    return {"min": min(nums), "median": statistics.median(nums), "max": max(nums)}


def parse_ts(ts):
    # RFC 3339 with nanoseconds and "Z"; fromisoformat wants at most microseconds.
    head, _, frac = ts.rstrip("Z").partition(".")
    return datetime.datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}+00:00").timestamp()


async def run_clients(a, url, daemon, res):
    stopping = threading.Event()               # set once the window is over; closes after it are expected
    clients = [Client(i) for i in range(a.clients)]
    tasks, errors = [], collections.Counter()

    async def open_one(c):
        try:
            c.ws = await connect(url, compression=None, ping_interval=None, open_timeout=30,
                                 close_timeout=5, max_queue=64)
            c.opened = time.monotonic()
            tasks.append(asyncio.create_task(c.listen(stopping)))
        except Exception as e:                 # noqa: BLE001
            errors[f"{type(e).__name__}: {e}"[:160]] += 1

    t_conn = time.monotonic()
    for i in range(0, a.clients, a.batch):
        await asyncio.gather(*(open_one(c) for c in clients[i:i + a.batch]))
        await asyncio.sleep(a.batch_pause)
    connected = [c for c in clients if c.ws is not None]
    res["connect_s"] = round(time.monotonic() - t_conn, 2)
    res["clients_connected"] = len(connected)
    res["connect_errors"] = dict(errors)
    log(f"{len(connected)}/{a.clients} clients connected in {res['connect_s']} s; settling {a.settle} s")

    await asyncio.sleep(a.settle)
    t0 = time.monotonic()
    log(f"measuring for {a.duration} s")
    await asyncio.sleep(a.duration)
    t1 = time.monotonic()
    await asyncio.sleep(a.grace)               # late deliveries of the last samples

    # Stop the daemon with every client still connected; the stream should close them.
    stopping.set()
    t_term = time.monotonic()
    daemon.send_signal(signal.SIGTERM)
    rc = await asyncio.to_thread(wait_exit, daemon, 20)
    res["shutdown"] = {"exit_code": rc, "seconds_to_exit": round(time.monotonic() - t_term, 2)}
    pending = (await asyncio.wait(tasks, timeout=10))[1] if tasks else set()
    closed = [c for c in connected if c.closed is not None and c.closed >= t_term]
    res["shutdown"]["clients_closed_by_daemon"] = len(closed)
    res["shutdown"]["close_reasons"] = dict(collections.Counter(c.close_info for c in closed))
    res["shutdown"]["clients_left_open"] = sum(1 for c in connected if c.closed is None)
    for c in connected:                        # anything the daemon left open, we close
        if c.closed is None:
            c.ws.transport.abort()
    if pending:
        await asyncio.wait(pending, timeout=5)
    return clients, connected, t0, t1


def wait_exit(proc, timeout):
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        log(f"daemon did not exit {timeout} s after SIGTERM; sending SIGKILL")
        proc.kill()
        proc.wait()
        return "killed after timeout"


def analyse(a, clients, connected, t0, t1, res):
    # First arrival (monotonic and wall) of every distinct sample, over all clients.
    first, last, first_wall = {}, {}, {}
    for c in connected:
        for tm, wall, ts in c.arrivals:
            if ts is None:
                continue
            if ts not in first or tm < first[ts]:
                first[ts], first_wall[ts] = tm, wall
            if tm > last.get(ts, 0.0):
                last[ts] = tm
    window = {ts for ts, tm in first.items() if t0 <= tm <= t1}
    res["samples_broadcast_in_window"] = len(window)

    per_client_msgs, per_client_samples, per_client_dups, complete, missing_total = [], [], [], 0, 0
    whole_window = 0
    for c in connected:
        in_win = [x for x in c.arrivals if t0 <= x[0] <= t1]
        per_client_msgs.append(len(in_win))
        per_client_dups.append(len(in_win) - len({x[2] for x in in_win}))
        got = {x[2] for x in c.arrivals}
        per_client_samples.append(len(got & window))
        end = c.closed if c.closed is not None else float("inf")
        if end >= t1:
            whole_window += 1
        required = {ts for ts in window if c.opened <= first[ts] <= end}
        miss = len(required - got)
        missing_total += miss
        complete += miss == 0
    res["messages_per_client_in_window"] = summarize(per_client_msgs)
    res["window_samples_per_client"] = summarize(per_client_samples)
    res["repeated_sample_messages_per_client"] = summarize(per_client_dups)
    res["clients_connected_whole_window"] = whole_window
    res["clients_received_every_sample"] = complete
    res["samples_missed_total"] = missing_total
    res["unexpected_closes"] = dict(collections.Counter(
        c.close_info for c in connected if c.closed is not None and c.closed < t1 + a.grace))
    # Spread of one broadcast over the clients (client side included), and how old a
    # sample is when it first arrives (publish tick vs. monitor tick phase).
    spread = sorted(1000.0 * (last[ts] - first[ts]) for ts in window)
    if spread:
        res["fanout_spread_ms"] = {"median": round(statistics.median(spread), 1), "max": round(spread[-1], 1)}
    try:
        age = sorted(1000.0 * (first_wall[ts] - parse_ts(ts)) for ts in window)
        if age:
            res["sample_age_at_arrival_ms"] = {"median": round(statistics.median(age), 1), "max": round(age[-1], 1)}
    except ValueError:
        pass


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--duration", type=float, default=60.0, help="measured window (s)")
    p.add_argument("--interval", default="1s", help="ws_interval written to the config")
    p.add_argument("--batch", type=int, default=50, help="clients opened concurrently")
    p.add_argument("--batch-pause", type=float, default=0.05, help="pause between batches (s)")
    p.add_argument("--settle", type=float, default=3.0, help="wait after the last connect (s)")
    p.add_argument("--grace", type=float, default=2.0, help="listening after the window (s)")
    p.add_argument("--bin", default=os.environ.get("OURS_BIN"), help="ctrl binary (default $OURS_BIN)")
    p.add_argument("--out", help="also write the JSON result here")
    p.add_argument("--keep", action="store_true", help="keep the scratch dir (config, state, daemon log)")
    a = p.parse_args()
    if not a.bin:
        sys.exit("set OURS_BIN or pass --bin")
    interval_s = float(a.interval.rstrip("s"))   # "1s" / "0.5s"; ms forms are not needed here
    raise_nofile()

    wd = Path(tempfile.mkdtemp(prefix="ctlbench-wsfanout-", dir=os.environ.get("TMPDIR") or None))
    state = wd / "state"
    cfg = wd / "ctrl.toml"
    cfg.write_text(f'[server]\nlisten = "127.0.0.1:0"\nstate_dir = {json.dumps(str(state))}\n'
                   f'ws_interval = {json.dumps(a.interval)}\n')
    res = {"scenario": "ws_fanout", "clients": a.clients, "duration_s": a.duration, "interval_s": interval_s,
           "expected_samples": int(a.duration / interval_s),
           "version": subprocess.run([a.bin, "--version"], capture_output=True, text=True).stdout.strip(),
           "batch": a.batch, "nofile_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[1]}
    daemon = None
    with open(wd / "ctrl.log", "w") as dlog:
        try:
            daemon = subprocess.Popen([a.bin, "up", "--config", str(cfg)], stdout=dlog, stderr=subprocess.STDOUT,
                                      start_new_session=True, preexec_fn=raise_nofile)
            t_start = time.monotonic()
            while not ((state / "http.addr").exists() and (state / "token").exists()):
                if daemon.poll() is not None or time.monotonic() - t_start > 30:
                    raise RuntimeError(f"daemon not up (rc={daemon.poll()}); log in {wd / 'ctrl.log'}")
                time.sleep(0.05)
            time.sleep(0.2)                    # let both files be fully written
            addr = (state / "http.addr").read_text().strip()
            token = (state / "token").read_text().strip()
            sampler = ProcSampler(daemon.pid)
            sampler.start()
            time.sleep(2.0)
            res["daemon_rss_mib_before_clients"] = round(proc_rss_kib(daemon.pid) / 1024, 2)
            url = f"ws://{addr}/api/system/ws?token={token}"
            clients, connected, t0, t1 = asyncio.run(run_clients(a, url, daemon, res))
            sampler.stop_evt.set()
            sampler.join()
            res["daemon"] = sampler.window(t0, t1)
            analyse(a, clients, connected, t0, t1, res)
        except Exception as e:                 # noqa: BLE001 - reported in the result
            import traceback
            traceback.print_exc()
            res["error"] = f"{type(e).__name__}: {e}"
        finally:
            if daemon is not None and daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
                wait_exit(daemon, 20)
    if a.keep or res.get("error"):
        res["workdir"] = str(wd)
    else:
        import shutil
        shutil.rmtree(wd, ignore_errors=True)
    out = json.dumps(res, indent=1, sort_keys=True)
    print(out, flush=True)
    if a.out:
        Path(a.out).write_text(out + "\n")
    sys.exit(1 if res.get("error") else 0)


if __name__ == "__main__":
    main()
