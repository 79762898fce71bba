"""fastconv on Dask: convolution over dask arrays, batch inference and data-parallel training.

The optional extra (``pip install "fastconv[dask]"``); nothing in the core
package imports it. The public names are gathered in :mod:`fastconv.dask`.

* :mod:`.conv`: :func:`~.conv.conv2d` over a dask array chunked along N, H and W.
* :mod:`.inference`: :func:`~.inference.predict` and :func:`~.inference.predict_proba`, lazy.
* :mod:`.training`: :func:`~.training.fit`, data-parallel SGD on a ``distributed.Client``.
* :mod:`.threads`: how many threads each worker's kernels and BLAS use.
"""

try:
    import dask.array  # noqa: F401
    import distributed  # noqa: F401
    import threadpoolctl  # noqa: F401
except ImportError as exc:  # pragma: no cover - only without the extra
    raise ImportError(f'fastconv.dask needs the optional extra: pip install "fastconv[dask]" ({exc})') from None
