"""Declared streams as a model logs them: vpslog.Stream, log.<stream>(...) per record and
.extend(...) columnar, wide event ids, and every bad input named (also run inside Pyodide)."""

import math
import struct
from array import array

import pytest

import vpslog
from vpslog.layout import EVENTS_WIDE, TYPES, LayoutError
from vpslog.source import EventLog

TELEMETRY = vpslog.Stream("telemetry", time_ms="uint32", vehicle="uint32", x="float32", y="float32",
                          speed="float32", lane="uint8")
EVERY_TYPE = vpslog.Stream("every", [("time_ms", "uint32")] + [(f"f_{t}", t) for t in TYPES])


def records(log, layout, index):
    return list(layout.struct.iter_unpack(log.pack(index)))


def test_stream_declares_fields_in_keyword_order_or_as_a_list():
    assert [f.name for f in TELEMETRY.fields] == ["time_ms", "vehicle", "x", "y", "speed", "lane"]
    assert TELEMETRY.record_size == 21 and TELEMETRY.records_per_buffer == 195
    listed = vpslog.Stream("phase", [("time_ms", "uint32"), ("signal", "uint16"), ("state", "uint8")],
                           enums={"state": {"red": 1, "green": 2}})
    assert listed.enums == {"state": {"red": 1, "green": 2}}
    with pytest.raises(ValueError, match="as a list or as keywords, not both"):
        vpslog.Stream("x", [("time_ms", "uint32")], speed="float32")
    with pytest.raises(LayoutError, match="the first field must be time_ms"):
        vpslog.Stream("x", speed="float32")
    with pytest.raises(LayoutError, match="stream name events is reserved"):
        EventLog([vpslog.Stream("events", time_ms="uint32")])


def test_per_record_and_columnar_keep_their_order_for_every_type():
    log = EventLog([TELEMETRY, EVERY_TYPE])
    log.telemetry(1, 7, 1.5, -2.5, 3.25, 2)
    log.telemetry.extend([2, 3], array("I", [8, 9]), array("d", [1, 2]), [0.5, 0.25], array("f", [4, 5]), [0, 1])
    log.stream("telemetry")(time_ms=4, vehicle=1, x=0, y=0, speed=1, lane=255)
    assert records(log, TELEMETRY, 1) == [(1, 7, 1.5, -2.5, 3.25, 2), (2, 8, 1.0, 0.5, 4.0, 0), (3, 9, 2.0, 0.25, 5.0, 1),
                                          (4, 1, 0.0, 0.0, 1.0, 255)]
    extremes = [(0, *(f.range[0] if f.range else -1.5 for f in EVERY_TYPE.fields[1:])),
                (2**32 - 1, *(f.range[1] if f.range else 2.0**100 if f.type == "float64" else 3.0e38
                              for f in EVERY_TYPE.fields[1:]))]
    log.every(*extremes[0])
    log.every.extend(*zip(extremes[1]))
    data = log.pack(2)
    assert data == b"".join(EVERY_TYPE.struct.pack(*r) for r in extremes) and len(data) == 2 * EVERY_TYPE.record_size


def test_nan_and_inf_are_stored_as_given_a_finite_float32_overflow_is_refused():
    log = EventLog([TELEMETRY])
    log.telemetry(1, 1, math.nan, math.inf, -math.inf, 0)
    log.telemetry.extend([2], [1], [math.inf], [math.nan], [0.0], [0])
    (a, b) = records(log, TELEMETRY, 1)
    assert math.isnan(a[2]) and a[3] == math.inf and a[4] == -math.inf
    assert b[2] == math.inf and math.isnan(b[3])
    with pytest.raises(ValueError, match=r"stream telemetry, field speed: 1e\+39 is beyond the float32 range"):
        log.telemetry(3, 1, 0.0, 0.0, 1e39, 0)
    with pytest.raises(ValueError, match=r"stream telemetry, field x, value 1: -1e\+40 is beyond the float32 range"):
        log.telemetry.extend([3, 4], [1, 1], [0.0, -1e40], [0.0, 0.0], [0.0, 0.0], [0, 0])
    assert len(log) == 0


@pytest.mark.parametrize("values, message", [
    ((1, 2**32, 0.0, 0.0, 0.0, 0), r"stream telemetry, field vehicle: 4294967296 is outside 0..4294967295"),
    ((1, -1, 0.0, 0.0, 0.0, 0), r"field vehicle: -1 is outside 0..4294967295"),
    ((1, 1.0, 0.0, 0.0, 0.0, 0), r"field vehicle: 1.0 is not an integer"),
    ((1, 1, "0", 0.0, 0.0, 0), r"field x: '0' is not a real number"),
    ((1, 1, 0.0, 0.0, 0.0, 256), r"field lane: 256 is outside 0..255"),
    ((None, 1, 0.0, 0.0, 0.0, 1), r"field time_ms: None is not an integer"),
])
def test_a_bad_record_is_named_and_the_records_before_it_are_kept(values, message):
    log = EventLog([TELEMETRY])
    log.telemetry(0, 1, 0.0, 0.0, 0.0, 0)
    with pytest.raises(ValueError, match=message):
        log.telemetry(*values)
    assert records(log, TELEMETRY, 1) == [(0, 1, 0.0, 0.0, 0.0, 0)]


def test_the_declared_arity_is_named():
    log = EventLog([TELEMETRY])
    with pytest.raises(TypeError, match=r"log.telemetry\(\) missing 1 required positional argument: 'lane'"):
        log.telemetry(1, 1, 0.0, 0.0, 0.0)
    with pytest.raises(TypeError, match=r"log.telemetry\(\) takes 6 positional arguments but 7 were given"):
        log.telemetry(1, 1, 0.0, 0.0, 0.0, 0, 9)
    assert len(log) == 0


@pytest.mark.parametrize("args, named, message", [
    (([1], [1], [0.0], [0.0], [0.0]), {}, r"stream telemetry: extend takes 6 columns \(time_ms, vehicle, x, y, speed, lane\), got 5"),
    (([1, 2], [1], [0.0], [0.0], [0.0], [0]), {}, "stream telemetry: column vehicle has 1 values, time_ms has 2"),
    (([1, 2], [1, 70_000_000_000], [0.0] * 2, [0.0] * 2, [0.0] * 2, [0] * 2), {},
     "stream telemetry, field vehicle, value 1: 70000000000 is outside 0..4294967295"),
    (([1], [1], ["a"], [0.0], [0.0], [0]), {}, "stream telemetry, field x, value 0: 'a' is not a real number"),
    (([1], [1], [0.0], [0.0], [0.0], array("q", [-1])), {}, "field lane, value 0: -1 is outside 0..255"),
    (([1],), {"vehicle": [1]}, "all by position or all by name"),
    ((), {"time_ms": [1], "vehicle": [1]}, "all by position or all by name"),
])
def test_a_bad_column_set_is_named_and_nothing_of_it_is_kept(args, named, message):
    log = EventLog([TELEMETRY])
    log.telemetry(0, 1, 0.0, 0.0, 0.0, 0)
    with pytest.raises(ValueError, match=message):
        log.telemetry.extend(*args, **named)
    assert records(log, TELEMETRY, 1) == [(0, 1, 0.0, 0.0, 0.0, 0)]


def test_columns_by_name_and_from_any_buffer():
    log = EventLog([TELEMETRY])
    log.telemetry.extend(lane=bytes([3, 4]), speed=memoryview(array("f", [1, 2])), y=array("d", [5, 6]),
                         x=(7, 8), vehicle=memoryview(array("I", [1, 2])), time_ms=range(2))
    assert records(log, TELEMETRY, 1) == [(0, 1, 7.0, 5.0, 1.0, 3), (1, 2, 8.0, 6.0, 2.0, 4)]


def test_an_undeclared_stream_names_the_declared_ones():
    log = EventLog([TELEMETRY])
    with pytest.raises(AttributeError, match=r"log has no stream 'fcd' \(declared: telemetry\)"):
        log.fcd(1, 2)
    with pytest.raises(ValueError, match=r"no stream 'fcd' is declared \(declared: telemetry\)"):
        log.stream("fcd")
    with pytest.raises(AttributeError, match="this source declares no streams"):
        EventLog().telemetry


def test_wide_ids_log_events_wide_records_checked_at_the_call():
    log = EventLog(wide_ids=True)
    assert [s.name for s in log.streams] == ["events", "events_wide"]
    log.enter(1, 70_000, 100_000)
    log.exit(2, 70_000, 100_000)
    log.error(3, 5, 6)
    log(4, 7, 8, 2)
    log.extend([5], [2**32 - 1], [9], [1])
    for bad, message in [((5, 2**32, 1), "field vehicle_id: 4294967296 is outside 0..4294967295"),
                         ((5, 1, -1), "field edge_id: -1 is outside")]:
        with pytest.raises(ValueError, match=f"stream events_wide, {message}"):
            log.enter(*bad)
    with pytest.raises(ValueError, match="stream events_wide: status must be one of 1 .enter., 2 .exit., 3 .error., got 9"):
        log(6, 1, 1, 9)
    with pytest.raises(ValueError, match="stream events_wide: status must be one of"):
        log.extend([6], [1], [1], [0])
    assert records(log, EVENTS_WIDE, 1) == [(1, 70_000, 100_000, 1), (2, 70_000, 100_000, 2), (3, 5, 6, 3), (4, 7, 8, 2),
                                            (5, 2**32 - 1, 9, 1)]
    assert log.pack() == b""


def test_narrow_ids_point_to_wide_ids():
    log = EventLog()
    log.enter(1, 70_000, 1)
    with pytest.raises(ValueError, match="vehicle_id 70000 is outside 0..65535 .a source with more than 65,535 "
                                         "vehicles or edges sets wide_ids = True"):
        log.pack()
    with pytest.raises(ValueError, match="edge_id 65536 is outside 0..65535 .*wide_ids = True"):
        log.extend([1], [1], [65536], [1])


def test_last_time_is_the_newest_of_any_stream():
    log = EventLog([TELEMETRY])
    assert log.last_time_ms is None
    log.enter(5, 1, 1)
    log.telemetry(9, 1, 0.0, 0.0, 0.0, 0)
    assert log.last_time_ms == 9 and len(log) == 2 and log.pending_records(1) == 1
    assert struct.unpack("<I", log.pack(1)[:4]) == (9,)
