"""Runs made by the real `vpslog simulate` for the reading tests (test_read, test_export, test_describe),
and numpy's own reading of a stream's bytes, independent of vpslog. The fixtures are in conftest.py."""

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import harness  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
# the test's own reading of a layout's types, independent of vpslog
NUMPY = {"uint8": "u1", "uint16": "<u2", "uint32": "<u4", "uint64": "<u8", "int8": "i1", "int16": "<i2",
         "int32": "<i4", "int64": "<i8", "float32": "<f4", "float64": "<f8"}

SIGNALS = '''
import vpslog


class Signals(vpslog.Source):
    """Wide ids (events_wide) and a declared stream with an enum; `odd_at` logs a code it does not declare."""
    name = "signals"
    wide_ids = True
    params = {"n": vpslog.Param(3000, "records per worker", 1, 100_000), "odd_at": vpslog.Param(-1, "", -1, 100_000)}
    streams = [vpslog.Stream("signals", [("time_ms", "uint32"), ("light", "uint8"), ("phase", "int16")],
                             enums={"light": {"red": 0, "amber": 1, "green": 2}})]

    def run(self, log):
        w = self.part.worker
        for t in range(self.params["n"]):
            log.enter(t, 70_000 + w, 100_000 + t % 7)
            log.signals(t, 9 if t == self.params["odd_at"] else (t + w) % 3, t - 1000)
            if t % 100 == 99:
                yield
'''


def simulate(folder: Path, *args) -> Path:
    out = harness.run_cli("simulate", "--out", folder, "--workers", 2, *args)
    assert out.returncode == 0, out.stderr
    return Path(out.stdout.split()[0])


def manifest_of(bin_path: Path) -> dict:
    return json.loads(bin_path.with_name(bin_path.name.removesuffix(".bin") + ".manifest.json").read_text())


def raw(bin_path: Path, entry: dict) -> np.ndarray:
    """A stream's records straight from its file, as numpy reads the manifest's layout."""
    fields = entry["layout"]["fields"]
    dtype = np.dtype({"names": [f["name"] for f in fields], "formats": [NUMPY[f["type"]] for f in fields],
                      "offsets": [f["offset"] for f in fields], "itemsize": entry["layout"]["record_size"]})
    return np.fromfile(bin_path.with_name(entry["file"]), dtype=dtype)
