"""The daemon for the benchmarks: started on a folder, its HTTP API over one
keep-alive connection with the token, and its CPU and memory."""
import http.client
import json
import os
import re
import socket
import subprocess
import time
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values, p):
    """The `p`th percentile (0-100) of `values`, nearest rank."""
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def start_daemon(binary, work):
    """`binary up` on `work`/ctrl.toml; the process, its API address and token."""
    daemon = subprocess.Popen([binary, "up", "--config", f"{work}/ctrl.toml"], cwd=work,
                              stdout=subprocess.DEVNULL, stderr=open(f"{work}/daemon.log", "w"))
    addr_file = Path(work, "state/http.addr")
    for _ in range(400):
        if addr_file.exists() and addr_file.read_text().strip():
            break
        time.sleep(0.05)
    return daemon, addr_file.read_text().strip(), Path(work, "state/token").read_text().strip()


def proc_cpu_rss(pid):
    """CPU seconds used and resident bytes of a process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    return cpu, rss


class Api:
    def __init__(self, addr, token):
        host, port = addr.rsplit(":", 1)
        self.host, self.port, self.token = host, int(port), token
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def raw(self, method, path, body=None):
        """The status and body of a request."""
        headers = {"Authorization": f"Bearer {self.token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        res = self.conn.getresponse()
        return res.status, res.read()

    def call(self, method, path, body=None):
        """The envelope's data, or an exception with the envelope."""
        _, data = self.raw(method, path, body)
        out = json.loads(data)
        if not out.get("success"):
            raise RuntimeError(f"{method} {path}: {out}")
        return out["data"]

    def metric(self, name):
        """One unlabelled value from /metrics."""
        _, text = self.raw("GET", "/metrics")
        m = re.search(rf"^{name} (\S+)$", text.decode(), re.M)
        return float(m.group(1)) if m else None
