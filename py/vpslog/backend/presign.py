"""Presigned PUT URLs for exactly one key of the run layout, write-once and size-bound.

Keys are built from validated inputs, never taken from the client, by the
store's layout (``runs/<runId>/part-<NNNNNN>.bin`` for events, ``runs/<runId>/<stream>/part-<NNNNNN>.bin``
for another stream, whose name must follow the stream-name rule of ``layouts.json``,
``runs/<runId>/manifest.json``). Each URL
signs ``If-None-Match: *`` (the key can be written once), ``Content-Length``
(the part's announced size) and ``x-amz-checksum-crc32c`` (the part's CRC32C),
so the storage service itself refuses an overwrite, another size or other bytes.
"""

from __future__ import annotations

import base64
import re
import time

from .. import layout, store
from ..manifest import schema

RUN_ID = re.compile(schema()["properties"]["run_id"]["pattern"])
CRC32C_HEX = re.compile(r"^[0-9a-f]{8}$")
STREAM_NAME = re.compile(layout.SPEC["name_pattern"])
# a declared stream is never named so (layouts.json); the built-in ones are streams
NOT_STREAMS = frozenset(layout.SPEC["reserved_names"])


class LayoutError(ValueError):
    """The request names no key of the layout, or an impossible size (HTTP 400)."""

    code = "InvalidRequest"


class TooLarge(LayoutError):
    code = "EntityTooLarge"


def check_stream(stream) -> str:
    """A part's stream as a request names it (none: events), checked against the stream-name rule."""
    if stream is None:
        return store.EVENTS_STREAM
    if not isinstance(stream, str) or not STREAM_NAME.fullmatch(stream) or stream in NOT_STREAMS:
        raise LayoutError(f"stream must be a stream name ({layout.SPEC['name_pattern']}, not one of "
                          f"{', '.join(sorted(NOT_STREAMS))}), got {stream!r}")
    return stream


def key_for(run_id, part, stream=None) -> str:
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        raise LayoutError(f"invalid runId {run_id!r}")
    if part == "manifest":
        if stream is not None:
            raise LayoutError("a run has one manifest: name no stream with it")
        return store.manifest_key(run_id)
    stream = check_stream(stream)
    if isinstance(part, bool) or not isinstance(part, int) or not 1 <= part <= store.MAX_PART:
        raise LayoutError(f"part must be 1..{store.MAX_PART} or \"manifest\", got {part!r}")
    return store.part_key(run_id, part, stream)


def crc32c_b64(hex8: str) -> str:
    """x-amz-checksum-crc32c: base64 of the big-endian CRC32C (the logger computes it as 8 hex digits)."""
    return base64.b64encode(bytes.fromhex(hex8)).decode()


class Presigner:
    def __init__(self, settings, endpoint: str | None = None, direct_endpoint: str | None = None) -> None:
        self.settings = settings
        self._client = settings.client(endpoint)
        # the server's own reads (sealed? stored? the catalogue) bypass the local gateway, which takes presigned URLs only
        self.reader = settings.client(direct_endpoint or endpoint)
        self._sealed: set[str] = set()  # a manifest never leaves: remember, skip the HEAD

    def object_limit(self, part) -> int:
        return self.settings.manifest_max_bytes if part == "manifest" else store.PART_BYTES

    def check_body(self, part, size, crc) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise LayoutError(f"bytes must be a positive whole number, got {size!r}")
        if size > self.object_limit(part):
            raise TooLarge(f"{size} bytes is over the {self.object_limit(part)}-byte limit of "
                           f"{'a manifest' if part == 'manifest' else 'a part'}")
        if not isinstance(crc, str) or not CRC32C_HEX.fullmatch(crc):
            raise LayoutError(f"crc32c must be 8 lowercase hex digits, got {crc!r}")

    def presign_put(self, run_id, part, size, crc, stream=None) -> dict:
        key = key_for(run_id, part, stream)
        self.check_body(part, size, crc)
        ttl = self.settings.presign_ttl_s
        url = self._client.generate_presigned_url("put_object", Params={
            "Bucket": self.settings.bucket, "Key": key, "IfNoneMatch": "*",
            "ContentLength": size, "ChecksumCRC32C": crc32c_b64(crc)}, ExpiresIn=ttl)
        # the client must send exactly these (Content-Length follows from the body)
        headers = {"If-None-Match": "*", "x-amz-checksum-crc32c": crc32c_b64(crc)}
        return {"url": url, "key": key, "method": "PUT", "headers": headers, "expires": int(time.time()) + ttl}

    def sealed(self, run_id: str) -> bool:
        """A run is complete, and closed to writes, once its manifest is in the bucket."""
        if run_id not in self._sealed and store.head(self.reader, self.settings.bucket, store.manifest_key(run_id)) is not None:
            self._sealed.add(run_id)
        return run_id in self._sealed

    def stored(self, run_id, part, size, crc, stream=None) -> tuple[bool, str]:
        """Is this exact object (size and CRC32C) what the bucket holds under the key?

        Answers a write-once refusal (412) after a PUT that was stored but whose
        answer was lost: the part is then done, and counted once."""
        key = key_for(run_id, part, stream)
        self.check_body(part, size, crc)
        head = store.head(self.reader, self.settings.bucket, key)
        if head is None:
            return False, f"{key} is not in the bucket"
        if head["ContentLength"] != size:
            return False, f"{key} holds {head['ContentLength']} bytes, not {size}"
        stored = head.get("ChecksumCRC32C")
        if stored is None:
            # stores that keep no checksum (moto): read the object back, it is at most the limit
            import crc32c

            body = self.reader.get_object(Bucket=self.settings.bucket, Key=key)["Body"].read()
            stored = crc32c_b64(f"{crc32c.crc32c(body):08x}")
        if stored != crc32c_b64(crc):
            return False, f"{key} holds other bytes (CRC32C differs)"
        return True, "stored object matches"
