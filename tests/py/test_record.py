"""The events record: its layout (the `events` entry of layouts.json) and the reference pack/unpack."""

import struct

import pytest

from vpslog import record
from vpslog.record import BUFFER_BYTES, RECORD_SIZE, RECORDS_PER_BUFFER, Status


def test_layout_is_the_specified_10_byte_little_endian_record():
    assert RECORD_SIZE == 10
    assert [(f.name, f.type, f.offset) for f in record.FIELDS] == [
        ("time_ms", "uint32", 0),
        ("vehicle_id", "uint16", 4),
        ("edge_id", "uint16", 6),
        ("status", "uint8", 8),
        ("pad", "uint8", 9),
    ]
    assert (Status.ENTER, Status.EXIT, Status.ERROR) == (1, 2, 3)


def test_a_4kb_buffer_holds_409_whole_records():
    assert RECORDS_PER_BUFFER == 409
    assert BUFFER_BYTES == 4090 <= 4096 < BUFFER_BYTES + RECORD_SIZE


def test_pack_matches_an_independent_struct_layout():
    rec = (0xDEADBEEF, 0xBEEF, 0x1234, Status.EXIT)
    assert record.pack([rec]) == struct.pack("<IHHBB", *rec, 0)
    assert record.pack([rec]) == bytes.fromhex("efbeadde" "efbe" "3412" "02" "00")


def test_unpack_round_trips_extremes():
    recs = [(0, 0, 0, 1), (2**32 - 1, 65535, 65535, 3), (123456, 7, 8, 2)]
    assert record.unpack(record.pack(recs)) == recs


def test_unpack_rejects_partial_records_and_nonzero_pad():
    with pytest.raises(ValueError, match="not a whole number"):
        record.unpack(b"\0" * 15)
    with pytest.raises(ValueError, match="pad byte"):
        record.unpack(struct.pack("<IHHBB", 1, 2, 3, 1, 9))
