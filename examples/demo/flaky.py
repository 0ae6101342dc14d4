"""A service that crashes now and then, for the Control Center demo."""
import random
import sys
import time

life = random.uniform(15, 40)
print(f"flaky: up, will crash in {life:.0f}s", flush=True)
start = time.time()
while time.time() - start < life:
    time.sleep(1)
    print("flaky: still fine", flush=True)
print("flaky: something went wrong!", file=sys.stderr, flush=True)
sys.exit(3)
