"""The one place event sources are found: built-in names and user code.

The sim worker, ``vpslog simulate``, the page's source list and the tests all
resolve sources here. A spec is a built-in name (``traffic``), ``module:Attr``
(an installed module, e.g. a user's wheel), or ``path/to/model.py:Attr``
(CPython). ``Attr`` may be left out when the module defines exactly one
:class:`~vpslog.source.Source` subclass.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path

from .source import Source

# Add a built-in source here, and nowhere else.
BUILTIN = {
    "traffic": "vpslog.traffic:TrafficSource",
    "load": "vpslog.loadgen:LoadSource",
}

BROWSER_MODULES = "the browser's Python has the standard library and vpslog only"


class SourceError(ValueError):
    """A source spec that cannot be loaded; the message names the cause."""


def builtin_sources() -> list[dict]:
    """Declarations of the built-in sources, for the page's source list and forms."""
    return [{**resolve(name).declaration(), "spec": name} for name in BUILTIN]


def resolve(spec: str) -> type[Source]:
    if not isinstance(spec, str) or not spec.strip():
        raise SourceError(f"a source is named by a string, got {spec!r}")
    spec = BUILTIN.get(spec, spec)
    target, _, attr = spec.rpartition(":") if ":" in spec else (spec, "", "")
    module = _import_file(target) if target.endswith(".py") else _import_module(target)
    return _pick(module, attr, spec)


def code_provenance(path) -> dict:
    """File name and sha256 of user code, for the run manifest."""
    p = Path(path)
    return {"file": p.name, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}


def _import_module(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        raise SourceError(_missing(e, f"no module named {name!r} is installed")) from e
    except SyntaxError as e:
        raise SourceError(_syntax(e)) from e


def _import_file(path: str):
    p = Path(path)
    if not p.is_file():
        raise SourceError(f"{path}: no such file")
    name = p.stem
    if not name.isidentifier():
        raise SourceError(f"{p.name}: a module file name must be a Python identifier (e.g. my_model.py)")
    spec = importlib.util.spec_from_file_location(name, p)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        del sys.modules[name]
        raise SourceError(_syntax(e)) from e
    except ModuleNotFoundError as e:
        del sys.modules[name]
        raise SourceError(_missing(e, f"{p.name} imports a module that is not installed")) from e
    return module


def _missing(e: ModuleNotFoundError, fallback: str) -> str:
    if e.name and e.name.split(".")[0] in ("numpy", "polars", "pandas", "scipy"):
        return (f"the model imports {e.name}, which the browser does not have ({BROWSER_MODULES});"
                " use the array module or plain lists")
    return f"{fallback} ({e})"


def _syntax(e: SyntaxError) -> str:
    return f"{Path(e.filename or '?').name} is not valid Python: line {e.lineno}: {e.msg}"


def _pick(module, attr: str, spec: str) -> type[Source]:
    if attr:
        obj = getattr(module, attr, None)
        if obj is None:
            found = ", ".join(_sources_in(module)) or "none"
            raise SourceError(f"{module.__name__} has no {attr!r} (Source classes it defines: {found})")
    else:
        found = _sources_in(module)
        if not found:
            raise SourceError(f"{module.__name__} defines no vpslog.Source subclass: a model is a class"
                              " `class MyModel(vpslog.Source)` with a `run(self, log)` generator")
        if len(found) > 1:
            raise SourceError(f"{module.__name__} defines {len(found)} Source classes ({', '.join(found)});"
                              f" name one as {module.__name__}:ClassName")
        obj = getattr(module, found[0])
    if not (inspect.isclass(obj) and issubclass(obj, Source)):
        raise SourceError(f"{spec}: {obj!r} is not a vpslog.Source subclass")
    if not inspect.isgeneratorfunction(obj.run):
        raise SourceError(f"{obj.__name__}.run(log) must be a generator: yield between steps")
    return obj


def _sources_in(module) -> list[str]:
    return [k for k, v in vars(module).items()
            if inspect.isclass(v) and issubclass(v, Source) and v.__module__ == module.__name__]
