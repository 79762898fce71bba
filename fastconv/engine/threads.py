"""numba's thread count for the calling thread, read and set at a call's cost, not a microsecond's.

``numba.get_num_threads`` and ``numba.set_num_threads`` check their state and
argument in Python on every call (0.9 and 1.3 us here): a pass run serially
reads the count once and sets it twice, which was a sixth of a tiny conv2d's
time. After numba's threads are launched, its threading module holds the
runtime's own getter and setter (ctypes functions, about 0.15 us); numba
releases that lack them get the public functions.
"""

import numba


def _bind():
    """Pick the getter and setter once numba's threads are launched (the public getter launches them)."""
    global _get, _set
    numba.get_num_threads()
    try:
        from numba.np.ufunc import parallel
    except ImportError:  # pragma: no cover - a numba without that module
        parallel = None
    get, set_ = getattr(parallel, "_get_num_threads", None), getattr(parallel, "_set_num_threads", None)
    if callable(get) and callable(set_) and get() == numba.get_num_threads():
        _get, _set = get, set_
    else:  # pragma: no cover - a numba that keeps them elsewhere
        _get, _set = numba.get_num_threads, numba.set_num_threads


def _first_get():
    _bind()
    return _get()


def _first_set(threads):
    _bind()
    _set(threads)


_get, _set = _first_get, _first_set


def thread_count():
    """The threads numba's parallel kernels use when called from this Python thread (>= 1)."""
    return _get()


def set_thread_count(threads):
    """Set that count; ``threads`` an int from 1 to numba.config.NUMBA_NUM_THREADS (not checked)."""
    _set(threads)
