"""How every timing of the package is taken: the best of a few warm calls.

Free of package imports: ``_torch_timer.py``, run as a script in a child
process that must not import fastconv, loads it as a sibling module.
"""

import time

# A timing keeps calling for at least this long (up to MAX_CALLS calls): on a shared machine a
# short pass measured a few times can be caught by a stall of a few ms in every call.
MIN_SECONDS = 0.02
MAX_CALLS = 1000


def best_time(fn, repeat):
    """Seconds of the fastest of at least ``repeat`` calls and of as many as fit in MIN_SECONDS, after a warm-up."""
    fn()
    times = []
    begin = time.perf_counter()
    while len(times) < repeat or (time.perf_counter() - begin < MIN_SECONDS and len(times) < MAX_CALLS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)
