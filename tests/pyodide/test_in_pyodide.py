"""The package's standard-library test modules, run unchanged inside real Pyodide.

pytest-pyodide starts Pyodide from build/public/pyodide (the same self-hosted
dist the browser uses, ``--runtime=node`` by default), loads our wheel and
pytest from its lock, and runs pytest *inside* Pyodide on copies of the test
files. Outcomes come back per test, so a collection error or a silently empty
run fails here instead of passing (the field notes' --run-in-pyodide trap).
"""

import ast
import sys
from pathlib import Path

from pytest_pyodide import run_in_pyodide

TESTS = Path(__file__).resolve().parent.parent / "py"
# vpslog modules that need CPython-only packages (numpy, polars, boto3, ...).
HOST_ONLY = ("vpslog.analysis", "vpslog.backend", "vpslog.io", "vpslog.verify", "vpslog.simulate", "vpslog.cli", "vpslog.manifest")


def _portable(path: Path) -> bool:
    """A test module of the browser-side code: it imports the standard library,
    pytest and vpslog's stdlib-only modules, nothing else."""
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module] + [f"{node.module}.{a.name}" for a in node.names] if isinstance(node, ast.ImportFrom) and node.module else []
        for name in names:
            root = name.split(".")[0]
            if root not in sys.stdlib_module_names and root not in ("pytest", "vpslog") or name.startswith(HOST_ONLY):
                return False
    return True


PORTABLE = sorted(p.name for p in TESTS.glob("test_*.py") if _portable(p))


@run_in_pyodide(packages=["vpslog", "pytest", "micropip"])
def run_pytest(selenium, files):
    import pathlib
    import sys

    import pytest

    root = pathlib.Path("/tmp/vpslog-tests")
    root.mkdir(exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text)

    class Outcomes:
        def __init__(self):
            self.seen = {}

        def pytest_runtest_logreport(self, report):
            if report.when == "call" or report.outcome != "passed":
                self.seen[report.nodeid] = report.outcome

        def pytest_collectreport(self, report):
            if report.outcome != "passed":
                self.seen[report.nodeid or "<collection>"] = "collect-error"

    o = Outcomes()
    code = pytest.main([str(root), "-q", "-p", "no:cacheprovider", "--continue-on-collection-errors"], plugins=[o])
    return int(code), o.seen, sys.platform


def test_portable_package_tests_pass_inside_pyodide(selenium):
    assert {"test_source.py", "test_bridge.py", "test_traffic.py", "test_record.py"} <= set(PORTABLE)
    files = {name: (TESTS / name).read_text() for name in PORTABLE}
    code, outcomes, platform = run_pytest(selenium, files)
    assert platform == "emscripten"
    failed = {k: v for k, v in outcomes.items() if v != "passed"}
    assert code == 0 and not failed, failed
    # Every test function of every module ran (parametrize only adds more).
    for name, text in files.items():
        defs = [n.name for n in ast.walk(ast.parse(text)) if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]
        for d in defs:
            assert any(k.split("::")[-1].split("[")[0] == d and k.startswith(name) for k in outcomes), f"{name}::{d} did not run"


def test_a_failing_test_inside_pyodide_is_reported_as_failing(selenium):
    failing = {
        "test_must_fail.py": (
            "from vpslog.record import RECORD_SIZE\n"
            "def test_wrong_size():\n"
            "    assert RECORD_SIZE == 11\n"
            "def test_right_size():\n"
            "    assert RECORD_SIZE == 10\n"
        ),
        "test_broken_import.py": "import numpy_is_not_in_the_browser\n",
    }
    code, outcomes, _ = run_pytest(selenium, failing)
    assert code == 1
    assert outcomes["test_must_fail.py::test_wrong_size"] == "failed"
    assert outcomes["test_must_fail.py::test_right_size"] == "passed"
    assert outcomes["test_broken_import.py"] == "collect-error"


@run_in_pyodide(packages=["vpslog"])
def log_streams_inside_pyodide(selenium):
    import sys
    from array import array

    import vpslog
    from vpslog.source import EventLog

    tel = vpslog.Stream("telemetry", time_ms="uint32", vehicle="uint32", x="float32", y="float32",
                        speed="float32", lane="uint8")
    log = EventLog([tel])
    log.telemetry(1, 70_000, 1.5, 2.5, 3.5, 2)
    log.telemetry.extend(array("I", [2, 3]), [1, 2], [0.5, 0.25], array("f", [1, 2]), [9.0, 8.0], bytes([0, 1]))
    try:
        log.telemetry(4, 1, 0.0, 0.0, 1e39, 0)
        refused = None
    except ValueError as e:
        refused = str(e)
    return sys.platform, [list(r) for r in tel.struct.iter_unpack(log.pack(1))], refused


def test_stream_logging_works_inside_pyodide(selenium):
    assert "test_streamlog.py" in PORTABLE  # the whole module also runs inside, above
    platform, records, refused = log_streams_inside_pyodide(selenium)
    assert platform == "emscripten"
    assert records == [[1, 70_000, 1.5, 2.5, 3.5, 2], [2, 1, 0.5, 1.0, 9.0, 0], [3, 2, 0.25, 2.0, 8.0, 1]]
    assert refused.startswith("stream telemetry, field speed: 1e+39 is beyond the float32 range")
