"""The F(4x4, 3x3) matrices, the transform steps that hard-code them, and the column shuffles they use."""

import numpy as np
import pytest
from numba import njit

from fastconv.kernels import _simd, winograd

B_T, G, A_T = (np.array(m, dtype=np.float64) for m in (winograd.B_T, winograd.G, winograd.A_T))


def test_matrices_compute_a_correlation_and_its_filter_gradient(rng):
    """1-D: A^T [(G g) * (B^T d)] = d correlated with g; G^T [(A dy) * (B^T d)] = dy correlated over d."""
    for _ in range(20):
        d, g, dy = rng.standard_normal(6), rng.standard_normal(3), rng.standard_normal(4)
        np.testing.assert_allclose(A_T @ ((G @ g) * (B_T @ d)), [d[i : i + 3] @ g for i in range(4)], atol=1e-13)
        np.testing.assert_allclose(G.T @ ((A_T.T @ dy) * (B_T @ d)), [dy @ d[s : s + 4] for s in range(3)], atol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transform_steps_apply_the_matrices(dtype, rng):
    length, stride = 11, 13  # rows of src and dst `stride` elements apart, `length` used
    src = rng.standard_normal(6 * stride).astype(dtype)
    rows = src.reshape(6, stride)[:, :length].astype(np.float64)
    tolerance = 1e-5 if dtype == np.float32 else 1e-12

    dst = np.full(6 * stride, np.nan, dtype=dtype)
    # _apply_bt reads row j at (j % 4)*row_stride + (j // 4)*shift: rows 4 and 5 through the shift.
    winograd._apply_bt(src, 0, stride, 4 * stride, dst, 0, stride, length)
    np.testing.assert_allclose(dst.reshape(6, stride)[:, :length], B_T @ rows, rtol=tolerance, atol=tolerance)

    dst = np.full(4 * stride, np.nan, dtype=dtype)
    winograd._apply_at(src, 0, stride, dst, 0, stride, length)
    np.testing.assert_allclose(dst.reshape(4, stride)[:, :length], A_T @ rows, rtol=tolerance, atol=tolerance)

    dst = np.full(6 * stride, np.nan, dtype=dtype)
    winograd._apply_a(src, 0, stride, dst, 0, stride, length)
    np.testing.assert_allclose(dst.reshape(6, stride)[:, :length], A_T.T @ rows[:4], rtol=tolerance, atol=tolerance)


def test_filter_transforms_apply_g(rng):
    for _ in range(20):
        f, s = rng.standard_normal(3), rng.standard_normal(6)
        np.testing.assert_allclose(winograd._times_g(*f), G @ f, atol=1e-14)
        np.testing.assert_allclose(winograd._times_gt(*s), G.T @ s, atol=1e-14)


@njit
def _apart(parts, src, src_start, groups, dst, dst_start, dst_stride):
    if parts == 6:
        _simd.columns_apart_6(src, src_start, groups, dst, dst_start, dst_stride)
    else:
        _simd.columns_apart_4(src, src_start, groups, dst, dst_start, dst_stride)


@njit
def _together(src, src_start, src_stride, groups, dst, dst_start):
    _simd.columns_together(src, src_start, src_stride, groups, dst, dst_start)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("groups", [1, 3, 4, 5, 8, 14])
def test_column_shuffles_move_every_element_and_nothing_else(dtype, groups):
    src = np.arange(1, 121, dtype=dtype)
    for parts in (6, 4):  # column j of group k -> row j of dst, element k
        dst = np.zeros(200, dtype=dtype)
        _apart(parts, src, 3, groups, dst, 5, 30)
        want = np.zeros(200, dtype=dtype)
        for j in range(parts):
            want[5 + 30 * j : 5 + 30 * j + groups] = src[3 + j : 3 + j + 4 * groups : 4][:groups]
        np.testing.assert_array_equal(dst, want)
    dst = np.zeros(200, dtype=dtype)  # and back: 4 rows interleaved into one
    _together(src, 3, 30, groups, dst, 5)
    want = np.zeros(200, dtype=dtype)
    for j in range(4):
        want[5 + j : 5 + j + 4 * groups : 4] = src[3 + 30 * j : 3 + 30 * j + groups]
    np.testing.assert_array_equal(dst, want)
