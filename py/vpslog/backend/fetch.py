"""``vpslog fetch s3://BUCKET/runs/<runId> --out DIR``: a CLOUD run, reassembled.

Reads the run's manifest (present only once every part is in the bucket),
downloads the parts in order, decodes them (raw or shuffled + compressed, as each
part's manifest entry says), checks each against the manifest (size, CRC32C)
and the whole against its checksum, and writes ``DIR/<runId>.bin`` and
``DIR/<runId>.manifest.json``, ready for ``verify`` and ``analyze``.
``read_manifest`` and ``read_part`` are the same checks for readers that stream
the parts instead (``vpslog.runs``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..part_encoding import EncodingError, decode

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
    """One part's records, checked against its manifest entry: the stored object's size (and
    CRC32C, if encoded), then the decoded records' size and CRC32C. Parts written before
    encodings existed have no ``encoding``: they are raw."""
    import crc32c

    key, encoding = part["key"], part.get("encoding", "raw")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    stored = part.get("stored_bytes", part["bytes"])
    if len(body) != stored:
        raise FetchError(f"{key}: {len(body)} bytes stored, manifest says {stored}")
    if encoding != "raw":
        if f"{crc32c.crc32c(body):08x}" != part.get("stored_crc32c"):
            raise FetchError(f"{key}: the stored {encoding} object's CRC32C differs from the manifest's")
        try:
            body = decode(body, encoding, part["bytes"], key)
        except EncodingError as e:
            raise FetchError(str(e)) from None
    if f"{crc32c.crc32c(body):08x}" != part["crc32c"]:
        raise FetchError(f"{key}: CRC32C mismatch with the manifest")
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
