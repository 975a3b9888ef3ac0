"""The `[http] listen` endpoint: `/healthz`, `/metrics`, `/status.json` and the status page (`server`), the
page itself (`page`) and the Prometheus text (`metrics`); read-only, on threads of its own.

Imports the ground and prometheus_client; what it shows comes in as callables from `commands`.
"""
