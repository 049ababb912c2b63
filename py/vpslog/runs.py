"""Where runs live, and the run catalogue (``vpslog ls``).

A location is a run file (``RUN.bin``, manifest beside it), a local directory of
runs, one CLOUD run (``s3://BUCKET/runs/<runId>``) or a bucket prefix
(``s3://BUCKET``, ``s3://BUCKET/runs/`` or ``s3://BUCKET/runs/<id prefix>*``). :func:`resolve` turns
locations into run references that any process can read, Dask workers on other
machines included: an S3 reference holds only the bucket and run id, and the
reading process takes the endpoint and keys from its own environment
(``VPSLOG_S3_*``), never from the browser or the client. Reading is in blocks
of whole records, each checked where it is read (CRC32C per CLOUD part).

The catalogue reads manifests only, never parts, many at once, and keeps the
rows of complete CLOUD runs in one small object beside them (``catalogue``),
which the server also updates as each run's manifest lands (``catalogue_landed``).
"""

from __future__ import annotations

import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from . import store
from .manifest import ManifestError, check_manifest, load_manifest, manifest_streams, sibling_manifest
from .record import RECORD_SIZE

__all__ = ["LocalRun", "S3Run", "RunError", "resolve", "resolve_all", "catalogue", "catalogue_landed", "is_run_address", "source_facts",
           "param_columns", "block_records"]

BLOCK_RECORDS = 4 << 20  # events records (~40 MB) read per step (local) or per group of 5 MiB parts (S3)
MANIFEST_SUFFIX = ".manifest.json"


class RunError(ValueError):
    pass


def block_records(record_size: int) -> int:
    """Records per block of a stream: as many bytes as BLOCK_RECORDS events records, whatever the
    stream's record size, so that reading any stream holds about the same memory per block."""
    return max(1, BLOCK_RECORDS * RECORD_SIZE // record_size)


@dataclass(frozen=True)
class LocalRun:
    bin_path: str
    manifest_path: str

    @property
    def name(self) -> str:
        return self.bin_path

    def manifest(self) -> dict:
        path = Path(self.bin_path)
        if not path.is_file():
            raise RunError(f"{path}: no such file")
        if not Path(self.manifest_path).is_file():
            raise RunError(f"no manifest for {path} (looked for {self.manifest_path}); pass --manifest")
        return load_manifest(Path(self.manifest_path))

    def _file(self, stream) -> tuple[Path, int]:
        """The file of ``stream`` (a ``manifest_streams`` entry; None: events) and its record size."""
        if stream is None or stream.name == "events":
            return Path(self.bin_path), RECORD_SIZE
        return Path(self.bin_path).with_name(stream.file), stream.layout.record_size

    def blocks(self, manifest: dict, stream=None) -> list:
        """(start record, count) of ``stream``'s file (default: events), checked against its manifest entry
        (each stream on its own: a damaged one leaves the others readable)."""
        n, step = manifest["records"], BLOCK_RECORDS
        if stream is None or stream.name == "events":
            path = Path(self.bin_path)
            size = path.stat().st_size
            if size % RECORD_SIZE:
                raise RunError(f"{path}: size {size} is not a multiple of {RECORD_SIZE} (truncated or not a run file)")
            if n != size // RECORD_SIZE:
                raise RunError(f"manifest says {n} records, {path} has {size // RECORD_SIZE}: wrong manifest?")
        else:
            path, n, step = self._file(stream)[0], stream.records, block_records(stream.layout.record_size)
            if not path.is_file():
                raise RunError(f"{path}: no such file (stream {stream.name} of this run)")
            if path.stat().st_size != stream.bytes:
                raise RunError(f"{path}: {path.stat().st_size} bytes, the manifest says {stream.bytes} "
                               f"(stream {stream.name}; truncated?)")
        return [(start, min(step, n - start)) for start in range(0, n, step)]

    def read(self, block, stream=None) -> bytes:
        start, count = block
        path, size = self._file(stream)
        with open(path, "rb") as f:
            f.seek(start * size)
            data = f.read(count * size)
        if len(data) != count * size:
            raise RunError(f"{path}: shorter than its manifest says (changed while reading?)")
        return data

    def pieces(self, block, stream=None):
        """The block's records as they are read: one piece."""
        yield self.read(block, stream)


@dataclass(frozen=True)
class S3Run:
    bucket: str
    run_id: str

    @property
    def name(self) -> str:
        return f"s3://{self.bucket}/{store.RUNS_PREFIX}{self.run_id}"

    def manifest(self) -> dict:
        m = check_manifest(store.read_manifest(store.client_from_env(), self.bucket, self.run_id), self.name)
        parts = m.get("parts") or []
        if any(p["bytes"] % RECORD_SIZE for p in parts):
            raise RunError(f"{self.name}: a part is not whole records")
        if sum(p["bytes"] for p in parts) != m["bytes"] or m["bytes"] != m["records"] * RECORD_SIZE:
            raise RunError(f"{self.name}: the manifest's parts, bytes and records disagree")
        return m

    def blocks(self, manifest: dict, stream=None) -> list:
        """Consecutive parts of ``stream`` (a ``manifest_streams`` entry; default: events) grouped to
        about ``block_records``: (start record, (manifest part entry, ...))."""
        parts, record = manifest["parts"], RECORD_SIZE
        if stream is not None and stream.name != "events":
            parts, record = stream.parts, stream.layout.record_size
            if any(p["bytes"] % record for p in parts) or sum(p["bytes"] for p in parts) != stream.bytes:
                raise RunError(f"{self.name}: the parts of stream {stream.name} are not its {stream.bytes} bytes of whole records")
        blocks, group, start, size = [], [], 0, 0
        for p in parts:
            group.append(p)
            size += p["bytes"]
            if size >= block_records(record) * record:
                blocks.append((start, tuple(group)))
                start, group, size = start + size // record, [], 0
        if group:
            blocks.append((start, tuple(group)))
        return blocks

    def pieces(self, block, stream=None):
        """The block's parts one by one, decoded (by their stream's record size) and each checked
        against the manifest's sizes and CRC32C: a reader that takes them so never joins them."""
        record_size = RECORD_SIZE if stream is None else stream.layout.record_size
        for p in block[1]:
            yield store.read_part(store.client_from_env(), self.bucket, p, record_size)

    def read(self, block, stream=None) -> bytes:
        return b"".join(self.pieces(block, stream))


def is_run_address(location: str) -> bool:
    """A location naming exactly one run (not a directory or a prefix)."""
    return bool(store.S3_URL.match(location)) if location.startswith("s3://") else not Path(location).is_dir()


def resolve(location: str, manifest_path=None) -> list:
    """The runs at ``location``, in a stable order."""
    if location.startswith("s3://"):
        if m := store.S3_URL.match(location):
            return [S3Run(m["bucket"], m["run"])]
        bucket, prefix = store.location(location)
        return [S3Run(bucket, r) for r in store.run_ids(store.client_from_env(), bucket, prefix)]
    path = Path(location)
    if path.is_dir():
        if manifest_path:
            raise RunError("--manifest names the manifest of one run file, not of a directory")
        bins = {p.name.removesuffix(".bin") for p in path.glob("*.bin")}
        stems = bins | {p.name.removesuffix(MANIFEST_SUFFIX) for p in path.glob("*" + MANIFEST_SUFFIX)}
        # <runId>.<stream>.bin is a stream of run <runId>, not a run of its own
        stems = {s for s in stems if s.rpartition(".")[0] not in stems}
        return [LocalRun(str(path / f"{s}.bin"), str(path / f"{s}{MANIFEST_SUFFIX}")) for s in sorted(stems)]
    if not manifest_path and (owner := _stream_owner(path)):
        return [owner]
    return [LocalRun(str(path), str(manifest_path or sibling_manifest(path)))]


def _stream_owner(path: Path) -> LocalRun | None:
    """The run whose stream file ``path`` is (``<runId>.<stream>.bin`` beside ``<runId>.bin`` and its
    manifest, with no manifest of its own): ``RUN*.bin`` then names each run once, whatever its streams."""
    stem = path.name.removesuffix(".bin").rpartition(".")[0]
    if not stem or sibling_manifest(path).exists():
        return None
    run = path.with_name(f"{stem}.bin")
    return LocalRun(str(run), str(sibling_manifest(run))) if run.is_file() and sibling_manifest(run).is_file() else None


def resolve_all(locations, manifest_path=None) -> list:
    """The runs at each of ``locations``, each run once (a run and its stream files name the same run)."""
    return list(dict.fromkeys(r for loc in locations for r in resolve(str(loc), manifest_path)))


def source_facts(m: dict) -> tuple[str | None, dict]:
    """The source's name and parameters, from the manifest's run source or else the logger's config."""
    src = m.get("source") or ((m.get("config") or {}).get("source")) or {}
    if not isinstance(src, dict):
        return None, {}
    name = src.get("name") or src.get("source")
    params = src.get("params") or src.get("config") or {k: v for k, v in src.items() if k not in ("name", "source")}
    return name, params if isinstance(params, dict) else {}


def param_columns(params: dict) -> dict:
    """A source's scalar parameters as table columns ``param_<name>`` (the sweep table, ``Runs.table``);
    nested ones, like an edge table, are left out."""
    return {f"param_{k}": v for k, v in params.items() if isinstance(v, (bool, int, float, str))}


def _row(run, m: dict | None, problem: str | None = None, complete: bool = False) -> dict:
    name, params = source_facts(m) if m else (None, {})
    return {
        "run_id": (m or {}).get("run_id") or getattr(run, "run_id", None) or Path(run.bin_path).stem,
        "location": run.name,
        "created_at": (m or {}).get("created_at"),
        "status": (m or {}).get("status"),
        "mode": (m or {}).get("mode"),
        "records": (m or {}).get("records"),
        "bytes": (m or {}).get("bytes"),
        "streams": {e.name: e.records for e in manifest_streams(m)} if m else None,
        "source": name,
        "params": params,
        "complete": complete,
        "problem": problem,
    }


def _local_row(run: LocalRun) -> dict:
    try:
        m = load_manifest(Path(run.manifest_path))
    except ManifestError as e:
        return _row(run, None, str(e))
    path = Path(run.bin_path)
    for e in manifest_streams(m):
        f = path if e.name == "events" else path.with_name(e.file)
        if not f.is_file():
            return _row(run, m, f"{f.name} is missing")
        if f.stat().st_size != e.bytes:
            return _row(run, m, f"{f.name} has {f.stat().st_size} bytes, the manifest says {e.bytes}")
    return _row(run, m, None if m["status"] == "closed" else f"status {m['status']}", m["status"] == "closed")


def _s3_row(run: S3Run, s3=None) -> dict:
    s3 = s3 or store.client_from_env()
    key = store.manifest_key(run.run_id)
    try:
        got = store.get(s3, run.bucket, key)
    except store.StoreError as e:
        return _row(run, None, str(e))
    if got is None:
        parts = store.part_count(s3, run.bucket, run.run_id)
        return _row(run, None, f"incomplete: no manifest yet, {parts} part(s) uploaded")
    try:
        m = check_manifest(json.loads(got[0]), key)
    except (ValueError, ManifestError) as e:
        return _row(run, None, str(e))
    return _row(run, m, None if m["status"] == "closed" else f"status {m['status']}", m["status"] == "closed")


def _rows(runs, row, concurrency: int) -> list[dict]:
    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(row, runs))


def catalogue(location: str, concurrency: int = 32) -> list[dict]:
    """One row per run at ``location``, from manifests only, read concurrently.

    In a bucket, the rows of complete runs are also kept in one small object,
    ``runs/catalogue.json``: a complete run's manifest never changes, so a later
    listing reads that object (one GET) plus the manifests of runs it does not
    hold yet, then adds them to it."""
    if Path(location).is_dir():
        return _rows(resolve(location), _local_row, concurrency)
    if not location.startswith("s3://"):
        raise RunError(f"{location}: not a directory or an s3:// location")
    bucket, prefix = store.location(location)
    s3 = store.client_from_env()
    ids = store.run_ids(s3, bucket, prefix)
    known, etag = _read_catalogue(s3, bucket)
    fresh = _rows([S3Run(bucket, r) for r in ids if r not in known], _s3_row, concurrency)
    fresh = {r["location"].rsplit("/", 1)[1]: r for r in fresh}
    new = {k: r for k, r in fresh.items() if r["complete"]}
    if new:
        _add_to_catalogue(s3, bucket, new, known, etag)
    by_id = {**known, **fresh}
    return [by_id[r] for r in ids]


def catalogue_landed(s3, bucket: str, run_id: str) -> dict:
    """The hook for a run whose manifest has just landed (``POST /api/seal``): its row, read
    from the manifest in the bucket (never from the writer's copy), added to
    ``runs/catalogue.json`` if the run is complete. ``row["catalogued"]`` says whether it is
    there now; if not (a busy object), the next ``vpslog ls`` adds it."""
    row = _s3_row(S3Run(bucket, run_id), s3)
    known, etag = _read_catalogue(s3, bucket)
    done = run_id in known or (row["complete"] and _add_to_catalogue(s3, bucket, {run_id: row}, known, etag))
    return {**row, "catalogued": bool(done)}


def _read_catalogue(s3, bucket: str) -> tuple[dict, str | None]:
    got = store.get(s3, bucket, store.CATALOGUE_KEY)
    if got is None:
        return {}, None
    try:
        body = json.loads(got[0])
        return {k: v for k, v in body["runs"].items() if isinstance(v, dict) and v.get("complete")}, got[1]
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}, None  # unreadable: rebuilt from the manifests, and overwritten below


def _add_to_catalogue(s3, bucket: str, new: dict, known: dict, etag: str | None, attempts: int = 8) -> bool:
    """Compare-and-swap: put the union only if nobody wrote the object since we read it, else
    re-read and merge (entries never change, so a union is always right), after a short random
    wait so that writers who collided do not collide again. Best effort: a read-only key or a
    busy object only means the next listing reads more manifests. True once it is written."""
    for attempt in range(attempts):
        body = json.dumps({"format": "vpslog-catalogue", "runs": {**known, **new}}).encode()
        try:
            if store.put_json_if(s3, bucket, store.CATALOGUE_KEY, body, etag):
                return True
        except store.StoreError:
            return False
        time.sleep(random.uniform(0, 0.02 * 2 ** attempt))
        known, etag = _read_catalogue(s3, bucket)
    return False
