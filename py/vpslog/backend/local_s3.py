"""A local S3-compatible endpoint (moto, in-process) with the bucket and its CORS rules."""

from __future__ import annotations

import os


def start_moto(port: int = 0):
    """moto's server with bucket CORS enforced (global CORS would answer any origin)."""
    import logging

    os.environ["MOTO_DISABLE_GLOBAL_CORS"] = "1"
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise

    from ._http import free_port

    port = port or free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server, f"http://127.0.0.1:{port}"


def create_bucket(settings, endpoint: str) -> None:
    s3 = settings.client(endpoint)
    s3.create_bucket(Bucket=settings.bucket, CreateBucketConfiguration={"LocationConstraint": settings.region})
    s3.put_bucket_cors(Bucket=settings.bucket, CORSConfiguration={"CORSRules": [{
        "AllowedOrigins": list(settings.allowed_origins),
        "AllowedMethods": ["PUT", "GET", "HEAD"],
        # exactly what the logger sends with a part: the signed write-once and checksum headers
        "AllowedHeaders": ["if-none-match", "x-amz-checksum-crc32c", "content-type"],
        "ExposeHeaders": ["ETag", "Retry-After"],
        "MaxAgeSeconds": 600,
    }]})
