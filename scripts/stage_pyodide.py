"""Stage the self-hosted Pyodide dist into build/public/pyodide/ (standard library only).

The npm ``pyodide`` package ships the core but no wheels, and its lock points
at a CDN this project never contacts.  We serve the core ourselves, add the
pure-Python wheels we need (from PyPI, cached) and our own ``vpslog`` wheel,
and write a lock that lists exactly those files with their real sha256, so
``loadPackage("vpslog")`` works offline and unknown names fail loudly instead
of timing out on a CDN.  Idempotent: unchanged inputs copy nothing.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "node_modules" / "pyodide"
DIST = ROOT / "build" / "public" / "pyodide"
CACHE = ROOT / "build" / "wheel-cache"
CORE_FILES = ["pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide.js"]

# Pure-Python wheels for Pyodide: micropip (installing user wheels by URL) and what
# pytest-pyodide needs inside Pyodide (pytest and its deps, tblib for tracebacks).
# Versions are the ones pyodide-lock.json names, so the lock metadata stays true.
EXTRA = ["micropip", "packaging", "pytest", "pluggy", "iniconfig", "pygments", "tblib"]
# pytest's lock entry lists Python-2 era deps that Pyodide 3.14 does not need.
DEPENDS_OVERRIDE = {"pytest": ["iniconfig", "packaging", "pluggy", "pygments"]}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def copy_if_changed(src: Path, dst: Path) -> None:
    if dst.exists() and dst.stat().st_size == src.stat().st_size and sha256(dst) == sha256(src):
        return
    shutil.copyfile(src, dst)


def fetch_wheel(name: str, version: str, py_version: str) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    hits = [p for p in CACHE.glob("*.whl") if p.name.lower().startswith(f"{name}-{version}-".lower())]
    if hits:
        return hits[0]
    print(f"[stage] downloading {name}=={version}", flush=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
         "--python-version", py_version, "--dest", str(CACHE), f"{name}=={version}"],
        check=True,
    )
    return fetch_wheel(name, version, py_version)


def build_vpslog_wheel() -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
             "--wheel-dir", tmp, str(ROOT / "py")],
            check=True,
        )
        (built,) = Path(tmp).glob("vpslog-*.whl")
        for old in DIST.glob("vpslog-*.whl"):
            old.unlink()
        dst = DIST / built.name
        shutil.copyfile(built, dst)
        return dst


def entry(name: str, wheel: Path, imports: list[str], depends: list[str], version: str) -> dict:
    return {
        "name": name, "version": version, "file_name": wheel.name, "install_dir": "site",
        "sha256": sha256(wheel), "package_type": "package", "imports": imports,
        "depends": depends, "unvendored_tests": False, "shared_library": False,
    }


def main() -> None:
    if not CORE.is_dir():
        sys.exit("stage_pyodide: node_modules/pyodide is missing; run `npm ci` first")
    DIST.mkdir(parents=True, exist_ok=True)
    lock = json.loads((CORE / "pyodide-lock.json").read_text())
    py_version = ".".join(lock["info"]["python"].split(".")[:2])
    for f in CORE_FILES:
        copy_if_changed(CORE / f, DIST / f)
    # pyodide.js (for Node, used by pytest-pyodide) is CommonJS, but the repo's
    # package.json says "type": "module"; scope this folder back to CommonJS.
    (DIST / "package.json").write_text('{"type": "commonjs"}\n')

    packages = {}
    for name in EXTRA:
        meta = lock["packages"][name]
        cached = fetch_wheel(name, meta["version"], py_version)
        copy_if_changed(cached, DIST / cached.name)
        packages[name] = entry(name, DIST / cached.name, meta["imports"],
                               DEPENDS_OVERRIDE.get(name, meta["depends"]), meta["version"])
    wheel = build_vpslog_wheel()
    version = wheel.name.split("-")[1]
    packages["vpslog"] = entry("vpslog", wheel, ["vpslog"], [], version)

    lock["packages"] = packages
    (DIST / "pyodide-lock.json").write_text(json.dumps(lock, indent=1, sort_keys=True))
    print(f"[stage] {DIST.relative_to(ROOT)}: Pyodide {lock['info']['python']} core + "
          f"{len(packages)} wheels ({wheel.name})", flush=True)


if __name__ == "__main__":
    main()
