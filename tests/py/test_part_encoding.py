"""CLOUD part encodings (py/vpslog/part_encoding.json): the shuffle as defined, round trips,
and damaged objects refused with the part named."""

import random

import pytest

from vpslog import part_encoding as pe
from vpslog import record
from vpslog.manifest import schema

RECS = [(random.Random(i).randrange(2**32), i * 37 % 65536, i * 101 % 65536, 1 + i % 3) for i in range(5000)]
DATA = record.pack(RECS)
KEY = "runs/r/part-000007.bin"


def test_the_encodings_are_defined_once():
    part = schema()["properties"]["parts"]["items"]["properties"]
    assert part["encoding"]["enum"] == list(pe.ENCODINGS)
    assert pe.DEFAULT in pe.ENCODINGS and pe.ENCODINGS["raw"] == {"shuffle": False, "codec": None}


def test_shuffle_puts_byte_k_of_record_i_at_k_n_plus_i():
    n = len(RECS)
    cols = pe.shuffle(DATA)
    assert all(cols[k * n + i] == DATA[i * 10 + k] for i in (0, 1, 2, n - 1) for k in range(10))
    assert pe.unshuffle(cols) == DATA


@pytest.mark.parametrize("name", list(pe.ENCODINGS))
def test_every_encoding_round_trips(name):
    stored = pe.encode(DATA, name)
    assert pe.decode(stored, name, len(DATA), KEY) == DATA
    if pe.ENCODINGS[name]["codec"]:
        assert len(stored) < len(DATA)


@pytest.mark.parametrize("damage, why", [
    (lambda b: b[:-9], "stream ends early (truncated object?)"),
    (lambda b: b[:len(b) // 2], "stream ends early (truncated object?)"),
    (lambda b: b[:40] + bytes(200) + b[240:], "not valid gzip data"),
    (lambda b: b + b"\0", "1 byte(s) after the end of the gzip stream"),
    (lambda b: pe.encode(DATA[:-10], "shuffle-gzip"), f"decodes to {len(DATA) - 10} bytes, manifest says {len(DATA)}"),
    (lambda b: pe.encode(DATA + DATA[:10], "shuffle-gzip"), f"decodes to more than the {len(DATA)} bytes"),
], ids=["tail cut", "half", "garbled", "trailing byte", "short", "long"])
def test_a_damaged_part_is_refused_naming_it(damage, why):
    stored = damage(pe.encode(DATA, "shuffle-gzip"))
    with pytest.raises(pe.EncodingError) as e:
        pe.decode(stored, "shuffle-gzip", len(DATA), KEY)
    assert str(e.value).startswith(f"{KEY}: ") and why in str(e.value)


def test_unknown_encodings_and_partial_records_are_refused():
    with pytest.raises(pe.EncodingError, match=f"{KEY}: unknown part encoding 'zstd'"):
        pe.decode(DATA, "zstd", len(DATA), KEY)
    with pytest.raises(pe.EncodingError, match="not whole 10-byte records"):
        pe.encode(DATA[:-3], "shuffle-gzip")
