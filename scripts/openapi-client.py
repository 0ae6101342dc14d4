"""The OpenAPI document from outside: valid by openapi-spec-validator, and a
client generated from it by openapi-python-client imports and calls the API.

usage: python3 scripts/openapi-client.py http://ADDR TOKEN WORKDIR
"""

import json
import subprocess
import sys
import urllib.request

from openapi_spec_validator import OpenAPIV31SpecValidator

base, token, work = sys.argv[1], sys.argv[2], sys.argv[3]
spec = json.load(urllib.request.urlopen(f"{base}/openapi.json", timeout=10))
errors = list(OpenAPIV31SpecValidator(spec).iter_errors())
for e in errors:
    print(f"openapi: {'/'.join(map(str, e.absolute_path))}: {e.message}", file=sys.stderr)
print(f"openapi-spec-validator: {len(spec['paths'])} paths, {len(errors)} errors")
if errors:
    sys.exit(1)

with open(f"{work}/openapi.json", "w") as f:
    json.dump(spec, f)
subprocess.run(
    ["openapi-python-client", "generate", "--path", f"{work}/openapi.json", "--meta", "none",
     "--output-path", f"{work}/client"],
    check=True, stdout=subprocess.DEVNULL,
)
sys.path.insert(0, work)
from client import AuthenticatedClient  # noqa: E402
from client.api.services import list_services  # noqa: E402

answer = list_services.sync_detailed(client=AuthenticatedClient(base_url=base, token=token))
names = sorted(s.name for s in answer.parsed.data)
print(f"generated client: GET /api/services -> {answer.status_code.value}, services {names}")
assert answer.status_code.value == 200 and answer.parsed.success and "sleeper" in names, answer
