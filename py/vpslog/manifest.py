"""Reading run manifests (``runs/<runId>.manifest.json``), written by the logger worker.

The logger (``workers/manifest.js``) is the writer; this module is the reader
and checks that a manifest describes the record layout this package knows.
Version 2 adds ``streams``: every stream of the run with its layout, file,
counts and CRC32C (docs/streams.md); a version-1 manifest reads as a run of
the events stream only (:func:`manifest_streams`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .layout import EVENTS, Layout, LayoutError, from_json
from .record import LAYOUT

FORMAT = "vpslog-run"
SUPPORTED_VERSIONS = {1, 2}
_REQUIRED = ("run_id", "status", "record_layout", "records", "bytes", "producers")


class ManifestError(ValueError):
    pass


def schema() -> dict:
    """The JSON Schema both manifest writers (browser and CLI) are tested against."""
    from importlib import resources

    return json.loads(resources.files(__package__).joinpath("manifest.schema.json").read_text(encoding="utf-8"))


def sibling_manifest(bin_path: Path) -> Path:
    return bin_path.with_name(bin_path.name.removesuffix(".bin") + ".manifest.json")


def load_manifest(path: Path) -> dict:
    try:
        m = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"manifest {path} not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ManifestError(f"manifest {path} is not valid JSON: {e}") from None
    return check_manifest(m, path)


def check_manifest(m, path) -> dict:
    """``m`` if it is a manifest of a layout this package reads (``path`` names it in errors)."""
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise ManifestError(f"{path} is not a vpslog run manifest (format != {FORMAT!r})")
    if m.get("manifest_version") not in SUPPORTED_VERSIONS:
        raise ManifestError(f"{path}: manifest_version {m.get('manifest_version')!r} is not supported")
    missing = [k for k in _REQUIRED if k not in m]
    if missing:
        raise ManifestError(f"{path}: missing field(s) {', '.join(missing)}")
    layout = m["record_layout"]
    if layout.get("record_size") != LAYOUT["record_size"] or layout.get("fields") != LAYOUT["fields"]:
        raise ManifestError(f"{path}: record layout differs from the one this vpslog reads")
    manifest_streams(m, path)
    return m


@dataclass(frozen=True)
class StreamEntry:
    """One stream of a run as its manifest records it."""

    name: str
    layout: Layout
    file: str
    records: int
    bytes: int
    checksum: str | None  # crc32c, 8 hex digits
    producers: dict = field(default_factory=dict)  # producer id (as a string) -> records
    dropped_records: int = 0
    parts: list = field(default_factory=list)


def manifest_streams(m: dict, path="manifest") -> list[StreamEntry]:
    """The run's streams in index order; a version-1 manifest has the events stream only."""
    if m.get("manifest_version") == 1:
        return [StreamEntry("events", EVENTS, f"{m.get('run_id')}.bin", m["records"], m["bytes"],
                            (m.get("checksum") or {}).get("value"),
                            {str(p.get("id")): p.get("records", 0) for p in m["producers"]},
                            (m.get("errors") or {}).get("dropped_records", 0), m.get("parts") or [])]
    out = []
    for i, s in enumerate(m.get("streams") if isinstance(m.get("streams"), list) else [None]):
        try:
            layout = from_json(s["layout"])
            entry = StreamEntry(s["name"], layout, s["file"], s["records"], s["bytes"], (s["checksum"] or {}).get("value"),
                                dict(s["producers"]), s["dropped_records"], s.get("parts") or [])
        except (KeyError, TypeError, AttributeError, LayoutError) as e:
            raise ManifestError(f"{path}: stream {i} is not a stream entry ({e})") from None
        if entry.name != layout.name or entry.bytes != entry.records * layout.record_size:
            raise ManifestError(f"{path}: stream {entry.name}: its name, layout, records and bytes disagree")
        out.append(entry)
    if not out or out[0].layout != EVENTS or len({e.name for e in out}) != len(out):
        raise ManifestError(f"{path}: streams must begin with events and name each stream once")
    return out


def stream_entry(layout: Layout, file: str, records: int, checksum: str | None, producers: dict,
                 dropped_records: int = 0) -> dict:
    """One ``streams`` item of a version-2 manifest."""
    return {"name": layout.name, "file": file, "layout": layout.to_json(), "records": records,
            "bytes": records * layout.record_size,
            "checksum": None if checksum is None else {"algorithm": "crc32c", "value": checksum},
            "producers": {str(k): v for k, v in producers.items()}, "dropped_records": dropped_records}


def new_run_id(now=None) -> str:
    """Every run id Python makes (``vpslog simulate``, the server's CLOUD runs), in the
    browser's shape (workers/protocol.js newRunId): run-YYYYMMDD-HHMMSS-<10 hex digits>,
    random enough that nobody guesses another run's id."""
    import datetime
    import secrets

    now = now or datetime.datetime.now(datetime.timezone.utc)
    return f"run-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(5)}"


def _iso_now() -> str:
    import datetime

    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def closed_manifest(*, run_id: str, mode: str, config: dict, source: dict | None, producers: list[dict],
                    records: int, checksum: str, created_at: str, status: str = "closed",
                    streams: list[dict] | None = None) -> dict:
    """A closed run manifest as the logger worker writes one (workers/manifest.js). The top-level
    counts describe the events stream; ``streams`` (default: events alone) lists every stream."""
    if streams is None:
        streams = [stream_entry(EVENTS, f"{run_id}.bin", records, checksum, {p["id"]: p["records"] for p in producers})]
    return {
        "format": FORMAT,
        "manifest_version": max(SUPPORTED_VERSIONS),
        "vpslog_version": __version__,
        "app_build": None,  # written by the CLI, not by a build of the web app
        "run_id": run_id,
        "status": status,
        "mode": mode,
        "record_layout": LAYOUT,
        "time_unit": LAYOUT["time_unit"],
        "created_at": created_at,
        "closed_at": _iso_now(),
        "config": config,
        "source": source,
        "producers": producers,
        "records": records,
        "bytes": records * LAYOUT["record_size"],
        "checksum": {"algorithm": "crc32c", "value": checksum},
        "errors": {"rejected_messages": 0, "messages": [], "dropped_records": 0},
        "streams": streams,
    }
