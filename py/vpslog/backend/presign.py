"""Presigned PUT URLs for exactly one key of the run layout.

Keys are built here from validated inputs, never taken from the client:
``runs/<runId>/part-<NNNNNN>.bin`` and ``runs/<runId>/manifest.json``.
"""

from __future__ import annotations

import re
import time

from ..manifest import schema

RUN_ID = re.compile(schema()["properties"]["run_id"]["pattern"])
MAX_PART = 999_999


class LayoutError(ValueError):
    """The request names no key of the layout (HTTP 400)."""


def part_key(run_id: str, part: int) -> str:
    return f"runs/{run_id}/part-{part:06d}.bin"


def manifest_key(run_id: str) -> str:
    return f"runs/{run_id}/manifest.json"


def key_for(run_id, part) -> str:
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        raise LayoutError(f"invalid runId {run_id!r}")
    if part == "manifest":
        return manifest_key(run_id)
    if isinstance(part, bool) or not isinstance(part, int) or not 1 <= part <= MAX_PART:
        raise LayoutError(f"part must be 1..{MAX_PART} or \"manifest\", got {part!r}")
    return part_key(run_id, part)


class Presigner:
    def __init__(self, settings, endpoint: str | None = None) -> None:
        self.settings = settings
        self._client = settings.client(endpoint)

    def presign_put(self, run_id, part) -> dict:
        key = key_for(run_id, part)
        ttl = self.settings.presign_ttl_s
        url = self._client.generate_presigned_url(
            "put_object", Params={"Bucket": self.settings.bucket, "Key": key}, ExpiresIn=ttl)
        return {"url": url, "key": key, "method": "PUT", "expires": int(time.time()) + ttl}
