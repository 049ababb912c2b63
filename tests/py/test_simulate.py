"""`vpslog simulate --source`: user code natively, the README's first example, the examples."""

import json
import re

import jsonschema
import numpy as np
import pytest

from vpslog import record
from vpslog.manifest import schema

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def readme_example(tmp_path):
    text = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    path = tmp_path / "shuttle.py"
    path.write_text(code)
    return path


def simulated(run_cli, tmp_path, *args):
    out = run_cli("simulate", "--out", tmp_path / "out", *args, check=True)
    bin_path, man_path = out.stdout.split()
    manifest = json.loads(open(man_path).read())
    jsonschema.validate(manifest, schema())
    return np.fromfile(bin_path, dtype=record.numpy_dtype()), manifest, bin_path


def test_the_readme_example_runs_as_written(run_cli, tmp_path):
    path = readme_example(tmp_path)
    recs, manifest, _ = simulated(run_cli, tmp_path, "--source", path, "--workers", 2, "-p", "laps=3")
    assert len(recs) == 2 * 3 * 10 * 2
    assert set(recs["vehicle_id"]) == {0, 1} and manifest["source"]["source"] == "shuttle"
    assert manifest["source"]["code"]["file"] == "shuttle.py" and manifest["source"]["params"] == {"laps": 3}
    assert manifest["status"] == "closed" and "network" not in manifest["source"]


def test_analyze_says_what_it_cannot_without_an_edge_table(run_cli, tmp_path):
    _, _, bin_path = simulated(run_cli, tmp_path, "--source", readme_example(tmp_path), "-p", "laps=2")
    out = run_cli("analyze", bin_path)
    assert out.returncode == 0, out.stderr
    assert "traversals" in out.stdout and "edge table" in (out.stdout + out.stderr)


@pytest.mark.parametrize("example, params, check", [
    ("ring_road.py", ["-p", "vehicles=30", "-p", "minutes=2"], lambda a: a["traversals"] > 500),
    ("bpr_links.py", ["-p", "links=80", "-p", "minutes=15", "-p", "alpha=0.8", "-p", "beta=2"],
     lambda a: abs(a["alpha"] / 0.8 - 1) < 0.05 and abs(a["beta"] / 2 - 1) < 0.05),
])
def test_the_examples_run_natively_and_analyze(run_cli, tmp_path, example, params, check):
    recs, manifest, bin_path = simulated(run_cli, tmp_path, "--source", ROOT / "examples" / example,
                                         "--workers", 2, *params)
    assert len(recs) == manifest["records"] > 0
    a = json.loads(run_cli("analyze", bin_path, "--json", check=True).stdout)
    assert a["unpaired_enters"] == a["unpaired_exits"] == 0 and check(a), a


def test_a_failing_model_natively_keeps_its_records_and_exits_1(run_cli, tmp_path):
    path = tmp_path / "flaky.py"
    path.write_text("import vpslog\nclass Flaky(vpslog.Source):\n    def run(self, log):\n"
                    "        log.enter(1, 1, 1)\n        yield\n        raise OSError('disk on fire')\n")
    out = run_cli("simulate", "--out", tmp_path / "o", "--source", path, "--workers", 1)
    assert out.returncode == 1 and "OSError: disk on fire" in out.stderr
    man = json.loads(open(out.stdout.split()[1]).read())
    assert man["status"] == "error" and man["records"] == 1


@pytest.mark.parametrize("args, message", [
    (["--source", "nowhere.py"], "nowhere.py: no such file"),
    (["--source", "load", "-p", "speed=3"], "unknown parameter"),
    (["--source", "traffic", "--workers", "3", "-p", "grid=2"], "workers <= grid"),
])
def test_bad_sources_and_params_are_one_clear_line(run_cli, tmp_path, args, message):
    out = run_cli("simulate", "--out", tmp_path, *args)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr
