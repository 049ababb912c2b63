"""Fixtures shared by the tests that read runs: runs made by `vpslog simulate` (made_runs.py), and the
bucket (moto S3 behind `vpslog serve`)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import harness  # noqa: E402
from made_runs import ROOT, SIGNALS, simulate  # noqa: E402


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


# Module-scoped: a test may damage a run's files (test_read's laziness test cuts the FCD file).
@pytest.fixture(scope="module")
def traffic(tmp_path_factory) -> Path:
    return simulate(tmp_path_factory.mktemp("traffic"), "--seed", 5, "-p", "vehicles=3000", "-p", "duration_s=120",
                    "-p", "fcd_period_s=2")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory) -> Path:
    return simulate(tmp_path_factory.mktemp("fleet"), "--source", ROOT / "examples" / "vehicle_logger.py",
                    "-p", "vehicles=4", "-p", "minutes=0.2", "-p", "range_m=1000")


@pytest.fixture(scope="module")
def signals_source(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("src") / "signals.py"
    path.write_text(SIGNALS)
    return path


@pytest.fixture(scope="module")
def signals(tmp_path_factory, signals_source) -> Path:
    return simulate(tmp_path_factory.mktemp("signals"), "--source", signals_source)
