"""Reading run manifests (``runs/<runId>.manifest.json``), written by the logger worker.

The logger (``workers/manifest.js``) is the writer; this module is the reader
and checks that a manifest describes the record layout this package knows.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import __version__
from .record import LAYOUT

FORMAT = "vpslog-run"
SUPPORTED_VERSIONS = {1}
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
    return m


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
                    records: int, checksum: str, created_at: str, status: str = "closed") -> dict:
    """A closed run manifest as the logger worker writes one (workers/manifest.js)."""
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
    }
