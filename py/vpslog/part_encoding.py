"""How a CLOUD part is stored: raw records, or byte-shuffled and compressed.

``part_encoding.json`` is the one definition, read here and by the logger
worker (``workers/encoding.js``), the way ``layouts.json`` defines the records.
A part's manifest entry keeps ``bytes`` and ``crc32c`` of the *decoded*
records, so every integrity check is independent of the encoding; its
``stored_bytes`` / ``stored_crc32c`` describe the object in the bucket.
Standard library only (zlib), so any reader can decode.
"""

from __future__ import annotations

import json
import zlib
from importlib import resources

from .record import RECORD_SIZE

__all__ = ["ENCODINGS", "DEFAULT", "EncodingError", "encode", "decode", "shuffle", "unshuffle"]

_SPEC = json.loads(resources.files(__package__).joinpath("part_encoding.json").read_text(encoding="utf-8"))
ENCODINGS: dict = _SPEC["encodings"]
DEFAULT: str = _SPEC["default"]
# CompressionStream formats -> zlib window bits (header and trailer of each format)
_WBITS = {"gzip": 31, "deflate": 15, "deflate-raw": -15}


class EncodingError(ValueError):
    pass


def _spec(name: str, where: str) -> dict:
    if name not in ENCODINGS:
        raise EncodingError(f"{where}: unknown part encoding {name!r} (this vpslog reads {', '.join(ENCODINGS)})")
    return ENCODINGS[name]


def shuffle(data, record_size: int = RECORD_SIZE) -> bytes:
    """Records -> byte columns: byte k of record i goes to k*n + i (one column per byte of the stream's record)."""
    data = memoryview(data).cast("B")
    return b"".join(bytes(data[k::record_size]) for k in range(record_size))


def unshuffle(columns, record_size: int = RECORD_SIZE) -> bytes:
    columns = memoryview(columns).cast("B")
    n = len(columns) // record_size
    out = bytearray(len(columns))
    for k in range(record_size):
        out[k::record_size] = columns[k * n:(k + 1) * n]
    return bytes(out)


def encode(data, name: str = DEFAULT, record_size: int = RECORD_SIZE) -> bytes:
    """What the logger stores for a part of ``data`` (whole records of ``record_size`` bytes,
    the part's stream's) under encoding ``name``."""
    spec = _spec(name, "encode")
    if len(data) % record_size:
        raise EncodingError(f"{len(data)} bytes is not whole {record_size}-byte records")
    body = shuffle(data, record_size) if spec["shuffle"] else bytes(data)
    if spec["codec"]:
        c = zlib.compressobj(6, zlib.DEFLATED, _WBITS[spec["codec"]])
        body = c.compress(body) + c.flush()
    return body


def decode(stored, name: str, size: int, where: str, record_size: int = RECORD_SIZE) -> bytes:
    """The ``size`` bytes of records (``record_size`` bytes each: the part's stream's) a stored
    part holds; EncodingError naming ``where`` otherwise.

    Decompresses at most ``size`` + 1 bytes, so a corrupt or hostile object cannot
    make the reader hold more than the part it claims to be."""
    spec = _spec(name, where)
    body = stored
    if spec["codec"]:
        d = zlib.decompressobj(_WBITS[spec["codec"]])
        try:
            body = d.decompress(stored, size + 1)
        except zlib.error as e:
            raise EncodingError(f"{where}: not valid {spec['codec']} data ({e})") from None
        if len(body) > size:
            raise EncodingError(f"{where}: decodes to more than the {size} bytes its manifest entry says")
        if not d.eof:
            raise EncodingError(f"{where}: {spec['codec']} stream ends early (truncated object?)")
        if d.unused_data:
            raise EncodingError(f"{where}: {len(d.unused_data)} byte(s) after the end of the {spec['codec']} stream")
    if len(body) != size:
        raise EncodingError(f"{where}: decodes to {len(body)} bytes, manifest says {size}")
    if size % record_size:
        raise EncodingError(f"{where}: {size} bytes is not whole {record_size}-byte records")
    return unshuffle(body, record_size) if spec["shuffle"] else bytes(body)
