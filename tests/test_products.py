"""The im2col drivers' matrix products (fastconv.engine.products) against NumPy, on numba's threads and without."""

import numpy as np
import pytest
from conftest import DTYPES, SHIPPED_NUMPY_BELOW_FLOPS

from fastconv.engine import products
from fastconv.kernels import blas


@pytest.fixture(params=["numba threads", "numpy"])
def path(request, monkeypatch):
    """Each test once through the compiled products, once through np.matmul (as where numpy's BLAS is not found)."""
    if request.param == "numpy":
        monkeypatch.setattr(blas, "BLAS", None)
    elif blas.BLAS is None:
        pytest.skip("numpy's bundled OpenBLAS is not found here")  # never on numpy's wheels: see the test below
    return request.param


def _operand(rng, shape, dtype, layout):
    """An array of ``shape`` laid out as ``layout``: C order, a transposed copy, or a slice of a larger array."""
    if layout == "transposed":
        return rng.standard_normal((*shape[:-2], shape[-1], shape[-2])).astype(dtype).swapaxes(-1, -2)
    if layout == "slice":
        larger = rng.standard_normal((*shape[:-2], shape[-2] + 3, shape[-1] + 5)).astype(dtype)
        return larger[..., 1 : shape[-2] + 1, 2 : shape[-1] + 2]
    return rng.standard_normal(shape).astype(dtype)


def _check(a, b, out, expected, accumulate=False):
    a_before, b_before = a.copy(), b.copy()
    products.matmul(a, b, out, accumulate)
    tolerance = 1e-4 if out.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, expected, rtol=tolerance, atol=tolerance * np.abs(expected).max())
    np.testing.assert_array_equal(a, a_before)
    np.testing.assert_array_equal(b, b_before)


SIZES = [(5, 7, 3), (70, 33, 20), (33, 90, 17), (1, 40, 5), (40, 1, 5), (37, 37, 1)]
LAYOUTS = ["C", "transposed", "slice"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n,k", SIZES)
@pytest.mark.parametrize("layout_a", LAYOUTS)
@pytest.mark.parametrize("layout_b", LAYOUTS)
def test_product_and_sum_match_numpy(path, dtype, m, n, k, layout_a, layout_b):
    rng = np.random.default_rng(m * n * k)
    a, b = _operand(rng, (m, k), dtype, layout_a), _operand(rng, (k, n), dtype, layout_b)
    expected = a.astype(np.float64) @ b.astype(np.float64)
    frame = np.full((m + 2, n + 4), 7, dtype)
    out = frame[1 : m + 1, 3 : n + 3]  # rows of a larger array: ldc is not n
    _check(a, b, out, expected)
    _check(a, b, out, 2 * expected, accumulate=True)
    frame[1 : m + 1, 3 : n + 3] = 7
    assert (frame == 7).all()  # nothing written outside out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n,k", SIZES)
@pytest.mark.parametrize("shared", ["none", "a", "b"])
def test_batches_and_their_sums_match_numpy(path, dtype, m, n, k, shared):
    rng = np.random.default_rng(m + n + k)
    a = _operand(rng, (m, k) if shared == "a" else (3, m, k), dtype, "slice")
    b = _operand(rng, (k, n) if shared == "b" else (3, k, n), dtype, "transposed")
    each = a.astype(np.float64) @ b.astype(np.float64)
    _check(a, b, np.empty((3, m, n), dtype), each)
    total = np.empty((m, n), dtype)
    _check(a, b, total, each.sum(axis=0))
    _check(a, b, total, 2 * each.sum(axis=0), accumulate=True)


@pytest.mark.parametrize("threads", [1, 3, 8])
def test_blocks_cover_the_result_for_any_thread_count(path, threads, monkeypatch):
    """Uneven blocks of rows and of columns (more blocks than numba's threads too), with and without a batch."""
    monkeypatch.setattr(products, "thread_count", lambda: threads)
    rng = np.random.default_rng(threads)
    for m, n in [(101, 35), (35, 101)]:
        a, b = rng.standard_normal((2, m, 9)), rng.standard_normal((9, n))
        _check(a, b, np.empty((2, m, n)), a @ b)
        _check(a, b, np.empty((m, n)), (a @ b).sum(axis=0))


def test_blas_threads_restored(path):
    if blas.BLAS is None:
        return
    before = blas.BLAS.get_threads()
    a = np.ones((64, 64), np.float32)
    products.matmul(a, a, np.empty_like(a))
    assert blas.BLAS.get_threads() == before


def test_numpys_bundled_blas_is_found(monkeypatch):
    """Where numpy's wheel ships its ILP64 OpenBLAS, the products run on numba's threads, not np.matmul."""
    if not list(blas._library_files()):
        pytest.skip("this numpy bundles no OpenBLAS")
    if blas.numba.config.DISABLE_JIT:
        assert blas.BLAS is None
        return
    assert blas.BLAS is not None
    calls = []
    original = blas.products
    monkeypatch.setattr(blas, "products", lambda *args: calls.append(args) or original(*args))
    a = np.ones((8, 8))
    products.matmul(a, a, out := np.empty_like(a))
    assert len(calls) == 1
    np.testing.assert_array_equal(out, 8)


def test_small_products_call_numpy(monkeypatch):
    """Under NUMPY_BELOW_FLOPS np.matmul computes the product; from there on the compiled products do."""
    monkeypatch.setattr(products, "NUMPY_BELOW_FLOPS", SHIPPED_NUMPY_BELOW_FLOPS)
    calls = []
    monkeypatch.setattr(blas, "products", lambda *args: calls.append(args))
    k = SHIPPED_NUMPY_BELOW_FLOPS // (2 * 64 * 64)
    assert 2 * 64 * 64 * k == SHIPPED_NUMPY_BELOW_FLOPS
    a, b = np.ones((64, k)), np.ones((k, 64))
    products.matmul(a[1:], b, out := np.empty((63, 64)))  # one row short of the threshold
    np.testing.assert_array_equal(out, k)
    assert not calls
    products.matmul(a, b, np.empty((64, 64)))
    assert len(calls) == (blas.BLAS is not None)
