"""Columnar packer and buffer batching, checked against the per-record reference."""

import random
from array import array

import pytest

from vpslog import record
from vpslog.layout import resolve
from vpslog.packer import TYPECODES, BufferBatcher, new_columns, pack_columns
from vpslog.record import BUFFER_BYTES, RECORD_SIZE


def columns_of(recs):
    cols = new_columns()
    for r in recs:
        for c, v in zip(cols, r):
            c.append(v)
    return cols


def random_records(n, seed=7):
    rng = random.Random(seed)
    return [(rng.randrange(2**32), rng.randrange(2**16), rng.randrange(2**16), rng.choice((1, 2, 3))) for _ in range(n)]


@pytest.mark.parametrize("n", [0, 1, 409, 1000])
def test_columnar_packing_equals_reference_packing(n):
    recs = random_records(n)
    assert bytes(pack_columns(*columns_of(recs))) == record.pack(recs)


def test_columns_of_other_int_types_are_converted_and_range_checked():
    cols = (array("q", [5]), array("i", [6]), array("l", [7]), array("b", [1]))
    assert record.unpack(pack_columns(*cols)) == [(5, 6, 7, 1)]
    with pytest.raises(OverflowError):
        pack_columns(array("q", [1]), array("q", [70000]), array("q", [1]), array("q", [1]))


def test_mismatched_columns_are_rejected():
    t, v, e, s = columns_of(random_records(3))
    with pytest.raises(ValueError, match="vehicle_id"):
        pack_columns(t, v[:2], e, s)
    with pytest.raises(TypeError):
        pack_columns(t, v, e)


def test_typecodes_have_the_field_widths():
    assert [array(tc).itemsize for tc in TYPECODES] == [4, 2, 2, 1]


def test_batcher_releases_only_whole_buffers_and_flushes_the_rest():
    recs = random_records(409 * 3 + 17)
    b = BufferBatcher()
    packed = record.pack(recs)
    # feed in awkward pieces that do not align with buffers
    for i in range(0, len(packed), 2030):
        b.add(packed[i : i + 2030])
    assert b.full_buffers() == 3
    first = b.take(2)
    assert len(first) == 2 * BUFFER_BYTES
    second = b.take(5)
    assert len(second) == BUFFER_BYTES
    assert b.take(1) == b""
    rest = b.flush()
    assert len(rest) == 17 * RECORD_SIZE
    assert first + second + rest == packed
    assert b.records_out == len(recs)


def test_batcher_refuses_partial_records():
    with pytest.raises(ValueError):
        BufferBatcher().add(b"\0" * 11)


def test_at_real_time_pace_only_due_records_leave_and_a_sparse_run_in_partial_buffers():
    b = BufferBatcher()
    b.add(record.pack([(100 * i, 1, 2, 1) for i in range(500)]))  # one record every 100 ms: 50 s
    times = lambda data: [t for t, *_ in record.unpack(data)]  # noqa: E731
    assert b.take(8, until_ms=900) == b""  # nothing has waited a second: wait for a whole buffer
    assert times(b.take(8, until_ms=1_000)) == list(range(0, 1_001, 100))  # record 0 has: what is due leaves
    assert b.take(8, until_ms=1_500) == b""
    assert times(b.take(8, until_ms=42_000)) == list(range(1_100, 42_000, 100))  # a whole buffer is due
    assert b.take(8, until_ms=42_000) == b""
    assert times(b.flush()) == list(range(42_000, 50_000, 100))


def test_a_batcher_of_any_layout_releases_whole_buffers_of_it_paced_by_its_time():
    layout = resolve("tel", [("time_ms", "uint32"), ("v", "uint32"), ("x", "float32"), ("y", "float32"),
                             ("s", "float32"), ("lane", "uint8")])
    assert (layout.record_size, layout.records_per_buffer, layout.buffer_bytes) == (21, 195, 4095)
    b = BufferBatcher(layout)
    packed = b"".join(layout.struct.pack(10 * i, i, 0.5, 1.5, 2.5, i % 3) for i in range(500))
    with pytest.raises(ValueError, match="stream tel: 20 bytes is not whole 21-byte records"):
        b.add(packed[:20])
    b.add(packed)
    assert b.due_buffers() == b.full_buffers() == 2 and b.due_buffers(until_ms=1939) == 0  # record 194 is at 1940
    assert b.take(1, until_ms=1939) == packed[:194 * 21]  # record 0 waited a second: what is due leaves
    assert b.take(8) == packed[194 * 21:389 * 21] and b.take(8, until_ms=1_000_000) == packed[389 * 21:]
    assert b.take(0, until_ms=1_000_000) == b"" and b.records_out == 500
