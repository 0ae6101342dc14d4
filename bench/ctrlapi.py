"""The daemon's HTTP API for the benchmarks: one keep-alive connection with the token."""
import http.client
import json
import re


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
