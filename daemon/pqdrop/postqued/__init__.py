"""The PostQued API and its storage; the only package that speaks HTTP to them (httpx, http.client).

`client` is the one interface, `v1` and `v2` the dialects behind it (paths, bodies, reply
parsing), `transport` the requests and their retries, `replies` tolerant reply parsing, `types`
the values handed back (no I/O); `storage` the presigned PUT, `bandwidth` the upload cap shared by
every upload, `ratelimit` the client-side windows per request category and backoff.

Imports the ground and `platforms` only. Import from the modules themselves: this file loads
nothing, so a light command that needs a value type never loads httpx.
"""
