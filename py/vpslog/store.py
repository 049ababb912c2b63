"""Runs in a bucket (S3/R2), as a client reads them: the layout, the client, reading, listing.

``bucket_layout.json`` is the single definition of where a CLOUD run's objects
live (``runs/<runId>/part-000001.bin`` for events, ``runs/<runId>/<stream>/part-000001.bin``
for every other stream, ``runs/<runId>/manifest.json``, ``runs/catalogue.json``), the
part size and the run-token header: this module
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
from .layout import stream_file
from .record import RECORD_SIZE

LAYOUT: dict = json.loads(resources.files(__package__).joinpath("bucket_layout.json").read_text(encoding="utf-8"))
RUNS_PREFIX: str = LAYOUT["runs_prefix"]
CATALOGUE_KEY: str = LAYOUT["keys"]["catalogue"]  # beside the run prefixes: a key, never listed as a run
PART_BYTES: int = LAYOUT["part_bytes"]
MAX_PART: int = 10 ** LAYOUT["part_digits"] - 1
RUN_TOKEN_HEADER: str = LAYOUT["headers"]["run_token"]
EVENTS_STREAM: str = LAYOUT["events_stream"]

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


def part_bytes(record_size: int) -> int:
    """A stream's full part: PART_BYTES rounded down to whole records of its size."""
    return PART_BYTES - PART_BYTES % record_size


def part_key(run_id: str, part: int, stream: str = EVENTS_STREAM) -> str:
    """The events stream keeps the keys of runs before streams; another stream has its own folder."""
    template = LAYOUT["keys"]["part" if stream == EVENTS_STREAM else "stream_part"]
    return template.format(runId=run_id, stream=stream, part=f"{part:0{LAYOUT['part_digits']}d}")


def manifest_key(run_id: str) -> str:
    return LAYOUT["keys"]["manifest"].format(runId=run_id)


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
    """How many of the run's parts, of every stream, are in the bucket (up to one listing page)."""
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{RUNS_PREFIX}{run_id}/").get("Contents", [])
    return sum(1 for o in listed if o["Key"].rpartition("/")[2].startswith("part-"))


def read_manifest(s3, bucket: str, run_id: str) -> dict:
    """The CLOUD manifest, each stream's parts numbered 1..n under its own keys; StoreError if the
    run is incomplete or its manifest says otherwise."""
    key = manifest_key(run_id)
    got = get(s3, bucket, key)
    if got is None:
        raise StoreError(f"{key} is not in {bucket}: the run is incomplete "
                         "(still uploading, or parts wait in a browser's dead-letter queue)")
    try:
        manifest = json.loads(got[0])
    except ValueError as e:
        raise StoreError(f"{key} is not valid JSON: {e}") from None
    for s in _streams(manifest, key):
        parts = s.parts
        if [p.get("part") for p in parts] != list(range(1, len(parts) + 1)):
            raise StoreError(f"stream {s.name}: manifest parts are not numbered 1..n")
        if any(p.get("key") != part_key(run_id, p["part"], s.name) for p in parts):
            raise StoreError(f"stream {s.name}: a manifest part names another key than the layout's")
    return manifest


def _streams(manifest: dict, where: str) -> list:
    """The manifest's streams (``vpslog.manifest.manifest_streams``: version 1 holds events only)."""
    from .manifest import ManifestError, manifest_streams

    try:
        return manifest_streams(manifest, where)
    except ManifestError as e:
        raise StoreError(str(e)) from None


def read_part(s3, bucket: str, part: dict, record_size: int = RECORD_SIZE) -> bytes:
    """One part's records (of ``record_size`` bytes each), checked against its manifest entry: the
    stored object's size (and CRC32C, if encoded), then the decoded records' size and CRC32C. Parts
    written before encodings existed have no ``encoding``: they are raw."""
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
            body = decode(body, encoding, part["bytes"], key, record_size)
        except EncodingError as e:
            raise StoreError(str(e)) from None
    if len(body) % record_size:
        raise StoreError(f"{key}: {len(body)} bytes is not whole {record_size}-byte records")
    if f"{crc32c.crc32c(body):08x}" != part["crc32c"]:
        raise StoreError(f"{key}: CRC32C mismatch with the manifest")
    return body


def _fetch_stream(s3, bucket: str, stream, path: Path) -> None:
    """One stream's parts, each checked, into ``path``; then the whole against the manifest."""
    import crc32c

    crc, size = 0, 0
    with path.open("wb") as f:
        for p in stream.parts:
            body = read_part(s3, bucket, p, stream.layout.record_size)
            crc = crc32c.crc32c(body, crc)
            size += len(body)
            f.write(body)
    if size != stream.bytes or (f"{crc:08x}" != stream.checksum and not (size == 0 and stream.checksum is None)):
        raise StoreError("the reassembled stream does not match the manifest's size and checksum")


def fetch(url: str, out_dir, s3=None) -> tuple[list[Path], Path]:
    """``vpslog fetch s3://BUCKET/runs/<runId> --out DIR``: every stream of the run reassembled,
    each part checked as ``read_part`` does and each stream against the manifest's size and
    checksum, written as ``DIR/<runId>.bin`` (events), ``DIR/<runId>.<stream>.bin`` and
    ``DIR/<runId>.manifest.json``, ready for ``verify`` and ``analyze``. Nothing is written unless
    every stream is whole; an error names the stream and the part."""
    m = S3_URL.match(url)
    if not m:
        raise StoreError(f"expected s3://BUCKET/{RUNS_PREFIX}<runId>, got {url!r}")
    bucket, run_id = m["bucket"], m["run"]
    s3 = s3 or client_from_env()
    manifest = read_manifest(s3, bucket, run_id)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    streams = _streams(manifest, manifest_key(run_id))
    done = [(out / f".{stream_file(run_id, s.name)}.partial", out / stream_file(run_id, s.name)) for s in streams]
    try:
        for s, (tmp, _) in zip(streams, done):
            try:
                _fetch_stream(s3, bucket, s, tmp)
            except StoreError as e:
                raise StoreError(f"stream {s.name}: {e}") from None
        for tmp, path in done:
            tmp.replace(path)
    finally:
        for tmp, _ in done:
            tmp.unlink(missing_ok=True)
    man_path = out / f"{run_id}.manifest.json"
    man_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return [path for _, path in done], man_path
