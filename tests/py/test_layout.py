"""Stream layouts: layouts.json resolved and checked (vpslog.layout; workers/layout.js mirrors it)."""

import struct

import numpy as np
import pytest

from vpslog import layout as L
from vpslog import record

TELEMETRY = [("time_ms", "uint32"), ("vehicle", "uint32"), ("x", "float32"), ("y", "float32"), ("speed", "float32"),
             ("lane", "uint8")]


def test_events_layout_is_the_original_10_byte_record():
    assert L.EVENTS.to_json()["fields"] == record.LAYOUT["fields"]
    assert (L.EVENTS.record_size, L.EVENTS.records_per_buffer) == (10, 409)
    assert L.EVENTS.struct.format == "<IHHBB"


def test_wide_events_have_32_bit_ids():
    w = L.EVENTS_WIDE
    assert [(f.name, f.type, f.offset) for f in w.fields] == [
        ("time_ms", "uint32", 0), ("vehicle_id", "uint32", 4), ("edge_id", "uint32", 8), ("status", "uint8", 12)]
    assert (w.record_size, w.records_per_buffer, w.buffer_bytes) == (13, 315, 4095)


def test_rows_are_packed_and_read_by_numpy_and_struct_alike():
    t = L.resolve("telemetry", TELEMETRY)
    assert [f.offset for f in t.fields] == [0, 4, 8, 12, 16, 20] and t.record_size == 21
    rec = (7, 70000, 1.5, -2.25, 13.0, 3)
    raw = t.struct.pack(*rec)
    assert raw == struct.pack("<IIfffB", *rec)
    assert np.frombuffer(raw, t.numpy_dtype()).tolist() == [rec]


@pytest.mark.parametrize("typ, lo, hi", [
    ("uint8", 0, 255), ("uint16", 0, 65535), ("uint32", 0, 2**32 - 1), ("uint64", 0, 2**64 - 1),
    ("int8", -128, 127), ("int16", -(2**15), 2**15 - 1), ("int32", -(2**31), 2**31 - 1), ("int64", -(2**63), 2**63 - 1)])
def test_integer_ranges(typ, lo, hi):
    f = L.resolve("s", [("time_ms", "uint32"), ("v", typ)]).field("v")
    assert f.range == (lo, hi)
    assert struct.unpack("<" + f.struct_code * 2, struct.pack("<" + f.struct_code * 2, lo, hi)) == (lo, hi)
    with pytest.raises(struct.error):
        struct.pack("<" + f.struct_code, hi + 1)


@pytest.mark.parametrize("name, fields, enums, message", [
    ("Fcd", [("time_ms", "uint32")], None, 'stream name "Fcd" is invalid'),
    ("fcd", [("x", "float32")], None, r"fcd: the first field must be time_ms \(uint32\), got x"),
    ("fcd", [("time_ms", "float64")], None, "first field must be time_ms"),
    ("fcd", [("time_ms", "uint32"), ("x", "float16")], None, 'fcd: field x has type "float16"; the types are'),
    ("fcd", [("time_ms", "uint32"), ("x", "uint8"), ("x", "uint8")], None, "fcd: field x is declared twice"),
    ("fcd", [("time_ms", "uint32"), ("Speed", "uint8")], None, 'fcd: field name "Speed" is invalid'),
    ("fcd", [], None, "fields must be a non-empty list"),
    ("fcd", [("time_ms", "uint32", "x")], None, "field 0 must be a"),
    ("big", [("time_ms", "uint32")] + [(f"f{i}", "float64") for i in range(512)], None,
     "big: a record of 4100 bytes is larger than a 4096-byte buffer"),
    ("fcd", [("time_ms", "uint32"), ("x", "float32")], {"x": {"a": 1}}, 'enum "x" does not name an integer field'),
    ("fcd", [("time_ms", "uint32"), ("k", "uint8")], {"k": {"a": 300}}, "enum k must map labels to values within 0..255"),
])
def test_bad_declarations_name_stream_and_field(name, fields, enums, message):
    with pytest.raises(L.LayoutError, match=message):
        L.resolve(name, fields, enums)


def test_declared_streams_are_checked_as_a_set():
    fcd = L.resolve("fcd", TELEMETRY)
    assert L.declare_streams([fcd, {"name": "v2v", "fields": {"time_ms": "uint32", "sender": "uint32"}}])[1].record_size == 8
    for declared, message in [
        ([fcd, fcd], "stream fcd is declared twice"),
        ([L.resolve("events", TELEMETRY)], "stream name events is reserved"),
        ([L.resolve("enter", TELEMETRY)], "stream name enter is reserved"),
        ([L.resolve(f"s{i}", TELEMETRY) for i in range(15)], "15 streams declared: a run holds at most 16 streams"),
        (["fcd"], "must be vpslog.Stream"),
    ]:
        with pytest.raises(L.LayoutError, match=message):
            L.declare_streams(declared)
    assert len(L.declare_streams([L.resolve(f"s{i}", TELEMETRY) for i in range(14)])) == 14


def test_a_recorded_layout_reads_back_and_a_shifted_one_is_refused():
    t = L.resolve("telemetry", TELEMETRY, {"lane": {"left": 0, "right": 1}})
    assert L.from_json(t.to_json()) == t
    bad = t.to_json()
    bad["fields"][2]["offset"] = 9
    with pytest.raises(L.LayoutError, match="not the packed layout"):
        L.from_json(bad)


ROUND_TRIP_JS = """
import * as L from './workers/layout.js';
const [manifestLayouts, declared] = JSON.parse(process.argv[1]);
console.log(JSON.stringify({
  again: manifestLayouts.map((d) => L.toJson(L.fromJson(d))),
  declared: L.declareStreams(declared).map(L.toJson),
  builtin: Object.values(L.BUILTIN).map(L.toJson),
}));
"""


def test_enums_round_trip_between_python_and_js():
    """A manifest's layouts, enums included, read and written back by workers/layout.js (as the
    browser's logger does) are the layouts Python wrote, and a stream the JS side declares with an
    enum reads in Python with it."""
    import json
    import subprocess
    from pathlib import Path

    signals = L.resolve("signals", [("time_ms", "uint32"), ("light", "uint8"), ("phase", "int16")],
                        {"light": {"red": 0, "amber": 1, "green": 2}, "phase": {"off": -1, "on": 1}})
    layouts = [L.EVENTS, L.EVENTS_WIDE, signals]
    declared = [{"name": "signals", "fields": [[f.name, f.type] for f in signals.fields], "enums": signals.enums}]
    out = subprocess.run(["node", "--no-warnings", "--input-type=module", "-e", ROUND_TRIP_JS,
                          json.dumps([[x.to_json() for x in layouts], declared])],
                         cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    js = json.loads(out.stdout)
    assert js["again"] == [x.to_json() for x in layouts]
    assert [L.from_json(d) for d in js["again"]] == layouts
    assert L.from_json(js["declared"][0]) == signals and signals.enums["light"] == {"red": 0, "amber": 1, "green": 2}
    assert js["builtin"] == [L.EVENTS.to_json(), L.EVENTS_WIDE.to_json()]
    assert L.EVENTS.enums == L.EVENTS_WIDE.enums == {"status": {"enter": 1, "exit": 2, "error": 3}}
