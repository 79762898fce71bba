"""The im2col drivers' matrix products: on numba's threads through numpy's BLAS, or ``np.matmul``.

:func:`matmul` runs :func:`fastconv.kernels.blas.products` when numpy's
bundled OpenBLAS was found, every operand is an aligned strided view the BLAS
can read (rows or columns of unit stride) and the work repays the kernel's
call; otherwise ``np.matmul``, with the same result up to rounding. Why the
products run on numba's threads: see :mod:`fastconv.kernels.blas`.
"""

import numpy as np

from ..kernels import blas as _blas
from .threads import thread_count
from .workspace import workspace as _workspace

MIN_BLOCK = 16  # rows or columns of a product's result per task, at least

# Smaller products call np.matmul: the compiled products cost about 11 us more per call (float32, 2 threads,
# products alone: 0.5 MFLOP 8.9 against 17.7 us, 4.2 MFLOP 40 against 44 us, 17 MFLOP level). Inside a
# pass, after a column kernel, they win earlier: the one-hot layers' input gradients (3.3 MFLOP products)
# 1.06-1.10x faster whole; the auto passes of ten small layers otherwise within 3% with the limit at 2^18.
NUMPY_BELOW_FLOPS = 2**20


def _layout(a):
    """(CBLAS transpose flag, leading dimension) of the last two axes of ``a``, or None if the BLAS cannot read them."""
    if not a.flags.aligned:
        return None
    rows, cols = a.shape[-2:]
    size = a.itemsize
    row_step, col_step = a.strides[-2:]
    if cols == 1 or col_step == size:
        lead = cols if rows == 1 else row_step // size
        if rows == 1 or (row_step % size == 0 and lead >= cols):
            return _blas.NO_TRANSPOSE, max(lead, 1)
    if rows == 1 or row_step == size:
        lead = rows if cols == 1 else col_step // size
        if cols == 1 or (col_step % size == 0 and lead >= rows):
            return _blas.TRANSPOSE, max(lead, 1)
    return None


def _address(a):
    return a.__array_interface__["data"][0]


def _batch_step(a):
    return a.strides[0] if a.ndim == 3 else 0


def _batch(a, b):
    return a.shape[0] if a.ndim == 3 else b.shape[0] if b.ndim == 3 else 1


def _sums(a, b, out):
    """Whether ``out`` holds the sum of a batch of products (out 2-D, an operand 3-D)."""
    return out.ndim == 2 and max(a.ndim, b.ndim) == 3


def _check(a, b, out):
    """TypeError/ValueError unless a, b and out are operands of :func:`matmul` (the compiled products read
    memory by address: a wrong shape or dtype would read past an array)."""
    if not a.dtype == b.dtype == out.dtype or out.dtype not in (np.float32, np.float64):
        raise TypeError(f"matmul: a, b and out must share float32 or float64, got {a.dtype}, {b.dtype}, {out.dtype}")
    batches = {x.shape[0] for x in (a, b, out) if x.ndim == 3}
    if (
        not {a.ndim, b.ndim, out.ndim} <= {2, 3}
        or len(batches) > 1
        or (out.ndim == 3 and max(a.ndim, b.ndim) == 2 and out.shape[0] != 1)
        or a.shape[-2:] != (out.shape[-2], b.shape[-2])
        or b.shape[-1] != out.shape[-1]
    ):
        raise ValueError(f"matmul: shapes {a.shape} @ {b.shape} -> {out.shape} do not match")
    if not out.flags.writeable:
        raise ValueError("matmul: out is read-only")


def _numpy_matmul(a, b, out, accumulate):
    if _sums(a, b, out):  # one product over the batch folded into the inner dimension
        if a.ndim == b.ndim:
            product = np.tensordot(a, b, axes=([0, 2], [0, 1]))
        else:
            product = a @ b.sum(axis=0) if a.ndim == 2 else a.sum(axis=0) @ b
    elif accumulate:
        product = np.matmul(a, b, out=_workspace.get("numpy_product", out.shape, out.dtype))
    else:
        np.matmul(a, b, out=out)
        return
    if accumulate:
        out += product
    else:
        out[...] = product


def matmul(a, b, out, accumulate=False):
    """out = a @ b, or out += a @ b when ``accumulate``; all of one dtype (float32 or float64).

    a (m, k) or (batch, m, k), b (k, n) or (batch, k, n): a 2-D operand is
    shared by the batch. out (batch, m, n) holds each product; out (m, n)
    with a batch of operands holds their sum. ``out`` must not overlap ``a``
    or ``b``.
    """
    _check(a, b, out)
    m, n = out.shape[-2:]
    k, batch = a.shape[-1], _batch(a, b)
    flops = 2 * m * n * k * batch
    layouts = (_layout(a), _layout(b), _layout(out)) if flops and flops >= NUMPY_BELOW_FLOPS else (None,)
    if _blas.BLAS is None or None in layouts or layouts[2][0] != _blas.NO_TRANSPOSE:
        _numpy_matmul(a, b, out, accumulate)
        return
    (trans_a, lda), (trans_b, ldb), (_, ldc) = layouts
    sums = _sums(a, b, out)
    threads = thread_count()
    per_product = threads if sums else -(-threads // batch)
    splits = max(1, min(per_product, max(m, n) // MIN_BLOCK))
    blas_threads = _blas.BLAS.get_threads()
    if blas_threads != 1:
        _blas.BLAS.set_threads(1)
    try:
        _blas.products(
            trans_a, trans_b, m, n, k, out.dtype.type(1), _address(a), lda, _batch_step(a), _address(b), ldb,
            _batch_step(b), out.dtype.type(1 if accumulate else 0), _address(out), ldc, _batch_step(out),
            batch, sums, out.itemsize, splits, m > n,
        )  # fmt: skip
    finally:
        if blas_threads != 1:
            _blas.BLAS.set_threads(blas_threads)
