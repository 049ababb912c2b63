"""Preparing user code for micropip: a .py wrapped as a one-module wheel, wheels
checked before installing. The micropip install itself runs in the browser tests."""

import io
import zipfile

import pytest

from vpslog import usercode


def test_a_module_becomes_an_installable_wheel_with_its_version(tmp_path, monkeypatch):
    monkeypatch.setattr(usercode, "WHEEL_DIR", tmp_path)
    wheel, version, module = usercode._wheel_from_module("my_model", b'__version__ = "2.5"\nX = 1\n')
    assert (wheel.name, version, module) == ("my_model-2.5-py3-none-any.whl", "2.5", "my_model")
    names = zipfile.ZipFile(wheel).namelist()
    assert set(names) == {"my_model.py", "my_model-2.5.dist-info/METADATA", "my_model-2.5.dist-info/WHEEL",
                          "my_model-2.5.dist-info/RECORD"}
    assert usercode._check_wheel(wheel, wheel.read_bytes()) == ("2.5", ["my_model"])


@pytest.mark.parametrize("stem, source, message", [
    ("my-model", b"x = 1\n", "must be a Python identifier"),
    ("broken", b"def f(:\n", "broken.py is not valid Python: line 1"),
])
def test_bad_modules_are_refused_before_installing(tmp_path, monkeypatch, stem, source, message):
    monkeypatch.setattr(usercode, "WHEEL_DIR", tmp_path)
    with pytest.raises(usercode.InstallError, match=message):
        usercode._wheel_from_module(stem, source)


def wheel_bytes(requires=()):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("pkg/__init__.py", "")
        meta = "Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n" + "".join(f"Requires-Dist: {r}\n" for r in requires)
        z.writestr("pkg-1.0.dist-info/METADATA", meta)
    return buf.getvalue()


@pytest.mark.parametrize("name, data, message", [
    ("pkg-1.0-py3-none-any.whl", wheel_bytes(["numpy>=2", "vpslog"]), "depends on numpy, which the browser does not have"),
    ("pkg-1.0-cp312-cp312-linux_x86_64.whl", wheel_bytes(), "not a pure-Python wheel"),
    ("pkg-1.0-py3-none-any.whl", b"not a zip", "is not a valid wheel"),
    ("pkg.whl", wheel_bytes(), "not a wheel file name"),
])
def test_bad_wheels_are_refused_with_the_cause(tmp_path, name, data, message):
    with pytest.raises(usercode.InstallError, match=message):
        usercode._check_wheel(tmp_path / name, data)


def test_optional_dependencies_do_not_block_a_wheel(tmp_path):
    data = wheel_bytes(["vpslog>=0.1", 'numpy; extra == "fast"'])
    assert usercode._check_wheel(tmp_path / "pkg-1.0-py3-none-any.whl", data) == ("1.0", ["pkg"])
