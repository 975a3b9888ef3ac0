"""A PostQued-compatible server on loopback, for the demo, `pqdrop sandbox` and the tests.

state.py       what the sandbox knows and decides (pure, clock injected)
snapshot.py    that knowledge in a JSON file, for a sandbox that keeps its state across restarts
server.py      the HTTP shell and the Sandbox class
validation.py  request bodies checked field by field
tiktok.py      TikTok behind the publishes: its rules, account settings, daily caps and errors
progress.py    how publish and target statuses move with time
views.py       the JSON shapes of records
records.py     accounts, contents, publishes, idempotency records
ratelimit.py   per-key, per-category sliding-window quotas
signing.py     presigned storage URLs
multipart.py   a streaming multipart/form-data parser
images.py      the uploaded image, checked by its bytes
storage.py     received bytes: hashed, counted, maybe kept on disk
faults.py      failures, lost replies and delays on request
openapi.py     the short OpenAPI document
"""

from pqdrop.sandbox.faults import Faults
from pqdrop.sandbox.server import Sandbox
from pqdrop.sandbox.state import SandboxState

__all__ = ["Faults", "Sandbox", "SandboxState"]
