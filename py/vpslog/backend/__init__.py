"""The small Python backend of CLOUD mode (CPython; the `backend` extra).

- ``settings``: configuration from the environment (endpoint, bucket, keys, origin).
- ``presign``: boto3 presigning of exactly one key of the run layout.
- ``api``: ``POST /api/presign {runId, part}`` -> ``{url, key, expires}``.
- ``local_s3``: moto as a local S3-compatible endpoint, bucket and CORS set up.
- ``gateway``: a verifying reverse proxy in front of it (SigV4 + expiry) with fault injection, for tests.
- ``serve``: ``vpslog serve``, wiring the above.
- ``fetch``: ``vpslog fetch``, reassembling a run from the bucket.
"""
