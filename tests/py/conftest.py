"""Fixtures shared by the tests that read runs from the bucket (moto S3 behind `vpslog serve`)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import harness  # noqa: E402


@pytest.fixture(scope="module")
def s3_env(backend):
    """This process (and a Dask cluster started after it) reads S3 with credentials from the environment."""
    from vpslog.store import client_from_env

    env = harness.s3_env(backend)
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        client_from_env.cache_clear()
        yield env
    client_from_env.cache_clear()


@pytest.fixture(scope="module")
def s3(s3_env):
    """A client to put runs in the bucket, as the backend's settings build one."""
    from vpslog.backend.settings import Settings

    return Settings.from_env().client()
