"""How every timing of the package is taken: the best of a few warm calls.

Free of package imports: ``_torch_timer.py``, run as a script in a child
process that must not import fastconv, loads it as a sibling module.
"""

import time

# A timing keeps calling for at least this long (up to MAX_CALLS calls): on a shared machine a
# short pass measured a few times can be caught by a stall of a few ms in every call.
MIN_SECONDS = 0.02
MAX_CALLS = 1000

# After the process has idled for a while, as the benchmark's sides do while the other one is timed
# (with a pause around each PyTorch request), this machine runs slow for tens of ms: with one warm-up
# call, the 16x128x12x12 3x1 float32 input gradient measured 4.3-6.5 ms right after a PyTorch request
# (whatever the child had done: convolutions, numpy products, pure Python, sleeping) against 1.5-2.2
# ms back to back; after 50 ms of warm-up calls, 1.9-2.7 ms. Both sides of a comparison warm up alike.
WARM_UP_SECONDS = 0.05


def warm_up(fn, seconds):
    """Call ``fn`` until ``seconds`` have passed, once at least."""
    begin = time.perf_counter()
    fn()
    while time.perf_counter() - begin < seconds:
        fn()


def best_time(fn, repeat, warm_up_seconds=0.0):
    """Seconds of the fastest of at least ``repeat`` calls and of as many as fit in MIN_SECONDS, after
    warm-up calls for ``warm_up_seconds`` (one call at least)."""
    warm_up(fn, warm_up_seconds)
    times = []
    begin = time.perf_counter()
    while len(times) < repeat or (time.perf_counter() - begin < MIN_SECONDS and len(times) < MAX_CALLS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)
