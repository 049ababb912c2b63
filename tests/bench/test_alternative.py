"""The alternative benchmark logs exactly what the model made: the event stream
vpslog logs (CPython), and in real Chromium every record of each batched variant's
OPFS JSON lines and of vpslog's own column (the page's pipeline, the telemetry
model installed as a user's file)."""

import base64
import json
import sys
from collections import Counter
from pathlib import Path

import pytest

from vpslog import bridge, record
from vpslog.layout import from_json

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path[:0] = [str(BENCH), str(BENCH / "alternative")]
import alternative  # noqa: E402
import objlog  # noqa: E402
import steplog  # noqa: E402

PAGE_JS = f"/@fs{alternative.PAGE_JS}"
WORKERS = 2
# Small runs that end by themselves, so every record the model makes is logged.
SHAPES = {
    "events": {"source": "traffic", "params": {"vehicles": 2000, "grid": 12, "duration_s": 60}, "seed": 4, "stream": "events"},
    "telemetry": {"source": "highway", "params": {"vehicles": 1000, "steps": 25}, "seed": 4, "stream": "telemetry"},
}
READ_JS = """async (name) => {
  const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('alternative');
  const text = await (await (await dir.getFileHandle(name + '.jsonl')).getFile()).text();
  await dir.removeEntry(name + '.jsonl');
  return text;
}"""
# A file of the app's runs, base64 (it is binary).
READ_RUN_JS = """async (file) => {
  const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('runs');
  const blob = await (await dir.getFileHandle(file)).getFile();
  const url = await new Promise((resolve) => { const r = new FileReader(); r.onload = () => resolve(r.result); r.readAsDataURL(blob); });
  return url.slice(url.indexOf(',') + 1);
}"""


@pytest.mark.parametrize("spec, params", [
    ("load", {"rate": 1_000_000, "vehicles": 20_000, "edges": 4_000, "error_rate": 0.01}),
    ("traffic", {}),
])
def test_same_events_as_vpslog(spec, params):
    config = {"source": spec, "params": params, "worker": 1, "workers": 2, "seed": 3}
    producer = bridge.make_producer(json.dumps(config))
    packed = b""
    while len(packed) < 409 * 32 * record.RECORD_SIZE:  # produce() works to a time budget: as much as it made
        packed += bridge.stream_data(producer.produce(32))
    ours = record.unpack(packed)
    driver = objlog.Driver(json.dumps(config))
    theirs = []
    while len(theirs) < len(ours):
        theirs += driver.step(4096)
    keys = ("time_ms", "vehicle_id", "edge_id", "status")
    steps = steplog.StepDriver(json.dumps(config))
    columns = []
    while len(columns) < len(ours):
        columns += zip(*steps.step())
    assert [tuple(ev[k] for k in keys) for ev in theirs[:len(ours)]] == ours == columns[:len(ours)]


def test_per_event_calls_become_objects_and_columns():
    log, cols = objlog.ObjectLog(), steplog.ColumnLog()
    for target in (log, cols):
        target.enter(5, 1, 2)
        target.exit(9, 1, 2)
        target.error(9, 1, 3)
        target(10, 4, 5, 1)
    assert log.events == [
        {"time_ms": 5, "vehicle_id": 1, "edge_id": 2, "status": 1},
        {"time_ms": 9, "vehicle_id": 1, "edge_id": 2, "status": 2},
        {"time_ms": 9, "vehicle_id": 1, "edge_id": 3, "status": 3},
        {"time_ms": 10, "vehicle_id": 4, "edge_id": 5, "status": 1},
    ]
    taken = cols.events.take()
    assert [json.loads(line) for line in cols.events.json_lines(taken).splitlines()] == log.events
    with pytest.raises(KeyError, match="stream 'fcd' is not declared"):
        cols.stream("fcd")


def model_records(source: dict) -> tuple[list[str], list[tuple]]:
    """What the model makes natively, every worker to its end: field names and records."""
    records = []
    for worker in range(WORKERS):
        d = steplog.StepDriver(json.dumps({**source, "worker": worker, "workers": WORKERS}))
        while not d.exhausted:
            records += zip(*d.step())
    return d.names, records


@pytest.fixture(scope="module")
def alt_page(module_page, app_url):
    module_page.evaluate("async ([p, i, w]) => (await import(p)).boot(i, w)", [PAGE_JS, app_url + "pyodide/", WORKERS])
    return module_page


@pytest.mark.parametrize("variant", ["arrays", "json"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_batched_variant_stores_every_record(alt_page, shape, variant):
    source = SHAPES[shape]
    run = alt_page.evaluate("async ([p, v, s]) => (await import(p)).runAlternative({variant: v, source: s, durationS: 120, keep: true})",
                            [PAGE_JS, variant, source])
    lines = alt_page.evaluate(READ_JS, run["name"]).splitlines()
    names, expected = model_records(source)
    assert len(expected) > 20_000 and run["records"] == len(lines) == len(expected)
    rows = [json.loads(line) for line in lines]
    assert all(list(row) == names for row in rows)
    # Two sims append to one file, each in its own order: compare as multisets.
    assert Counter(tuple(row.values()) for row in rows) == Counter(expected)


@pytest.fixture(scope="module")
def vpslog_page(module_page):
    alternative.prepare(module_page)
    return module_page


@pytest.mark.parametrize("shape", list(SHAPES))
def test_vpslog_stores_every_record(vpslog_page, shape):
    source = SHAPES[shape]
    run = vpslog_page.evaluate("async ([p, w, s]) => (await import(p)).runVpslog({workers: w, source: s, durationS: 120, keep: true})",
                               [PAGE_JS, WORKERS, source])
    data = base64.b64decode(vpslog_page.evaluate(READ_RUN_JS, run["file"]))
    vpslog_page.evaluate("id => window.vpslog.pipeline.deleteRun(id)", run["runId"])
    layout = from_json(run["layout"])
    names, expected = model_records(source)
    assert len(expected) > 20_000 and run["records"] == len(data) // layout.record_size == len(expected)
    # the model's fields, read from the file by the layout its manifest recorded (events also hold a pad byte)
    at = [layout.fields.index(layout.field(n)) for n in names]
    stored = Counter(tuple(r[i] for i in at) for r in layout.struct.iter_unpack(data))
    assert stored == Counter(expected)
