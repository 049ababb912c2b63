"""``vpslog fetch s3://BUCKET/runs/<runId> --out DIR``: a CLOUD run, reassembled.

Reads the run's manifest (present only once every part is in the bucket),
downloads the parts in order, checks each against the manifest (size, CRC32C)
and the whole against its checksum, and writes ``DIR/<runId>.bin`` and
``DIR/<runId>.manifest.json``, ready for ``verify`` and ``analyze``.
``read_manifest`` and ``read_part`` are the same checks for readers that stream
the parts instead (``vpslog.runs``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

S3_URL = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/runs/(?P<run>[A-Za-z0-9][A-Za-z0-9_-]{0,79})/?$")


class FetchError(ValueError):
    pass


def read_manifest(s3, bucket: str, run_id: str) -> dict:
    """The CLOUD manifest, with its parts numbered 1..n; FetchError if the run is incomplete."""
    from botocore.exceptions import ClientError

    try:
        manifest = json.loads(s3.get_object(Bucket=bucket, Key=f"runs/{run_id}/manifest.json")["Body"].read())
    except ClientError as e:
        if e.response["Error"]["Code"] in ("NoSuchKey", "404"):
            raise FetchError(f"runs/{run_id}/manifest.json is not in {bucket}: the run is incomplete "
                             "(still uploading, or parts wait in a browser's dead-letter queue)") from None
        raise FetchError(f"reading the manifest: {e}") from None
    except ValueError as e:
        raise FetchError(f"runs/{run_id}/manifest.json is not valid JSON: {e}") from None
    parts = manifest.get("parts") or []
    if [p["part"] for p in parts] != list(range(1, len(parts) + 1)):
        raise FetchError("manifest parts are not numbered 1..n")
    return manifest


def read_part(s3, bucket: str, part: dict) -> bytes:
    """One part's bytes, checked against its manifest entry (size, CRC32C)."""
    import crc32c

    body = s3.get_object(Bucket=bucket, Key=part["key"])["Body"].read()
    if len(body) != part["bytes"]:
        raise FetchError(f"{part['key']}: {len(body)} bytes, manifest says {part['bytes']}")
    if f"{crc32c.crc32c(body):08x}" != part["crc32c"]:
        raise FetchError(f"{part['key']}: CRC32C mismatch with the manifest")
    return body


def fetch(url: str, out_dir, settings) -> tuple[Path, Path]:
    import crc32c

    m = S3_URL.match(url)
    if not m:
        raise FetchError(f"expected s3://BUCKET/runs/<runId>, got {url!r}")
    if not settings.endpoint:
        raise FetchError("set VPSLOG_S3_ENDPOINT (and the access keys) to the S3/R2 endpoint to fetch from")
    bucket, run_id = m["bucket"], m["run"]
    s3 = settings.client()
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
            raise FetchError("the reassembled run does not match the manifest's checksum")
        tmp.replace(bin_path)
    finally:
        tmp.unlink(missing_ok=True)
    man_path = out / f"{run_id}.manifest.json"
    man_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return bin_path, man_path
