"""Python and the JS workers agree on the record bytes and the checksum, both ways."""

import random

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
