"""Installing a user's model in a sim worker, offline, with micropip.

The page hands each sim worker the bytes of a ``.py`` file or a pure-Python
wheel; the worker writes them into the Emscripten file system and calls
:func:`install_user_code`. A ``.py`` file is first wrapped in a one-module
wheel, so both kinds take the same route: ``micropip.install("emfs:...")``
with ``deps=False``. Nothing is looked up on an index: a wheel that declares
dependencies the browser cannot have is refused before installing.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import importlib
import io
import json
import re
import zipfile
from email.parser import Parser
from pathlib import Path

WHEEL_DIR = Path("/tmp/vpslog-user/wheels")
_WHEEL_NAME = re.compile(r"^(?P<dist>[A-Za-z0-9_.]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")
_OK_DEPENDENCIES = {"vpslog"}


class InstallError(ValueError):
    """User code that cannot be installed; the message names the cause."""


async def install_user_code(path: str) -> str:
    """Install the ``.py`` or ``.whl`` at ``path``; returns JSON
    ``{"file", "sha256", "version", "modules", "entry"}`` (``entry`` is a default
    ``module`` spec for a ``.py`` file, None for a wheel)."""
    import micropip

    p = Path(path)
    data = p.read_bytes()
    info = {"file": p.name, "sha256": hashlib.sha256(data).hexdigest()}
    if p.suffix == ".py":
        wheel, version, module = _wheel_from_module(p.stem, data)
        info.update(version=version, modules=[module], entry=module)
    elif p.suffix == ".whl":
        wheel, version, modules = p, *_check_wheel(p, data)
        info.update(version=version, modules=modules, entry=None)
    else:
        raise InstallError(f"{p.name}: choose a .py file or a pure-Python wheel (.whl)")
    try:
        await micropip.install(f"emfs:{wheel}", deps=False, reinstall=True)
    except Exception as e:  # micropip raises ValueError/RuntimeError subclasses of its own
        raise InstallError(f"{p.name} did not install: {e}") from e
    importlib.invalidate_caches()
    return json.dumps(info)


def _wheel_from_module(stem: str, source: bytes) -> tuple[Path, str, str]:
    if not stem.isidentifier():
        raise InstallError(f"{stem}.py: a module file name must be a Python identifier (e.g. my_model.py)")
    try:
        tree = ast.parse(source, f"{stem}.py")
    except SyntaxError as e:
        raise InstallError(f"{stem}.py is not valid Python: line {e.lineno}: {e.msg}") from None
    version = _module_version(tree)
    dist = f"{stem}-{version}.dist-info"
    files = {
        f"{stem}.py": source,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {stem}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: vpslog\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},sha256={_b64sha(body)},{len(body)}\n" for name, body in files.items())
    files[f"{dist}/RECORD"] = (record + f"{dist}/RECORD,,\n").encode()
    WHEEL_DIR.mkdir(parents=True, exist_ok=True)
    wheel = WHEEL_DIR / f"{stem}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for name, body in files.items():
            z.writestr(name, body)
    return wheel, version, stem


def _module_version(tree: ast.Module) -> str:
    for node in tree.body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            return re.sub(r"[^A-Za-z0-9.+]", ".", node.value.value) or "0"
    return "0"


def _check_wheel(path: Path, data: bytes) -> tuple[str, list[str]]:
    m = _WHEEL_NAME.match(path.name)
    if not m:
        raise InstallError(f"{path.name} is not a wheel file name (name-version-py3-none-any.whl)")
    if not path.name.endswith("-none-any.whl"):
        raise InstallError(f"{path.name} is not a pure-Python wheel: the browser can install only *-none-any.whl")
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        names = z.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(z.read(meta_name).decode("utf-8", "replace"))
    except (zipfile.BadZipFile, StopIteration, KeyError) as e:
        raise InstallError(f"{path.name} is not a valid wheel ({e or 'no METADATA'})") from None
    needs = []
    for req in meta.get_all("Requires-Dist") or []:
        if "extra ==" in req.replace('"', "'").replace("extra=='", "extra == '"):
            continue
        name = re.split(r"[\s;<>=!~\[(]", req.strip(), maxsplit=1)[0]
        if name.lower() not in _OK_DEPENDENCIES:
            needs.append(name)
    if needs:
        raise InstallError(f"{path.name} depends on {', '.join(needs)}, which the browser does not have"
                           " (standard library and vpslog only); vpslog installs no dependencies")
    modules = sorted({n.split("/")[0].removesuffix(".py") for n in names
                      if not n.split("/")[0].endswith((".dist-info", ".data")) and (n.endswith(".py"))})
    return m["version"], modules


def _b64sha(body: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()
