"""The small Python backend of CLOUD mode (CPython; the `backend` extra).

- ``settings``: configuration from the environment (endpoint, bucket, keys, origin, tokens, bounds).
- ``runs``: run capabilities (HMAC tokens bound to a server-chosen run id and an expiry), rate windows.
- ``presign``: boto3 presigning of exactly one key of the run layout, write-once, size- and CRC32C-bound.
- ``api``: ``POST /api/runs``, ``/api/runs/renew``, ``/api/presign``, ``/api/confirm``; the audit log.
- ``local_s3``: moto as a local S3-compatible endpoint, bucket and CORS set up.
- ``gateway``: a verifying reverse proxy in front of it (SigV4 over the signed headers, expiry,
  body CRC32C) with fault injection, for tests.
- ``serve``: ``vpslog serve``, wiring the above.
- ``app``: ``vpslog app``, the built web app (in the wheel of scripts/build_wheel.py), the API
  and the local S3 on one origin and one port.

The bucket's layout (keys, part size, run-token header), its client and the readers'
side live in ``vpslog.store``, which this package imports and which never imports it.
"""
