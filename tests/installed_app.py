"""vpslog as a Python user gets it: the wheel scripts/build_wheel.py builds, installed with
its extras in a virtual environment of its own, and `vpslog app` run from there with
neither Node nor the repository in reach. Shared by tests/web/test_app.py and bench/app.py.

Both are cached under build/ by content: the wheel by its build id (the build script
reuses a wheel made from the same tree), the venv by the wheel's dependencies (made
once, ~1 min from pip's cache), into which each new wheel is reinstalled (~2 s).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import harness

VENVS = harness.REPO / "build" / "app-venv"
EXTRAS = "analysis,backend"
URL_LINE = re.compile(r"^vpslog app \S+ \(build (?P<build>\w+)\): (?P<url>http://\S+/)", re.M)
READ_RUNS = re.compile(
    r"^\s+(?P<env>VPSLOG_S3_ENDPOINT=\S+ VPSLOG_S3_ACCESS_KEY_ID=\S+ VPSLOG_S3_SECRET_ACCESS_KEY=\S+)", re.M)


def built_wheel() -> Path:
    """The host wheel of this tree (built, or reused if the tree is unchanged)."""
    out = subprocess.run([sys.executable, str(harness.REPO / "scripts/build_wheel.py")], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    return Path(out.strip().splitlines()[-1])


def version(wheel: Path) -> str:
    return wheel.name.split("-")[1]


def wheel_requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        return sorted(line for line in z.read(meta).decode().splitlines() if line.startswith("Requires-Dist:"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def venv_for(wheel: Path) -> Path:
    """A venv with ``wheel[analysis,backend]`` installed, and nothing from the repository."""
    deps = hashlib.sha256("\n".join(wheel_requirements(wheel) + [EXTRAS, sys.version]).encode()).hexdigest()[:12]
    venv = VENVS / deps
    python = venv / "bin" / "python"
    stamp, digest = venv / ".vpslog-wheel", sha256(wheel)
    if not stamp.exists():
        shutil.rmtree(VENVS, ignore_errors=True)  # other dependencies, or a half-made venv: not needed any more
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", f"{wheel}[{EXTRAS}]"], check=True)
    elif stamp.read_text() != digest:
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", str(wheel)],
                       check=True)
    stamp.write_text(digest)
    return venv


def user_env(venv: Path, **extra) -> dict:
    """A user's environment: the venv's bin on PATH and nothing else (no node, no repository)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VPSLOG_", "PYTHON", "VIRTUAL_ENV", "NODE")) and k != "PATH"}
    return {**env, "PATH": str(venv / "bin"), **extra}


class App:
    """A running `vpslog app`: its URL, and its output so far (``out``, ``err``)."""

    def __init__(self, proc: subprocess.Popen, out: Path, err: Path) -> None:
        self.proc, self._out, self._err = proc, out, err
        self.url = self.build = None

    @property
    def out(self) -> str:
        return self._out.read_text()

    @property
    def err(self) -> str:
        return self._err.read_text()

    def wait_until(self, condition, what: str, timeout_s: float = 60):
        """``condition()``'s first true value, polled while the app runs, failing after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while not (value := condition()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"awaited {what} from vpslog app (exit code {self.proc.poll()}):\n"
                                     f"--- stdout\n{self.out}\n--- stderr\n{self.err}")
            time.sleep(0.05)
        return value

    def wait_for(self, pattern: re.Pattern, timeout_s: float = 60) -> re.Match:
        """The first match of ``pattern`` in what the app printed on stdout."""
        return self.wait_until(lambda: pattern.search(self.out), f"a line matching {pattern.pattern!r}", timeout_s)

    def stop(self, sig=signal.SIGINT, timeout_s: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout_s)

    def csp_violations(self) -> list[dict]:
        """The Content-Security-Policy reports the app logged."""
        return [json.loads(line.partition(" ")[2]) for line in self.err.splitlines()
                if line.startswith("csp-violation ")]


@contextlib.contextmanager
def running_app(venv: Path, *args, port: int = 0, cwd: Path | None = None, env: dict | None = None,
                python_prelude: str | None = None):
    """``vpslog app --no-browser --port PORT ARGS`` from ``venv`` (any free port by default: the
    origin, hence the browser's cache and OPFS, changes with it), in a temp cwd; killed at the end
    if still running. ``python_prelude``: code run first in the same interpreter (e.g. an import blocker)."""
    with tempfile.TemporaryDirectory(prefix="vpslog-user-") as tmp:
        tmp = Path(tmp)
        out, err = tmp / "stdout.txt", tmp / "stderr.txt"
        argv = ["app", "--no-browser", "--port", str(port), *args]
        if python_prelude:
            cmd = [str(venv / "bin/python"), "-c", f"{python_prelude}\nimport sys\nfrom vpslog.cli import main\n"
                   f"sys.exit(main({argv!r}))"]
        else:
            cmd = [str(venv / "bin/vpslog"), *argv]
        with out.open("w") as o, err.open("w") as e:
            proc = subprocess.Popen(cmd, cwd=cwd or tmp, env=env or user_env(venv), stdout=o, stderr=e)
        app = App(proc, out, err)
        try:
            m = app.wait_for(URL_LINE)
            app.url, app.build = m["url"], m["build"]
            yield app
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
