"""The synthetic load generator: rate, id ranges, statuses, determinism, config errors."""

import pytest

from vpslog import record
from vpslog.loadgen import LoadConfig, SyntheticLoad
from vpslog.packer import packed_batches


def drain(src, batch=5000):
    return record.unpack(b"".join(packed_batches(src, batch)))


def test_rate_and_duration_give_the_expected_event_count_and_times():
    recs = drain(SyntheticLoad(LoadConfig(rate=12_345, duration_ms=2000)))
    assert len(recs) == 2 * 12_345
    times = [r[0] for r in recs]
    assert times == sorted(times) and times[0] == 0 and times[-1] == 1999
    # fractional events per ms are carried, not lost: every ms has 12 or 13
    per_ms = {t: times.count(t) for t in set(times[:2000])}
    assert set(per_ms.values()) <= {12, 13}


def test_ids_and_statuses_stay_in_range():
    recs = drain(SyntheticLoad(LoadConfig(rate=100_000, vehicles=50, edges=7, error_rate=0.05, duration_ms=500)))
    assert {r[1] for r in recs} <= set(range(50))
    assert {r[2] for r in recs} <= set(range(7))
    statuses = [r[3] for r in recs]
    assert set(statuses) == {1, 2, 3}
    assert 0.03 < statuses.count(3) / len(statuses) < 0.07


def test_same_seed_same_events_other_seed_other_events():
    cfg = dict(rate=50_000, duration_ms=100)
    a = drain(SyntheticLoad(LoadConfig(seed=3, **cfg)))
    assert a == drain(SyntheticLoad(LoadConfig(seed=3, **cfg)))
    assert a != drain(SyntheticLoad(LoadConfig(seed=4, **cfg)))


def test_unbounded_source_keeps_going():
    src = SyntheticLoad(LoadConfig(rate=1000))
    for _ in range(3):
        assert len(src.next_batch(10_000)[0]) >= 10_000
    assert not src.finished


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(vehicles=70_000), "vehicles must be 1..65536"),
        (dict(rate=0), "rate must be"),
        (dict(error_rate=1.5), "error_rate"),
        (dict(duration_ms=0), "duration_ms"),
    ],
)
def test_bad_config_is_refused_with_a_clear_message(bad, message):
    with pytest.raises(ValueError, match=message):
        LoadConfig(**bad)


def test_unknown_option_is_refused():
    with pytest.raises(ValueError, match="unknown load generator option.*speed"):
        LoadConfig.from_dict({"speed": 3})
