"""`vpslog verify` on good and deliberately corrupted runs (CPython, numpy)."""

import json
import subprocess
import sys

import crc32c
import pytest

from vpslog import record
from vpslog.cli import main
from vpslog.verify import verify

RECS = [(3 * i, i % 500, i % 40, 1 + i % 3) for i in range(10_000)]


def write_run(tmp_path, data, **overrides):
    bin_path = tmp_path / "run-x.bin"
    bin_path.write_bytes(data)
    manifest = {
        "format": "vpslog-run",
        "manifest_version": 1,
        "run_id": "run-x",
        "status": "closed",
        "record_layout": record.LAYOUT,
        "records": len(data) // 10,
        "bytes": len(data),
        "producers": [{"id": 0, "records": len(data) // 10}],
        "checksum": {"algorithm": "crc32c", "value": f"{crc32c.crc32c(data):08x}"},
    }
    manifest.update(overrides)
    (tmp_path / "run-x.manifest.json").write_text(json.dumps(manifest))
    return bin_path


def test_good_run_reports_counts_and_range(tmp_path):
    r = verify(write_run(tmp_path, record.pack(RECS)))
    assert r.ok, r.problems
    assert r.records == len(RECS)
    assert (r.time_min_ms, r.time_max_ms) == (0, 29_997)
    assert r.status_counts == {"enter": 3334, "exit": 3333, "error": 3333}
    assert r.manifest.endswith("run-x.manifest.json")


def test_chunked_scan_equals_a_single_pass(tmp_path, monkeypatch):
    import vpslog.verify as v

    path = write_run(tmp_path, record.pack(RECS))
    whole = verify(path)  # one chunk: the file is smaller than CHUNK_RECORDS
    assert v.CHUNK_RECORDS > len(RECS)
    monkeypatch.setattr(v, "CHUNK_RECORDS", 777)  # 13 chunks, the last one partial
    small = verify(path)
    assert small.ok and small.checksum == whole.checksum == f"{crc32c.crc32c(path.read_bytes()):08x}"
    assert (small.records, small.time_min_ms, small.time_max_ms) == (whole.records, whole.time_min_ms, whole.time_max_ms)
    assert small.status_counts == whole.status_counts == {"enter": 3334, "exit": 3333, "error": 3333}


def corrupt(data: bytes, offset: int, value: int) -> bytes:
    b = bytearray(data)
    b[offset] = value
    return bytes(b)


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda d: d + b"\x01\x02\x03", "not a multiple of 10: 3 trailing"),
        (lambda d: corrupt(d, 10 * 5 + 9, 7), "1 record(s) with a non-zero pad"),
        (lambda d: corrupt(d, 10 * 8 + 8, 9), "1 record(s) with unknown status (values [9])"),
    ],
)
def test_corrupt_data_fails_with_a_clear_line(tmp_path, mutate, expected):
    good = record.pack(RECS)
    bad = mutate(good)
    path = tmp_path / "run-x.bin"
    path.write_bytes(bad)
    r = verify(path)  # no manifest: the data checks alone must catch it
    assert not r.ok
    assert any(expected in p for p in r.problems), r.problems


def test_bytes_changed_after_close_fail_the_checksum(tmp_path):
    path = write_run(tmp_path, record.pack(RECS))
    path.write_bytes(corrupt(path.read_bytes(), 0, 0xFF))
    r = verify(path)
    assert [p for p in r.problems if p.startswith("checksum mismatch")]


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"records": 1}, "manifest says 1 records"),
        ({"status": "open"}, "status is 'open'"),
        ({"producers": [{"id": 0, "records": 5}]}, "producers account for 5 records, manifest has 10000 stored + 0 dropped"),
        ({"producers": [{"id": 0, "records": 10_005}], "errors": {"dropped_records": 5}}, "5 received record(s) were dropped"),
        ({"format": "other"}, "not a vpslog run manifest"),
        ({"record_layout": {"record_size": 12, "fields": []}}, "record layout differs"),
    ],
)
def test_manifest_mismatches_fail(tmp_path, overrides, expected):
    r = verify(write_run(tmp_path, record.pack(RECS), **overrides))
    assert any(expected in p for p in r.problems), r.problems


RECOVERED = {
    "status": "recovered", "recovered_at": "2026-11-28T05:00:00.000Z",
    "recovery": {"cause": "the tab writing this run stopped without closing it", "trailing_bytes_cut": 3,
                 "unattributed_records": 400, "last_checkpoint_at": None},
    "producers": [{"id": 0, "records": 9_600}],
}


def test_a_recovered_run_passes_with_a_warning(tmp_path, capsys):
    path = write_run(tmp_path, record.pack(RECS), **RECOVERED)
    r = verify(path)
    assert r.ok, r.problems
    assert len(r.warnings) == 1 and "interrupted and recovered at 2026-11-28T05:00:00.000Z" in r.warnings[0]
    assert "400 of them not attributed to a producer, 3 trailing byte(s) cut" in r.warnings[0]
    assert main(["verify", str(path)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert [line for line in err if line.startswith("WARNING: run was interrupted")] and not [
        line for line in err if line.startswith("FAIL")]


def test_a_recovered_run_still_fails_on_bad_counts(tmp_path):
    r = verify(write_run(tmp_path, record.pack(RECS), **{**RECOVERED, "producers": [{"id": 0, "records": 1}]}))
    assert any("producers account for 401 records" in p for p in r.problems), r.problems


def test_a_snapshot_passes_with_a_warning(tmp_path):
    r = verify(write_run(tmp_path, record.pack(RECS), status="snapshot", snapshot_at="2026-11-28T05:00:00.000Z",
                         snapshot={"note": "copy", "unattributed_records": 10_000}, producers=[{"id": 0, "records": 0}]))
    assert r.ok, r.problems
    assert r.warnings == ["snapshot taken at 2026-11-28T05:00:00.000Z of a run that was still being written: it may have grown since"]


def test_unreadable_manifest_and_missing_file(tmp_path):
    path = write_run(tmp_path, record.pack(RECS))
    (tmp_path / "run-x.manifest.json").write_text("{truncated")
    assert any("not valid JSON" in p for p in verify(path).problems)
    assert verify(tmp_path / "nope.bin").problems == [f"{tmp_path / 'nope.bin'}: no such file"]


def test_a_run_without_a_manifest_passes_saying_what_was_not_checked(tmp_path, capsys):
    path = write_run(tmp_path, record.pack(RECS))
    (tmp_path / "run-x.manifest.json").unlink()
    assert main(["verify", str(path)]) == 0
    out = capsys.readouterr()
    assert out.out.splitlines()[-1] == "OK" and "WARNING: no manifest (looked for" in out.err
    assert main(["verify", str(tmp_path / "nope.bin")]) == 1
    out = capsys.readouterr()
    assert out.out.splitlines() == ["1 problem(s)"] and "FAIL: " in out.err  # no summary of a file never read


def test_cli_exit_codes_and_json(tmp_path, capsys):
    path = write_run(tmp_path, record.pack(RECS))
    assert main(["verify", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and out["records"] == len(RECS)
    path.write_bytes(path.read_bytes()[:-4])
    assert main(["verify", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert "FAIL: size 99996 is not a multiple of 10: 6 trailing byte(s) (truncated write?)" in err
    assert any(line.startswith("FAIL: manifest says 100000 bytes") for line in err)


def test_a_large_file_is_scanned_in_bounded_memory(tmp_path):
    # 60 M records (600 MB) of valid data; a whole-file load would need >= 600 MB.
    block = record.pack([(i, i, i, 1) for i in range(1 << 16)])
    path = tmp_path / "big.bin"
    with path.open("wb") as f:
        for _ in range(60_000_000 // (1 << 16)):
            f.write(block)
    size_mb = path.stat().st_size / 1e6
    # VmHWM, not ru_maxrss: the latter survives exec and would report this (big) test process.
    code = (
        "import re, sys; from vpslog.verify import verify; r = verify(sys.argv[1]); "
        "print(r.records, re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1])"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], check=True, capture_output=True, text=True).stdout
    records, peak_kb = map(int, out.split())
    assert records == path.stat().st_size // 10
    assert peak_kb / 1024 < 200, f"peak RSS {peak_kb / 1024:.0f} MB for a {size_mb:.0f} MB file"
