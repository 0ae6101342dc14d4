"""A worker that polls the web server, for the Control Center demo."""
import os
import time
import urllib.request

url = os.environ.get("WORK_URL", "http://127.0.0.1:8642/health")
n = 0
while True:
    n += 1
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            print(f"worker: job {n} done, web says {r.read().decode().strip()}")
    except OSError as e:
        print(f"worker: job {n} failed: {e}", flush=True)
    time.sleep(2)
