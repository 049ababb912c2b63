"""Runs the `node --test` unit tests of the pure JS modules (tests/workers/*.test.js, tests/web/*.test.js)."""

import subprocess
from pathlib import Path

from harness import REPO


def test_node_unit_tests_pass():
    tests = Path(__file__).parent.parent
    files = sorted(str(p) for folder in ("workers", "web") for p in (tests / folder).glob("*.test.js"))
    assert files
    out = subprocess.run(["node", "--test", *files], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
