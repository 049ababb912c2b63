"""Python and the JS workers agree on the record bytes and the checksum, both ways."""

import random
import struct

import crc32c
import pytest

from harness import REPO
from vpslog import record
from vpslog.packer import new_columns, pack_columns

pytestmark = pytest.mark.browser

RECS = [(0, 0, 0, 1), (2**32 - 1, 65535, 65535, 3), (86_400_000, 513, 1027, 2)] + [
    (random.Random(i).randrange(2**32), i * 37 % 65536, i * 101 % 65536, 1 + i % 3) for i in range(1000)
]


def js_module(page, app_url, rel):
    # Vite serves files outside its root (web/) under /@fs/<absolute path>.
    return f"{app_url}@fs{REPO / rel}"


def test_js_encoded_records_read_in_python(page, app_url):
    page.goto(app_url)
    data = page.evaluate(
        """async ([url, recs]) => {
            const m = await import(url);
            const objs = recs.map(([time_ms, vehicle_id, edge_id, status]) => ({ time_ms, vehicle_id, edge_id, status }));
            return Array.from(m.encodeRecords(objs));
        }""",
        [js_module(page, app_url, "workers/record.js"), RECS],
    )
    assert record.unpack(bytes(data)) == RECS


def test_python_packed_records_read_in_js(page, app_url):
    page.goto(app_url)
    cols = new_columns()
    for r in RECS:
        for c, v in zip(cols, r):
            c.append(v)
    packed = bytes(pack_columns(*cols))
    decoded = page.evaluate(
        """async ([url, bytes]) => {
            const m = await import(url);
            return { recs: m.decodeRecords(new Uint8Array(bytes)).map((r) => [r.time_ms, r.vehicle_id, r.edge_id, r.status, r.pad]),
                     size: m.RECORD_SIZE, perBuffer: m.RECORDS_PER_BUFFER, status: m.Status };
        }""",
        [js_module(page, app_url, "workers/record.js"), list(packed)],
    )
    assert decoded["recs"] == [list(r) + [0] for r in RECS]
    assert (decoded["size"], decoded["perBuffer"]) == (record.RECORD_SIZE, record.RECORDS_PER_BUFFER)
    assert decoded["status"] == {"enter": 1, "exit": 2, "error": 3}


def test_js_checksum_equals_python_crc32c(page, app_url):
    page.goto(app_url)
    data = record.pack(RECS)
    # fed in uneven pieces, as the OPFS sink does
    js = page.evaluate(
        """async ([url, bytes]) => {
            const { createCrc32c } = await import(url);
            const h = await createCrc32c();
            const u8 = new Uint8Array(bytes);
            for (let i = 0; i < u8.length; i += 4093) h.update(u8.subarray(i, i + 4093));
            const check = await createCrc32c();
            check.update(new TextEncoder().encode('123456789'));
            return [h.digest('hex'), check.digest('hex')];
        }""",
        [js_module(page, app_url, "workers/checksum.js"), list(data)],
    )
    assert js == [f"{crc32c.crc32c(data):08x}", "e3069283"]  # e3069283: the CRC-32C check value


def test_js_encoded_parts_decode_in_python_and_back(page, app_url):
    """Every CLOUD part encoding: what the logger stores, Python reads byte for byte, and the reverse."""
    from vpslog import part_encoding

    page.goto(app_url)
    data = record.pack(RECS)
    theirs = {name: part_encoding.encode(data, name) for name in part_encoding.ENCODINGS}
    js = page.evaluate(
        """async ([url, bytes, theirs]) => {
            const m = await import(url);
            const data = new Uint8Array(bytes), out = {};
            for (const name of Object.keys(m.ENCODINGS)) {
              const e = await m.encodePart(data, name);
              const stored = new Uint8Array(await new Blob(e.chunks).arrayBuffer());
              const back = await m.decodePart(new Uint8Array(theirs[name]), name, data.byteLength);
              out[name] = { stored: Array.from(stored), pythonsDecoded: back.every((b, i) => b === data[i]) };
            }
            return out;
        }""",
        [js_module(page, app_url, "workers/encoding.js"), list(data), {k: list(v) for k, v in theirs.items()}],
    )
    assert list(js) == list(part_encoding.ENCODINGS)
    for name, r in js.items():
        stored = bytes(r["stored"])
        assert part_encoding.decode(stored, name, len(data), name) == data, name
        assert r["pythonsDecoded"], name
    assert bytes(js["raw"]["stored"]) == data


# Every type of layouts.json, at its extremes and in between (floats: subnormal, ±0, ±inf, NaN).
ALL_TYPES = [("time_ms", "uint32")] + [(t, t) for t in (
    "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64", "float32", "float64")]


def _rows():
    from vpslog import layout as L

    lay = L.resolve("every_type", ALL_TYPES)
    rng = random.Random(5)
    specials = [0.0, -0.0, float("inf"), float("-inf"), float("nan"), 1e-45, 5e-324, 3.4028234663852886e38, -1.5]
    rows = []
    for i in range(300):
        row = []
        for f in lay.fields:
            if f.is_float:
                row.append(specials[i % len(specials)] if i < 40 else rng.uniform(-1e6, 1e6))
            else:
                lo, hi = f.range
                row.append((lo, hi, 0)[i % 3] if i < 40 else rng.randint(lo, hi))
        rows.append(row)
    # a float32 field holds what float32 can: round through it so both sides start equal
    f32 = [i for i, f in enumerate(lay.fields) if f.type == "float32"]
    for row in rows:
        for i in f32:
            row[i] = struct.unpack("<f", struct.pack("<f", row[i]))[0]
    return lay, rows


def _as_js(v):
    # 64-bit integers cross as strings (BigInt on the JS side), floats as their repr (NaN, inf)
    if isinstance(v, int):
        return {"int": str(v)}
    return {"float": "NaN" if v != v else "Infinity" if v == float("inf") else "-Infinity" if v == float("-inf") else repr(v)}


def test_every_type_encodes_to_the_same_bytes_in_js_and_python(page, app_url):
    lay, rows = _rows()
    py_bytes = b"".join(lay.struct.pack(*r) for r in rows)
    page.goto(app_url)
    js = page.evaluate(
        """async ([url, fields, rows, pyBytes]) => {
            const L = await import(url);
            const lay = L.resolve('every_type', fields);
            const value = (f, v) => v.int !== undefined ? (f.big ? BigInt(v.int) : Number(v.int)) : Number(v.float);
            const encoded = L.encode(lay, rows.map((r) => r.map((v, i) => value(lay.fields[i], v))));
            const decoded = L.decode(lay, new Uint8Array(pyBytes)).map((r) => r.map((v) => (typeof v === 'bigint' ? `big:${v}` : Object.is(v, -0) ? '-0' : String(v))));
            return { encoded: Array.from(encoded), decoded, size: lay.recordSize, perBuffer: lay.recordsPerBuffer,
                     json: L.toJson(lay) };
        }""",
        [js_module(page, app_url, "workers/layout.js"), ALL_TYPES, [[_as_js(v) for v in r] for r in rows], list(py_bytes)],
    )
    assert bytes(js["encoded"]) == py_bytes
    assert (js["size"], js["perBuffer"], js["json"]) == (lay.record_size, lay.records_per_buffer, lay.to_json())

    def js_text(f, v):
        if not f.is_float:
            return f"big:{v}" if f.size == 8 else str(v)
        if v != v:
            return "NaN"
        if v in (float("inf"), float("-inf")):
            return "Infinity" if v > 0 else "-Infinity"
        if v == 0:
            return "-0" if str(v).startswith("-") else "0"
        return None  # compared numerically below

    for got, want in zip(js["decoded"], rows):
        for f, g, w in zip(lay.fields, got, want):
            expect = js_text(f, w)
            assert g == expect if expect is not None else float(g) == w, (f.name, g, w)


def test_js_and_python_refuse_the_same_declarations(page, app_url):
    from vpslog import layout as L

    cases = [
        ["fcd", [["x", "float32"]], {}], ["Fcd", [["time_ms", "uint32"]], {}], ["fcd", [["time_ms", "uint32"], ["x", "half"]], {}],
        ["fcd", [["time_ms", "uint32"], ["k", "uint8"]], {"k": {"a": 256}}],
        ["big", [["time_ms", "uint32"]] + [[f"f{i}", "float64"] for i in range(512)], {}],
        ["ok", [["time_ms", "uint32"], ["k", "int8"]], {"k": {"a": -3}}],
    ]
    page.goto(app_url)
    js = page.evaluate(
        """async ([url, cases]) => {
            const L = await import(url);
            return cases.map(([n, f, e]) => { try { return L.toJson(L.resolve(n, f, e)); } catch (err) { return 'error: ' + err.message; } });
        }""",
        [js_module(page, app_url, "workers/layout.js"), cases],
    )
    for (name, fields, enums), got in zip(cases, js):
        try:
            want = L.resolve(name, fields, enums).to_json()
        except L.LayoutError as e:
            want = f"error: {e}"
        assert got == want
