"""How timings are taken (fastconv/_timing.py): warm-up calls for a time, then the best of the timed calls."""

import itertools
from types import SimpleNamespace

from fastconv import _timing


def test_warm_up_calls_until_its_time_has_passed(monkeypatch):
    clock = itertools.count(0, 0.01)  # each reading of the clock 10 ms later
    monkeypatch.setattr(_timing, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    calls = []
    _timing.warm_up(lambda: calls.append(1), 0.05)
    assert len(calls) == 5  # readings at 10-50 ms after the start, the last one ends it
    calls.clear()
    _timing.warm_up(lambda: calls.append(1), 0)
    assert len(calls) == 1  # one call at least


def test_best_time_is_the_fastest_timed_call_after_the_warm_up(monkeypatch):
    durations = iter([9.0] * 3 + [5.0, 2.0, 3.0, 4.0])  # three warm-up calls, then the timed ones
    now = [0.0]

    def call():
        now[0] += next(durations)

    monkeypatch.setattr(_timing, "time", SimpleNamespace(perf_counter=lambda: now[0]))
    monkeypatch.setattr(_timing, "MIN_SECONDS", 0)
    assert _timing.best_time(call, 4, warm_up_seconds=20) == 2.0
