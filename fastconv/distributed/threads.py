"""Threads on a Dask worker: the kernels and the BLAS use as many as the worker has.

A worker started with ``--nthreads T`` runs up to T tasks at once, but the
engine runs one kernel launch at a time per process (``fastconv.engine``), so
each launch may use all T threads and no more: several workers on one machine
then share its cores without oversubscribing them. numba's count is set per
calling thread, so every task sets it; the BLAS's is per process, set the
first time a task runs there (the nanny starts workers with one BLAS thread).
"""

import numba
from distributed import get_worker
from threadpoolctl import threadpool_limits

_blas_threads: list[int] = []  # the count this process's BLAS was set to, once set


def follow_worker_threads(worker=None) -> int:
    """Set this thread's numba threads and the process's BLAS threads to the worker's thread count.

    ``worker``: the distributed.Worker (default: the one running this task).
    Returns the count; outside a worker (a local scheduler) changes nothing
    and returns numba's current count.
    """
    try:
        threads = (worker or get_worker()).state.nthreads
    except ValueError:
        return numba.get_num_threads()
    threads = max(1, min(threads, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
    numba.set_num_threads(threads)
    if _blas_threads != [threads]:
        import scipy.linalg  # noqa: F401  (loads SciPy's BLAS, which the compiled kernels call, before the limit)

        threadpool_limits(limits=threads, user_api="blas")
        _blas_threads[:] = [threads]
    return threads


def thread_counts(dask_worker=None) -> dict[str, int]:
    """numba's threads for this thread and each loaded BLAS library's, after :func:`follow_worker_threads`.

    For ``client.run``, which passes the worker as ``dask_worker`` (get_worker() does not always find it there).
    """
    from threadpoolctl import threadpool_info

    numba_threads = follow_worker_threads(dask_worker)
    counts = {"numba": numba_threads}
    for info in threadpool_info():
        if info["user_api"] == "blas":
            counts[f"blas:{info['internal_api']}:{info['filepath']}"] = info["num_threads"]
    return counts
