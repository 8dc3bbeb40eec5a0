import time

import pytest

from dpiqa.timing import median_seconds


def test_the_median_leaves_out_warm_up_calls(monkeypatch):
    ticks = iter([0.0, 1.0, 10.0, 12.0, 20.0, 29.0])  # timed calls last 1, 2 and 9 s
    monkeypatch.setattr(time, "perf_counter", lambda: next(ticks))
    calls = []
    assert median_seconds(lambda: calls.append(None), runs=3, warmup=2) == 2.0
    assert len(calls) == 5


def test_at_least_one_run_is_timed():
    with pytest.raises(ValueError, match="at least 1"):
        median_seconds(lambda: None, runs=0)
