"""`pip install vpslog` alone (no extras): each command that needs an extra says which, instead
of a traceback. Modelled by a meta-path hook that makes every module of the extras
unimportable in the CLI's own interpreter (cheaper than a second venv)."""

import os
import re
import subprocess
import sys
import tomllib

import pytest

import harness
from vpslog import __version__
from vpslog.cli import COMMAND_EXTRA, OPTIONAL_MODULES

NO_EXTRAS = f"""
import sys
class NoExtras:
    def find_spec(self, name, path=None, target=None):
        if name.partition('.')[0] in {sorted(OPTIONAL_MODULES)!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, NoExtras())
from vpslog.cli import main
sys.exit(main(sys.argv[1:]))
"""
S3 = {"VPSLOG_S3_ENDPOINT": "http://127.0.0.1:9", "VPSLOG_S3_ACCESS_KEY_ID": "k", "VPSLOG_S3_SECRET_ACCESS_KEY": "s"}


def bare_cli(*args, cwd, env=None):
    """`vpslog ARGS` as after `pip install vpslog` without extras."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("VPSLOG_")}
    return subprocess.run([sys.executable, "-c", NO_EXTRAS, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env={**base, **(env or {})})


@pytest.fixture(scope="module")
def a_run(tmp_path_factory, run_cli):
    out = tmp_path_factory.mktemp("run")
    made = run_cli("simulate", "--out", out, "--workers", 1, "-p", "vehicles=50", "-p", "grid=4", check=True)
    return made.stdout.split()[0]


@pytest.mark.parametrize("args, env, extras", [
    (["verify", "RUN"], None, "analysis"),
    (["analyze", "RUN", "--workers", "1"], None, "analysis"),
    (["simulate", "--out", "OUT", "--workers", "1", "-p", "vehicles=50", "-p", "grid=4"], None, "analysis"),
    (["verify", "s3://vpslog/runs/run-x"], S3, "analysis,s3"),
    (["analyze", "s3://vpslog/runs/run-x"], S3, "analysis,s3"),
    (["ls", "s3://vpslog"], S3, "s3"),
    (["export", "RUN", "--out", "OUT"], None, "analysis"),
    (["describe", "RUN"], None, "analysis"),
    (["export", "s3://vpslog/runs/run-x", "--out", "OUT"], S3, "analysis,s3"),
    (["describe", "s3://vpslog/runs/run-x", "--json"], S3, "analysis,s3"),
    (["fetch", "s3://vpslog/runs/run-x", "--out", "OUT"], S3, "s3"),
    (["serve", "--port", "0"], None, "backend"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_a_command_without_its_extra_names_it(args, env, extras, a_run, tmp_path):
    args = [a_run if a == "RUN" else tmp_path if a == "OUT" else a for a in args]
    out = bare_cli(*args, cwd=tmp_path, env=env)
    assert out.returncode == 3, out.stderr
    assert "Traceback" not in out.stderr
    assert re.search(rf"^vpslog {args[0]}: \w+ is not installed; this command needs pip install 'vpslog\[{extras}\]'$",
                     out.stderr, re.M), out.stderr


def test_commands_that_need_no_extra_run_without_them(a_run, tmp_path):
    listed = bare_cli("ls", harness.REPO / "build", cwd=tmp_path)  # a folder without runs: reads nothing
    assert listed.returncode == 0 and "0 run(s)" in listed.stdout, listed.stderr
    assert bare_cli("--version", cwd=tmp_path).stdout.strip() == f"vpslog {__version__} (no web app build)"


def test_the_cli_knows_every_module_of_the_extras_it_names():
    extras = tomllib.loads((harness.REPO / "py/pyproject.toml").read_text())["project"]["optional-dependencies"]
    for extra in set(COMMAND_EXTRA.values()) - {None}:
        for req in extras[extra]:
            name = re.match(r"[A-Za-z0-9_.-]+", req)[0]
            if name != "vpslog":  # the backend extra names the s3 extra as vpslog[s3]
                assert name.lower().replace("-", "_") in OPTIONAL_MODULES, (extra, req)
