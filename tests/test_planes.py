"""The stride phases of padded planes, the shuffles that split a row into its stride-2 column phases and back,
and the blocked transpose of the weight gradient's pixel-major output gradient."""

import numpy as np
import pytest
from numba import njit

from fastconv.kernels import _simd
from fastconv.kernels.channel_tiled import pixel_major
from fastconv.kernels.planes import join_phases, split_phases


def reference_phases(x, stride_h, stride_w, top, left, Hq, Wq):
    """phases[n, (c*sh + a)*sw + b, i, j] = x[n, c, i*sh + a - top, j*sw + b - left], zero outside x."""
    N, C, H, W = x.shape
    phases = np.zeros((N, C, stride_h, stride_w, Hq, Wq), x.dtype)
    for a in range(stride_h):
        for b in range(stride_w):
            for i in range(Hq):
                for j in range(Wq):
                    h, w = i * stride_h + a - top, j * stride_w + b - left
                    if 0 <= h < H and 0 <= w < W:
                        phases[:, :, a, b, i, j] = x[:, :, h, w]
    return phases.reshape(N, C * stride_h * stride_w, Hq, Wq)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("stride", [(2, 2), (1, 2), (2, 3), (3, 1)])
def test_split_phases_places_every_element_and_zeros_elsewhere(dtype, stride, rng):
    # Widths around one and two vectors of pairs (8 or 16 float32 lanes, 4 or 8 float64), odd and even
    # paddings (negative ones crop the plane), phase planes that cover the padded input and ones
    # cropped short of it (the columns no output reads).
    for W in (1, 2, 7, 16, 17, 33, 65):
        for top, left in ((0, 0), (1, 1), (2, 3), (3, 0), (-1, -3), (0, -2)):
            for extra in (-2, 0, 1):
                H = 5
                Hq = max(1, -(-(H + 2 * top) // stride[0]) + extra)
                Wq = max(1, -(-(W + 2 * left) // stride[1]) + extra)
                x = rng.standard_normal((2, 3, H, W)).astype(dtype)
                kept = x.copy()
                phases = np.full((2, 3 * stride[0] * stride[1], Hq, Wq), np.nan, dtype)
                split_phases(x, phases, *stride, top, left)
                want = reference_phases(x, *stride, top, left, Hq, Wq)
                np.testing.assert_array_equal(phases, want, err_msg=f"W={W} top={top} left={left} Wq={Wq}")
                np.testing.assert_array_equal(x, kept)
                back = np.full_like(x, np.nan)
                join_phases(phases, back, *stride, top, left)
                np.testing.assert_array_equal(back, np.where(in_some_phase(x.shape, *stride, top, left, Hq, Wq), x, 0))


def in_some_phase(shape, stride_h, stride_w, top, left, Hq, Wq):
    """Whether each element of an array of ``shape`` lies in one of its (Hq, Wq) phase planes."""
    H, W = shape[2:]
    rows, columns = np.arange(H) + top, np.arange(W) + left
    rows = (rows >= 0) & (rows // stride_h < Hq)
    columns = (columns >= 0) & (columns // stride_w < Wq)
    return np.broadcast_to(rows[:, None] & columns[None, :], shape)


@njit
def _pairs_apart(src, src_start, pairs, dst, even_start, odd_start):
    _simd.pairs_apart(src, src_start, pairs, dst, even_start, odd_start)


@njit
def _pairs_together(src, even_start, odd_start, pairs, dst, dst_start):
    _simd.pairs_together(src, even_start, odd_start, pairs, dst, dst_start)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pairs", [0, 1, 3, 4, 8, 9, 17])
def test_pair_shuffles_move_every_element_and_nothing_else(dtype, pairs):
    src = np.arange(1, 61, dtype=dtype)
    dst = np.zeros(80, dtype=dtype)
    _pairs_apart(src, 3, pairs, dst, 5, 40)  # even and odd columns to two rows
    want = np.zeros(80, dtype=dtype)
    want[5 : 5 + pairs] = src[3 : 3 + 2 * pairs : 2]
    want[40 : 40 + pairs] = src[4 : 4 + 2 * pairs : 2]
    np.testing.assert_array_equal(dst, want)
    dst = np.zeros(80, dtype=dtype)  # and back: two rows interleaved into one
    _pairs_together(src, 3, 30, pairs, dst, 5)
    want = np.zeros(80, dtype=dtype)
    want[5 : 5 + 2 * pairs : 2] = src[3 : 3 + pairs]
    want[6 : 6 + 2 * pairs : 2] = src[30 : 30 + pairs]
    np.testing.assert_array_equal(dst, want)


@njit
def _transpose_block(dst, dst_start, dst_stride, src, src_start, src_stride, count):
    _simd.transpose_block(dst, dst_start, dst_stride, src, src_start, src_stride, count)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", ["one", "over half", "all"])
@pytest.mark.parametrize("upward", [False, True])
def test_transpose_block_stores_the_first_rows_of_one_square_and_nothing_else(dtype, rows, upward):
    lanes = _simd.lanes(np.dtype(dtype))
    count = {"one": 1, "over half": lanes // 2 + 1, "all": lanes}[rows]
    src = np.arange(1, 40 * lanes + 1, dtype=dtype)
    dst = np.zeros(60 * lanes, dtype=dtype)
    first, step = (50 * lanes, -(3 * lanes + 1)) if upward else (7, 3 * lanes + 1)
    _transpose_block(dst, first, step, src, 5, 2 * lanes + 3, count)
    square = np.lib.stride_tricks.as_strided(src[5:], (lanes, lanes), ((2 * lanes + 3) * src.itemsize, src.itemsize))
    want = np.zeros_like(dst)
    for i in range(count):
        want[first + i * step : first + i * step + lanes] = square[:, i]
    np.testing.assert_array_equal(dst, want)


@njit
def _pixel_major(grad_out, n0, count, grad_t):
    pixel_major(grad_out, n0, count, grad_t)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "K, groups, P, Q, pad",
    [(64, 1, 20, 20, 0), (48, 1, 11, 10, 0), (20, 2, 5, 7, 6), (3, 1, 4, 4, 5), (128, 4, 8, 8, 16), (17, 1, 1, 33, 1)],
)
def test_pixel_major_transposes_each_images_channels_and_zeros_the_padding(dtype, K, groups, P, Q, pad, rng):
    # Channels and pixels in whole blocks of lanes, with tails, below a block, grouped, padded.
    grad_out = rng.standard_normal((5, K, P, Q)).astype(dtype)
    kept = grad_out.copy()
    Kg = K // groups
    grad_t = np.full((4, P * Q, groups, Kg + pad), np.nan, dtype)
    _pixel_major(grad_out, 2, 3, grad_t)
    want = grad_out[2:5].reshape(3, groups, Kg, P * Q).transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(grad_t[:3, :, :, :Kg], want)
    np.testing.assert_array_equal(grad_t[:3, :, :, Kg:], 0)
    assert np.isnan(grad_t[3]).all()
    np.testing.assert_array_equal(grad_out, kept)
