"""Reading run manifests (``runs/<runId>.manifest.json``), written by the logger worker.

The logger (``workers/manifest.js``) is the writer; this module is the reader
and checks that a manifest describes the record layout this package knows.
"""

from __future__ import annotations

import json
from pathlib import Path

from .record import LAYOUT

FORMAT = "vpslog-run"
SUPPORTED_VERSIONS = {1}
_REQUIRED = ("run_id", "status", "record_layout", "records", "bytes", "producers")


class ManifestError(ValueError):
    pass


def sibling_manifest(bin_path: Path) -> Path:
    return bin_path.with_name(bin_path.name.removesuffix(".bin") + ".manifest.json")


def load_manifest(path: Path) -> dict:
    try:
        m = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"manifest {path} not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ManifestError(f"manifest {path} is not valid JSON: {e}") from None
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
