"""The im2col drivers' matrix products (fastconv.engine.products) against NumPy, on numba's threads and without."""

import numpy as np
import pytest
from conftest import DTYPES, SHIPPED_NUMPY_BELOW_FLOPS

from fastconv.engine import products
from fastconv.kernels import blas


@pytest.fixture(params=["numba threads", "numpy"])
def kernel_calls(request, monkeypatch):
    """Each test once through the compiled products, once through np.matmul (as where numpy's BLAS is not found).

    Returns the list of the compiled kernel's calls (a spy) and whether each product should make one."""
    if request.param == "numpy":
        monkeypatch.setattr(blas, "BLAS", None)
    elif blas.BLAS is None:
        pytest.skip("numpy's bundled OpenBLAS is not found here")  # never on numpy's wheels: see the test below
    calls, kernel = [], blas.products
    monkeypatch.setattr(blas, "products", lambda *args: calls.append(args) or kernel(*args))
    return calls, request.param != "numpy"


def _operand(rng, shape, dtype, layout):
    """An array of ``shape`` laid out as ``layout``: C order, a transposed copy, or a slice of a larger array."""
    if layout == "transposed":
        return rng.standard_normal((*shape[:-2], shape[-1], shape[-2])).astype(dtype).swapaxes(-1, -2)
    if layout == "slice":
        larger = rng.standard_normal((*shape[:-2], shape[-2] + 3, shape[-1] + 5)).astype(dtype)
        return larger[..., 1 : shape[-2] + 1, 2 : shape[-1] + 2]
    return rng.standard_normal(shape).astype(dtype)


def _check(kernel_calls, a, b, out, expected, accumulate=False):
    """matmul's result against ``expected``, its operands unchanged, and the compiled kernel run where expected."""
    calls, compiled = kernel_calls
    a_before, b_before, calls_before = a.copy(), b.copy(), len(calls)
    products.matmul(a, b, out, accumulate)
    assert len(calls) == calls_before + compiled
    tolerance = 1e-4 if out.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, expected, rtol=tolerance, atol=tolerance * np.abs(expected).max(initial=0))
    np.testing.assert_array_equal(a, a_before)
    np.testing.assert_array_equal(b, b_before)


SIZES = [(5, 7, 3), (70, 33, 20), (33, 90, 17), (1, 40, 5), (40, 1, 5), (37, 37, 1)]
LAYOUTS = ["C", "transposed", "slice"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n,k", SIZES)
@pytest.mark.parametrize("layout_a", LAYOUTS)
@pytest.mark.parametrize("layout_b", LAYOUTS)
def test_product_and_sum_match_numpy(kernel_calls, dtype, m, n, k, layout_a, layout_b):
    rng = np.random.default_rng(m * n * k)
    a, b = _operand(rng, (m, k), dtype, layout_a), _operand(rng, (k, n), dtype, layout_b)
    expected = a.astype(np.float64) @ b.astype(np.float64)
    frame = np.full((m + 2, n + 4), 7, dtype)
    out = frame[1 : m + 1, 3 : n + 3]  # rows of a larger array: ldc is not n
    _check(kernel_calls, a, b, out, expected)
    _check(kernel_calls, a, b, out, 2 * expected, accumulate=True)
    frame[1 : m + 1, 3 : n + 3] = 7
    assert (frame == 7).all()  # nothing written outside out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n,k", SIZES)
@pytest.mark.parametrize("shared", ["none", "a", "b"])
def test_batches_and_their_sums_match_numpy(kernel_calls, dtype, m, n, k, shared):
    rng = np.random.default_rng(m + n + k)
    a = _operand(rng, (m, k) if shared == "a" else (3, m, k), dtype, "slice")
    b = _operand(rng, (k, n) if shared == "b" else (3, k, n), dtype, "transposed")
    each = a.astype(np.float64) @ b.astype(np.float64)
    _check(kernel_calls, a, b, np.empty((3, m, n), dtype), each)
    total = np.empty((m, n), dtype)
    _check(kernel_calls, a, b, total, each.sum(axis=0))
    _check(kernel_calls, a, b, total, 2 * each.sum(axis=0), accumulate=True)


@pytest.mark.parametrize("threads", [1, 3, 8])
def test_blocks_cover_the_result_for_any_thread_count(kernel_calls, threads, monkeypatch):
    """Uneven blocks of rows and of columns (more blocks than numba's threads too), with and without a batch."""
    monkeypatch.setattr(products, "thread_count", lambda: threads)
    rng = np.random.default_rng(threads)
    for m, n in [(101, 35), (35, 101)]:
        a, b = rng.standard_normal((2, m, 9)), rng.standard_normal((9, n))
        _check(kernel_calls, a, b, np.empty((2, m, n)), a @ b)
        _check(kernel_calls, a, b, np.empty((m, n)), (a @ b).sum(axis=0))


def test_blas_single_threaded_during_the_products_and_restored_after(monkeypatch):
    """Each task's BLAS call runs on one thread; the BLAS's own count comes back, after an error too."""
    if blas.BLAS is None:
        pytest.skip("numpy's bundled OpenBLAS is not found here")
    before = blas.BLAS.get_threads()
    seen = []

    def spy(*args, fail=False):
        seen.append(blas.BLAS.get_threads())
        if fail:
            raise RuntimeError("kernel failed")

    monkeypatch.setattr(blas, "products", spy)
    a = np.ones((64, 64), np.float32)
    try:
        blas.BLAS.set_threads(2)
        products.matmul(a, a, np.empty_like(a))
        assert seen == [1] and blas.BLAS.get_threads() == 2
        monkeypatch.setattr(blas, "products", lambda *args: spy(*args, fail=True))
        with pytest.raises(RuntimeError, match="kernel failed"):
            products.matmul(a, a, np.empty_like(a))
        assert seen == [1, 1] and blas.BLAS.get_threads() == 2
    finally:
        blas.BLAS.set_threads(before)


def _unaligned(a):
    """A copy of ``a`` one byte off its dtype's alignment."""
    raw = np.zeros(a.nbytes + a.itemsize, np.uint8)
    b = raw[1 : 1 + a.nbytes].view(a.dtype).reshape(a.shape)
    b[...] = a
    assert not b.flags.aligned
    return b


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["Fortran out", "every other column of out", "broadcast a", "unaligned b"])
def test_layouts_the_blas_cannot_read_run_on_numpy(kernel_calls, dtype, case):
    calls, _ = kernel_calls
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((40, 30)).astype(dtype), rng.standard_normal((30, 50)).astype(dtype)
    out = np.empty((40, 50), dtype)
    if case == "Fortran out":
        out = np.asfortranarray(out)
    elif case == "every other column of out":
        out = np.empty((40, 100), dtype)[:, ::2]
    elif case == "broadcast a":
        a = np.broadcast_to(a[:1], a.shape)
    else:
        b = _unaligned(b)
    _check((calls, False), a, b, out, a.astype(np.float64) @ b.astype(np.float64))


@pytest.mark.parametrize("shape_a,shape_b,shape_out", [((0, 4, 5), (5, 6), (0, 4, 6)), ((4, 0), (0, 6), (4, 6))])
def test_products_without_work(kernel_calls, shape_a, shape_b, shape_out):
    """No rows of a batch, or an empty inner dimension (the product is zero): np.matmul, no division by zero."""
    a, b, out = np.ones(shape_a), np.ones(shape_b), np.full(shape_out, 3.0)
    _check((kernel_calls[0], False), a, b, out, np.zeros(shape_out))
    out[...] = 3
    _check((kernel_calls[0], False), a, b, out, np.full(shape_out, 3.0), accumulate=True)


def test_operands_checked():
    a = np.ones((4, 5))
    with pytest.raises(TypeError, match="float32 or float64"):
        products.matmul(a, a.T.astype(np.float32), np.empty((4, 4)))
    with pytest.raises(TypeError, match="float32 or float64"):
        products.matmul(a.astype(int), a.T.astype(int), np.empty((4, 4), int))
    for b, out in [
        (np.ones((4, 4)), np.empty((4, 4))),
        (a.T, np.empty((4, 5))),
        (np.ones((2, 5, 4)), np.empty((3, 4, 4))),
    ]:
        with pytest.raises(ValueError, match="do not match"):
            products.matmul(a, b, out)
    frozen = np.empty((4, 4))
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        products.matmul(a, a.T, frozen)


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
