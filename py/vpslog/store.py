"""Runs in a bucket (S3/R2), as a client reads them: the layout, the client, reading, listing.

``bucket_layout.json`` is the single definition of where a CLOUD run's objects
live (``runs/<runId>/part-000001.bin``, ``runs/<runId>/manifest.json``,
``runs/catalogue.json``), the part size and the run-token header: this module
and the JS workers (``workers/bucket_layout.js``) both read it, and
``tests/workers/test_bucket_layout.py`` proves they build the same keys.

This module needs boto3 (and crc32c, for parts) only, imported when a bucket is
first used: the ``s3`` extra. The backend (presign API, gateway, local S3)
imports it, never the reverse, so reading runs (``vpslog analyze|fetch|ls|verify
s3://...``, Dask workers) needs neither moto nor the gateway.
"""

from __future__ import annotations

import functools
import json
import os
import re
from importlib import resources
from pathlib import Path

from .part_encoding import EncodingError, decode
from .record import RECORD_SIZE

LAYOUT: dict = json.loads(resources.files(__package__).joinpath("bucket_layout.json").read_text(encoding="utf-8"))
RUNS_PREFIX: str = LAYOUT["runs_prefix"]
CATALOGUE_KEY: str = LAYOUT["keys"]["catalogue"]  # beside the run prefixes: a key, never listed as a run
PART_BYTES: int = LAYOUT["part_bytes"]
MAX_PART: int = 10 ** LAYOUT["part_digits"] - 1
RUN_TOKEN_HEADER: str = LAYOUT["headers"]["run_token"]
if PART_BYTES % RECORD_SIZE:
    raise ValueError(f"bucket_layout.json: part_bytes {PART_BYTES} is not whole {RECORD_SIZE}-byte records")

_BUCKET = r"(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])"
S3_URL = re.compile(rf"^s3://{_BUCKET}/{re.escape(RUNS_PREFIX)}(?P<run>[A-Za-z0-9][A-Za-z0-9_-]{{0,79}})/?$")
S3_LOCATION = re.compile(rf"^s3://{_BUCKET}(?:/(?P<prefix>.*))?$")

# A key that holds nothing: GET answers NoSuchKey, HEAD (no body) 404 or NotFound.
NOT_FOUND = ("NoSuchKey", "404", "NotFound")
# A conditional PUT that lost to another writer.
CONFLICT = ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")
S3_ENV = {"endpoint": "VPSLOG_S3_ENDPOINT", "bucket": "VPSLOG_S3_BUCKET", "access_key_id": "VPSLOG_S3_ACCESS_KEY_ID",
          "secret_access_key": "VPSLOG_S3_SECRET_ACCESS_KEY", "region": "VPSLOG_S3_REGION"}


class StoreError(ValueError):
    pass


def part_key(run_id: str, part: int) -> str:
    return LAYOUT["keys"]["part"].format(runId=run_id, part=f"{part:0{LAYOUT['part_digits']}d}")


def manifest_key(run_id: str) -> str:
    return LAYOUT["keys"]["manifest"].format(runId=run_id)


def parts_prefix(run_id: str) -> str:
    """What every part key of the run starts with."""
    return LAYOUT["keys"]["part"].partition("{part}")[0].format(runId=run_id)


def location(url: str) -> tuple[str, str]:
    """(bucket, key prefix of the run ids) of ``s3://BUCKET[/runs/[<run id prefix>*]]``."""
    usage = f"[/{RUNS_PREFIX}[<run id prefix>*]]"
    m = S3_LOCATION.match(url)
    if not m:
        raise StoreError(f"expected s3://BUCKET{usage}, got {url!r}")
    prefix = (m["prefix"] or RUNS_PREFIX).removesuffix("*")
    if prefix == RUNS_PREFIX.rstrip("/"):
        prefix = RUNS_PREFIX
    if not prefix.startswith(RUNS_PREFIX) or ".." in prefix or "*" in prefix:
        raise StoreError(f"{url}: expected s3://{m['bucket']}{usage}")
    return m["bucket"], prefix


def s3_env(env=os.environ) -> dict:
    """The bucket settings this process was given (``VPSLOG_S3_*``), named as ``client`` takes them;
    unset ones are left out, and ``endpoint`` is None then. An endpoint needs both keys."""
    given = {name: env[var] for name, var in S3_ENV.items() if var in env}
    given["endpoint"] = given.get("endpoint") or None
    if given["endpoint"] and not (given.get("access_key_id") and given.get("secret_access_key")):
        raise StoreError(f"{S3_ENV['endpoint']} is set: {S3_ENV['access_key_id']} and {S3_ENV['secret_access_key']}"
                         " are required")
    return given


def client(endpoint: str, access_key_id: str, secret_access_key: str, region: str = "auto"):
    """A boto3 S3 client: SigV4, region 'auto', path-style (R2, S3 and moto alike)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3", endpoint_url=endpoint, region_name=region,
        aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                      retries={"max_attempts": 3, "mode": "standard"}),
    )


@functools.cache
def client_from_env():
    """One client per process, configured from this process's environment (a Dask worker's own, too)."""
    given = s3_env()
    if not given["endpoint"]:
        raise StoreError(f"set {S3_ENV['endpoint']} (and {S3_ENV['access_key_id']} / {S3_ENV['secret_access_key']})"
                         " to the S3/R2 endpoint to read s3:// runs")
    return client(given["endpoint"], given["access_key_id"], given["secret_access_key"], given.get("region", "auto"))


def is_not_found(error) -> bool:
    """A botocore ClientError saying the key holds nothing."""
    return error.response["Error"]["Code"] in NOT_FOUND


def get(s3, bucket: str, key: str) -> tuple[bytes, str] | None:
    """(body, ETag) of the object, or None if the key holds nothing; StoreError if it cannot be read."""
    from botocore.exceptions import ClientError

    try:
        obj = s3.get_object(Bucket=bucket, Key=key)
        return obj["Body"].read(), obj["ETag"]
    except ClientError as e:
        if is_not_found(e):
            return None
        raise StoreError(f"reading {key}: {e}") from None


def head(s3, bucket: str, key: str) -> dict | None:
    """The object's metadata, with its stored checksum if the store keeps one; None if the key holds nothing."""
    from botocore.exceptions import ClientError

    try:
        return s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except ClientError as e:
        if is_not_found(e):
            return None
        raise


def put_json_if(s3, bucket: str, key: str, body: bytes, etag: str | None) -> bool:
    """Compare-and-swap: put only if the object is still the one read (``etag``), or still absent
    (None). False if another writer came first; StoreError if the store refuses it otherwise."""
    from botocore.exceptions import ClientError

    condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json", **condition)
        return True
    except ClientError as e:
        if e.response["Error"]["Code"] in CONFLICT:
            return False
        raise StoreError(f"writing {key}: {e}") from None


def run_ids(s3, bucket: str, prefix: str = RUNS_PREFIX) -> list[str]:
    """The ids of the runs whose key prefix starts with ``prefix`` (a key prefix under ``runs/``)."""
    ids = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        ids += [p["Prefix"][len(RUNS_PREFIX):-1] for p in page.get("CommonPrefixes", [])]
    return ids


def part_count(s3, bucket: str, run_id: str) -> int:
    """How many of the run's parts are in the bucket (up to one listing page)."""
    return s3.list_objects_v2(Bucket=bucket, Prefix=parts_prefix(run_id)).get("KeyCount", 0)


def read_manifest(s3, bucket: str, run_id: str) -> dict:
    """The CLOUD manifest, with its parts numbered 1..n; StoreError if the run is incomplete."""
    key = manifest_key(run_id)
    got = get(s3, bucket, key)
    if got is None:
        raise StoreError(f"{key} is not in {bucket}: the run is incomplete "
                         "(still uploading, or parts wait in a browser's dead-letter queue)")
    try:
        manifest = json.loads(got[0])
    except ValueError as e:
        raise StoreError(f"{key} is not valid JSON: {e}") from None
    parts = manifest.get("parts") or []
    if [p["part"] for p in parts] != list(range(1, len(parts) + 1)):
        raise StoreError("manifest parts are not numbered 1..n")
    return manifest


def read_part(s3, bucket: str, part: dict) -> bytes:
    """One part's records, checked against its manifest entry: the stored object's size (and
    CRC32C, if encoded), then the decoded records' size and CRC32C. Parts written before
    encodings existed have no ``encoding``: they are raw."""
    import crc32c

    key, encoding = part["key"], part.get("encoding", "raw")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    stored = part.get("stored_bytes", part["bytes"])
    if len(body) != stored:
        raise StoreError(f"{key}: {len(body)} bytes stored, manifest says {stored}")
    if encoding != "raw":
        if f"{crc32c.crc32c(body):08x}" != part.get("stored_crc32c"):
            raise StoreError(f"{key}: the stored {encoding} object's CRC32C differs from the manifest's")
        try:
            body = decode(body, encoding, part["bytes"], key)
        except EncodingError as e:
            raise StoreError(str(e)) from None
    if f"{crc32c.crc32c(body):08x}" != part["crc32c"]:
        raise StoreError(f"{key}: CRC32C mismatch with the manifest")
    return body


def fetch(url: str, out_dir, s3=None) -> tuple[Path, Path]:
    """``vpslog fetch s3://BUCKET/runs/<runId> --out DIR``: the run reassembled, each part checked
    as ``read_part`` does and the whole against the manifest's checksum, written as
    ``DIR/<runId>.bin`` and ``DIR/<runId>.manifest.json``, ready for ``verify`` and ``analyze``."""
    import crc32c

    m = S3_URL.match(url)
    if not m:
        raise StoreError(f"expected s3://BUCKET/{RUNS_PREFIX}<runId>, got {url!r}")
    bucket, run_id = m["bucket"], m["run"]
    s3 = s3 or client_from_env()
    manifest = read_manifest(s3, bucket, run_id)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bin_path, tmp = out / f"{run_id}.bin", out / f".{run_id}.bin.partial"
    crc = 0
    try:
        with tmp.open("wb") as f:
            for p in manifest["parts"]:
                body = read_part(s3, bucket, p)
                crc = crc32c.crc32c(body, crc)
                f.write(body)
        if f"{crc:08x}" != (manifest.get("checksum") or {}).get("value"):
            raise StoreError("the reassembled run does not match the manifest's checksum")
        tmp.replace(bin_path)
    finally:
        tmp.unlink(missing_ok=True)
    man_path = out / f"{run_id}.manifest.json"
    man_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return bin_path, man_path
