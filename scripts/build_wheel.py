"""Build the one vpslog wheel that holds the whole app: ``pip install`` it, then ``vpslog app``.

Node is needed here, at build time, and nowhere after:

1. stage Pyodide (scripts/stage_pyodide.py: the npm core, pure-Python wheels, the
   browser's vpslog wheel built from py/, a lock with their hashes);
2. ``vite build`` the page and workers into build/web, with this build's id
   (vite.config.js puts it in every run manifest);
3. assemble ``vpslog/webapp/``: the built page, the Pyodide files the app loads
   (core, vpslog, micropip and its dependency; a lock of just those), text and
   wasm gzipped once here (only the .gz is kept: ``vpslog app`` sends it as is,
   or inflates it for the rare client without gzip), and ``files.json``, the
   table of what is served with its ETag;
4. copy py/ to build/wheel-src/, put webapp/ in it and build the wheel from that
   copy into build/dist/ (``--out``).

The browser wheel (the one Pyodide installs) is built from py/ itself, which never
holds webapp/: it stays small and dependency-free.

Cached by content: the build id is a hash of every input file, recorded in the
wheel; a wheel whose id matches the tree is reused (``--force`` rebuilds).
The wheel's path is the last line printed.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import stage_pyodide  # noqa: E402

WEB = ROOT / "build" / "web"
SRC = ROOT / "build" / "wheel-src"
# Everything the wheel is made from: a change to any of these makes a new build id.
INPUTS = ["web", "workers", "py/vpslog", "py/pyproject.toml", "vite.config.js", "package.json",
          "package-lock.json", "scripts/build_wheel.py", "scripts/stage_pyodide.py"]
SKIP = {"__pycache__", ".pytest_cache", "build"}
# Of the staged Pyodide dist, what the app loads (the rest serves pytest-pyodide).
PYODIDE_FILES = ["pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip"]
PYODIDE_PACKAGES = ["vpslog", "micropip"]
COMPRESSIBLE = {".html", ".js", ".mjs", ".css", ".json", ".svg", ".map", ".txt", ".wasm"}
MIN_GZIP_BYTES = 1024


def log(msg: str) -> None:
    print(f"[wheel] {msg}", file=sys.stderr, flush=True)


def input_files():
    for name in INPUTS:
        path = ROOT / name
        if path.is_file():
            yield path
            continue
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP and not d.endswith(".egg-info"))
            for f in sorted(filenames):
                if not f.endswith(".pyc"):
                    yield Path(dirpath, f)


def build_id() -> str:
    h = hashlib.sha256()
    for path in input_files():
        h.update(path.relative_to(ROOT).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:12]


def wheel_build_id(wheel: Path) -> str | None:
    try:
        with zipfile.ZipFile(wheel) as z:
            return json.loads(z.read("vpslog/webapp/files.json"))["app_build"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None


def vite_build(app_build: str) -> None:
    node_modules = ROOT / "node_modules"
    if not (node_modules / ".package-lock.json").is_file():
        log("npm ci")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=ROOT, check=True)
    stage_pyodide.main()
    log(f"vite build -> {WEB.relative_to(ROOT)}")
    subprocess.run(["node", str(node_modules / "vite/bin/vite.js"), "build", "--outDir", str(WEB), "--emptyOutDir",
                    "--logLevel", "warn"], cwd=ROOT, check=True, env={**os.environ, "VPSLOG_APP_BUILD": app_build})


def app_pyodide(dest: Path) -> None:
    """The Pyodide files the app loads, and a lock naming just the packages among them."""
    staged = stage_pyodide.DIST
    lock = json.loads((staged / "pyodide-lock.json").read_text())
    wanted, todo = {}, list(PYODIDE_PACKAGES)
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted[name] = lock["packages"][name]
            todo += wanted[name]["depends"]
    dest.mkdir(parents=True)
    for f in PYODIDE_FILES + [p["file_name"] for p in wanted.values()]:
        shutil.copyfile(staged / f, dest / f)
    lock["packages"] = wanted
    (dest / "pyodide-lock.json").write_text(json.dumps(lock, indent=1, sort_keys=True))


def assemble(webapp: Path, app_build: str, version: str) -> None:
    """build/web (without its copy of the whole staged Pyodide dist) + the app's Pyodide files,
    compressed, with files.json: URL path -> stored file, size, ETag, gzip, immutable."""
    shutil.copytree(WEB, webapp, ignore=lambda d, names: ["pyodide"] if Path(d) == WEB else [])
    app_pyodide(webapp / "pyodide")
    files = {}
    for path in sorted(p for p in webapp.rglob("*") if p.is_file()):
        rel = path.relative_to(webapp).as_posix()
        data = path.read_bytes()
        entry = {"file": rel, "bytes": len(data), "etag": hashlib.sha256(data).hexdigest()[:20], "gzip": False,
                 # Vite names what it emits under assets/ by content hash: a new build, a new name
                 "immutable": rel.startswith("assets/")}
        if path.suffix in COMPRESSIBLE and len(data) >= MIN_GZIP_BYTES:
            packed = gzip.compress(data, 9, mtime=0)
            if len(packed) < 0.9 * len(data):
                path.with_name(path.name + ".gz").write_bytes(packed)
                path.unlink()
                entry.update(file=rel + ".gz", gzip=True)
        files["/" + rel] = entry
    built_at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    (webapp / "files.json").write_text(json.dumps(
        {"app_build": app_build, "vpslog_version": version, "built_at": built_at, "files": files}, indent=1))


def vpslog_version() -> str:
    return re.search(r'^__version__ = "([^"]+)"', (ROOT / "py/vpslog/__init__.py").read_text(), re.M)[1]


def build(out: Path, force: bool = False) -> Path:
    app_build = build_id()
    version = vpslog_version()
    wheel = out / f"vpslog-{version}-py3-none-any.whl"
    if not force and wheel_build_id(wheel) == app_build:
        log(f"{wheel.relative_to(ROOT) if wheel.is_relative_to(ROOT) else wheel} is build {app_build}: up to date")
        return wheel
    vite_build(app_build)
    shutil.rmtree(SRC, ignore_errors=True)
    shutil.copytree(ROOT / "py", SRC, ignore=shutil.ignore_patterns(*SKIP, "*.egg-info", "*.pyc"))
    assemble(SRC / "vpslog" / "webapp", app_build, version)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        log("pip wheel")
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                        "--wheel-dir", tmp, str(SRC)], check=True)
        (built,) = Path(tmp).glob("vpslog-*.whl")
        shutil.move(built, wheel)
    log(f"build {app_build}: {wheel.stat().st_size / 1e6:.1f} MB")
    return wheel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "dist",
                    help="where the wheel goes (default build/dist)")
    ap.add_argument("--force", action="store_true", help="rebuild even if the wheel matches the tree")
    args = ap.parse_args()
    print(build(args.out.resolve(), args.force))


if __name__ == "__main__":
    main()
