"""``vpslog verify``: check a run's files record by record without loading them whole.

Every stream of a run is checked (the events file ``<runId>.bin`` and, with a
version-2 manifest, each ``<runId>.<stream>.bin``): whole records, time range,
CRC32C, and the counts its manifest recorded, per producer too. A file is
mapped with ``numpy.memmap`` and scanned in fixed-size chunks, so memory stays
bounded (a few tens of MB) whatever the file size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .layout import EVENTS, EVENTS_WIDE, Layout
from .manifest import ManifestError, StreamEntry, load_manifest, manifest_streams, sibling_manifest
from .record import Status
from .runs import resolve
from .store import S3_URL, StoreError, client_from_env, manifest_key, read_part

CHUNK_RECORDS = 1 << 20  # 10 MB of events records per step


@dataclass
class _Scanned:
    path: str
    bytes: int
    records: int = 0
    time_min_ms: int | None = None
    time_max_ms: int | None = None
    status_counts: dict[str, int] = field(default_factory=dict)
    checksum: str | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class StreamReport(_Scanned):
    """One declared (or events_wide) stream of a run; its problems are also the run's."""

    name: str = ""


@dataclass
class Report(_Scanned):
    """The run: the events file's figures, and ``streams``, every other stream of a version-2 run."""

    manifest: str | None = None
    warnings: list[str] = field(default_factory=list)
    streams: list[StreamReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _file_chunks(path: Path, n: int, layout: Layout):
    import numpy as np

    dtype = layout.numpy_dtype()
    for start in range(0, n, CHUNK_RECORDS):
        # A fresh mapping per chunk, dropped after use: resident memory stays at
        # about one chunk, however large the file.
        yield np.memmap(path, dtype=dtype, mode="r", offset=start * layout.record_size,
                        shape=(min(CHUNK_RECORDS, n - start),))


def _scan(chunks, report: _Scanned, layout: Layout = EVENTS) -> int:
    """Scans record chunks (numpy arrays of the layout) into the report; returns their CRC32C.
    The events' status (both built-in layouts) and pad are checked; declared enums are labels only."""
    import crc32c
    import numpy as np

    statuses, pad = layout in (EVENTS, EVENTS_WIDE), layout == EVENTS
    counts = np.zeros(256, dtype=np.int64)
    bad_pad = 0
    crc = 0
    tmin = tmax = None
    for chunk in chunks:
        if not len(chunk):
            continue
        report.records += len(chunk)
        t = chunk["time_ms"]
        lo, hi = int(t.min()), int(t.max())
        tmin = lo if tmin is None else min(tmin, lo)
        tmax = hi if tmax is None else max(tmax, hi)
        if statuses:
            counts += np.bincount(chunk["status"], minlength=256)
        if pad:
            bad_pad += int(np.count_nonzero(chunk["pad"]))
        crc = crc32c.crc32c(np.ascontiguousarray(chunk).view(np.uint8), crc)
        del chunk, t
    report.time_min_ms, report.time_max_ms = tmin, tmax
    if not statuses:
        return crc
    known = {s.value for s in Status}
    report.status_counts = {s.name.lower(): int(counts[s.value]) for s in Status}
    unknown = int(counts.sum() - sum(counts[v] for v in known))
    if unknown:
        values = sorted(int(v) for v in np.flatnonzero(counts) if v not in known)
        report.problems.append(f"{unknown} record(s) with unknown status (values {values[:10]})")
    if bad_pad:
        report.problems.append(f"{bad_pad} record(s) with a non-zero pad byte")
    return crc


def _scan_file(path: Path, report: _Scanned, layout: Layout = EVENTS) -> None:
    import crc32c

    size = layout.record_size
    n = report.bytes // size
    crc = _scan(_file_chunks(path, n, layout), report, layout)
    tail = report.bytes - n * size
    if tail:
        with path.open("rb") as f:
            f.seek(n * size)
            crc = crc32c.crc32c(f.read(tail), crc)
        report.problems.append(
            f"size {report.bytes} is not a multiple of {size}: {tail} trailing byte(s) (truncated write?)"
        )
    report.checksum = f"{crc:08x}"


def _attributed_in_part(m: dict) -> bool:
    """A recovered run or a snapshot attributes records to producers only up to its last checkpoint."""
    return m["status"] in ("recovered", "snapshot")


def _verify_stream(directory: Path, entry: StreamEntry, in_part: bool = False) -> StreamReport:
    """One non-events stream: its file scanned, then held to its manifest entry."""
    path = directory / entry.file
    r = StreamReport(path=str(path), bytes=0, name=entry.name)
    if not path.is_file():
        r.problems.append(f"{path.name} is missing")
        return r
    r.bytes = path.stat().st_size
    _scan_file(path, r, entry.layout)
    _check_counts(entry, r, in_part)
    return r


def _check_counts(entry: StreamEntry, r: _Scanned, in_part: bool) -> None:
    if entry.bytes != r.bytes:
        r.problems.append(f"manifest says {entry.bytes} bytes, file has {r.bytes}")
    if entry.records != r.records:
        r.problems.append(f"manifest says {entry.records} records, file has {r.records}")
    received = sum(entry.producers.values())
    if received > entry.records + entry.dropped_records or received < entry.records + entry.dropped_records and not in_part:
        r.problems.append(f"producers account for {received} records ({entry.producers}), manifest has "
                          f"{entry.records} stored + {entry.dropped_records} dropped")
    if entry.checksum != r.checksum:
        r.problems.append(f"checksum mismatch: manifest crc32c {entry.checksum}, file {r.checksum}")


def _cloud_chunks(run, parts: list, report: _Scanned, layout: Layout = EVENTS):
    """A stream's parts as record arrays, streamed; a missing or damaged part is a problem, not the end."""
    import numpy as np
    from botocore.exceptions import ClientError

    for p in parts:
        try:
            body = read_part(client_from_env(), run.bucket, p, layout.record_size)
        except StoreError as e:  # names the part already
            report.problems.append(str(e))
            continue
        except ClientError as e:
            report.problems.append(f"{p['key']}: {e}")
            continue
        report.bytes += len(body)
        yield np.frombuffer(body, dtype=layout.numpy_dtype())



def _verify_cloud(url: str, bucket: str, run_id: str) -> Report:
    report = Report(path=url, bytes=0, manifest=f"s3://{bucket}/{manifest_key(run_id)}")
    try:
        (run,) = resolve(url)
        manifest = run.manifest()
    except ValueError as e:
        report.problems.append(str(e))
        return report
    report.checksum = f"{_scan(_cloud_chunks(run, manifest['parts'], report), report):08x}"
    _check_manifest(manifest, report)
    for entry in manifest_streams(manifest)[1:]:
        r = StreamReport(path=f"{url}/{entry.name}", bytes=0, name=entry.name)
        r.checksum = f"{_scan(_cloud_chunks(run, entry.parts, r, entry.layout), r, entry.layout):08x}"
        _check_counts(entry, r, _attributed_in_part(manifest))
        report.streams.append(r)
        report.problems += [f"stream {r.name}: {p}" for p in r.problems]
    return report


def _status_warning(m: dict) -> str | None:
    """Runs that are valid but not closed normally: what the user must know about them."""
    if m["status"] == "recovered":
        r = m.get("recovery") or {}
        return (f"run was interrupted and recovered at {m.get('recovered_at')}: {r.get('cause')}; "
                f"it holds the whole records written before, {r.get('unattributed_records', 0)} of them "
                f"not attributed to a producer, {r.get('trailing_bytes_cut', 0)} trailing byte(s) cut")
    if m["status"] == "snapshot":
        return f"snapshot taken at {m.get('snapshot_at')} of a run that was still being written: it may have grown since"
    return None


def _check_manifest(m: dict, report: Report) -> None:
    warning = _status_warning(m)
    if warning:
        report.warnings.append(warning)
    elif m["status"] != "closed":
        report.problems.append(f"manifest status is {m['status']!r}, not 'closed' (run ended abnormally?)")
    if m["bytes"] != report.bytes:
        report.problems.append(f"manifest says {m['bytes']} bytes, file has {report.bytes}")
    if m["records"] != report.records:
        report.problems.append(f"manifest says {m['records']} records, file has {report.records}")
    # records a recovered run or snapshot could not attribute to a producer
    unattributed = (m.get("recovery") or m.get("snapshot") or {}).get("unattributed_records", 0)
    received = sum(p.get("records", 0) for p in m["producers"]) + unattributed
    dropped = (m.get("errors") or {}).get("dropped_records", 0)
    if received != m["records"] + dropped:
        report.problems.append(
            f"producers account for {received} records, manifest has {m['records']} stored + {dropped} dropped"
        )
    elif dropped:
        report.problems.append(f"{dropped} received record(s) were dropped (storage failed)")
    ck = m.get("checksum") or {}
    if ck.get("algorithm") != "crc32c":
        report.problems.append(f"manifest checksum algorithm {ck.get('algorithm')!r} is not crc32c")
    elif ck.get("value") != report.checksum:
        report.problems.append(f"checksum mismatch: manifest crc32c {ck.get('value')}, file {report.checksum}")


def verify(bin_path, manifest_path=None) -> Report:
    """A run file (and its manifest), or a CLOUD run ``s3://BUCKET/runs/<runId>`` streamed part by part."""
    if m := S3_URL.match(str(bin_path)):
        return _verify_cloud(str(bin_path), m["bucket"], m["run"])
    path = Path(bin_path)
    if not path.is_file():
        return Report(path=str(path), bytes=0, problems=[f"{path}: no such file"])
    report = Report(path=str(path), bytes=path.stat().st_size)
    if manifest_path is None and sibling_manifest(path).is_file():
        manifest_path = sibling_manifest(path)
    if manifest_path is None:
        report.warnings.append(f"no manifest (looked for {sibling_manifest(path)}): the records were checked, not the"
                               " counts and checksum the run recorded; pass --manifest if it is elsewhere")
    manifest = None
    if manifest_path is not None:
        report.manifest = str(manifest_path)
        try:
            manifest = load_manifest(Path(manifest_path))
        except ManifestError as e:
            report.problems.append(str(e))
    _scan_file(path, report)
    if manifest is not None:
        _check_manifest(manifest, report)
        streams = manifest_streams(manifest)
        events = streams[0]
        if (events.records, events.checksum) != (manifest["records"], (manifest.get("checksum") or {}).get("value")):
            report.problems.append("manifest: the events entry of streams disagrees with the top-level records or checksum")
        for entry in streams[1:]:
            r = _verify_stream(path.parent, entry, _attributed_in_part(manifest))
            report.streams.append(r)
            report.problems += [f"stream {r.name} ({Path(r.path).name}): {p}" for p in r.problems]
    return report
