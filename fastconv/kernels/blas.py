"""Matrix products on numba's threads: each thread calls numpy's BLAS, single-threaded, on its block.

Two thread pools on one machine starve each other: after a parallel kernel
numba's threads spin for a while (``fastconv/_thread_policy.py``), and a BLAS
product started then with the BLAS's own threads shares the cores with them
(an im2col forward pass of 4x256x7x7 3x3 float32: columns 0.26 ms, product
1.42 ms, the two back to back 2.08 ms). Here numba's own threads run the
product, each calling the BLAS on one block of the result while the BLAS is
set to one thread: the same 1.46 ms, and 1.79 ms back to back.

The BLAS is the ILP64 OpenBLAS that numpy's wheels bundle (``*cblas_?gemm64_``
with 64-bit integers), found in numpy's library folder and linked to the
kernel by name (so numba's on-disk cache keeps the compiled kernel). Where it
is missing (numpy built on MKL or Accelerate, another BLAS, NUMBA_DISABLE_JIT)
:data:`BLAS` is None and :mod:`fastconv.engine.products` calls ``np.matmul``.
"""

import ctypes
import glob
import os

import numba
import numpy as np
from numba import prange, types
from numba.extending import overload

from ._options import PARALLEL_OPTIONS

ROW_MAJOR, NO_TRANSPOSE, TRANSPOSE = 101, 111, 112  # CBLAS enumerations

# (symbol prefix, suffix) of numpy's bundled ILP64 OpenBLAS: numpy 2 wheels, then numpy 1.22-1.26 wheels.
_NAMINGS = (("scipy_", "64_"), ("", "64_"))
_LINK_NAMES = {"float32": "fastconv_cblas_sgemm", "float64": "fastconv_cblas_dgemm"}


class _Blas:
    """numpy's OpenBLAS: its thread-count getter and setter (ctypes functions)."""

    def __init__(self, library, prefix, suffix):
        self.get_threads = getattr(library, f"{prefix}openblas_get_num_threads{suffix}")
        self.set_threads = getattr(library, f"{prefix}openblas_set_num_threads{suffix}")
        self.get_threads.restype, self.get_threads.argtypes = ctypes.c_int, []
        self.set_threads.restype, self.set_threads.argtypes = None, [ctypes.c_int]


def _library_files():
    numpy_dir = os.path.dirname(np.__file__)
    # numpy's wheels: Linux and Windows (numpy.libs beside numpy), macOS (numpy/.dylibs), Windows numpy 1 (numpy/.libs).
    beside = os.path.join(os.path.dirname(numpy_dir), "numpy.libs")
    for folder in (beside, os.path.join(numpy_dir, ".dylibs"), os.path.join(numpy_dir, ".libs")):
        yield from sorted(glob.glob(os.path.join(folder, "*openblas64*")))


def _find_blas():
    """Link the ILP64 gemm symbols of numpy's bundled OpenBLAS and return its thread controls, or None."""
    if numba.config.DISABLE_JIT:
        return None
    import llvmlite.binding as llvm

    for path in _library_files():
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in _NAMINGS:
            try:
                blas = _Blas(library, prefix, suffix)
                addresses = {
                    link: ctypes.cast(getattr(library, f"{prefix}cblas_{letter}gemm{suffix}"), ctypes.c_void_p).value
                    for letter, link in zip("sd", _LINK_NAMES.values())
                }
            except AttributeError:
                continue
            for link, address in addresses.items():
                llvm.add_symbol(link, address)
            return blas
    return None


BLAS = _find_blas()


def _gemm_function(dtype):
    i32, i64, real = types.int32, types.int64, getattr(types, dtype)
    signature = types.void(
        i32, i32, i32, i64, i64, i64, real, types.voidptr, i64, types.voidptr, i64, real, types.voidptr, i64
    )
    return types.ExternalFunction(_LINK_NAMES[dtype], signature)


_SGEMM, _DGEMM = _gemm_function("float32"), _gemm_function("float64")


def _gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):  # pragma: no cover - compiled only
    """cblas_?gemm, row-major, on addresses; the precision follows alpha's type."""


@overload(_gemm)
def _gemm_by_precision(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    gemm = _SGEMM if alpha == types.float32 else _DGEMM

    def call(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        gemm(ROW_MAJOR, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)

    return call


@numba.njit(**PARALLEL_OPTIONS)
def products(
    trans_a,
    trans_b,
    m,
    n,
    k,
    alpha,
    a,
    lda,
    batch_a,
    b,
    ldb,
    batch_b,
    beta,
    c,
    ldc,
    batch_c,
    batch,
    sums,
    itemsize,
    splits,
    along_rows,
):
    """C[i] = alpha op(A[i]) op(B[i]) + beta C[i] for i < batch, on addresses (a, b, c and batch_*: bytes).

    op(A[i]) is (m, k), op(B[i]) (k, n), C[i] (m, n) row-major; lda, ldb and
    ldc count elements of ``itemsize`` bytes. Each product's result is cut
    into ``splits`` blocks of rows (``along_rows``) or columns, one task each.
    With ``sums`` every product adds into the one C at ``c`` (after the first,
    with beta 1; batch_c is ignored), so a task runs its block for the whole
    batch in order.
    """
    rows_per = (m + splits - 1) // splits
    cols_per = (n + splits - 1) // splits
    tasks = splits if sums else batch * splits
    for task in prange(tasks):
        part = task % splits
        first, last = (0, batch) if sums else (task // splits, task // splits + 1)
        i0 = part * rows_per if along_rows else 0
        i1 = min(m, i0 + rows_per) if along_rows else m
        j0 = 0 if along_rows else part * cols_per
        j1 = n if along_rows else min(n, j0 + cols_per)
        if i1 <= i0 or j1 <= j0:
            continue
        # Offsets of the block's first row of op(A) and first column of op(B) in bytes.
        a_offset = i0 * (itemsize if trans_a == TRANSPOSE else lda * itemsize)
        b_offset = j0 * (ldb * itemsize if trans_b == TRANSPOSE else itemsize)
        c_offset = (i0 * ldc + j0) * itemsize
        for i in range(first, last):
            scale = beta if i == first else beta * 0 + 1  # later products of a sum add
            _gemm(
                trans_a, trans_b, i1 - i0, j1 - j0, k, alpha,
                a + i * batch_a + a_offset, lda,
                b + i * batch_b + b_offset, ldb,
                scale, c + (0 if sums else i * batch_c) + c_offset, ldc,
            )  # fmt: skip
