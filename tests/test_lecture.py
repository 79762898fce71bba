"""The lecture's identities hold against the fast kernels (one image, stride 1, no padding)."""

import numpy as np
import pytest

import fastconv
from fastconv.lecture import grad_input_by_rot180, grad_weight_by_correlation, mf_matrix, mx_matrix, rot180

METHODS = ["direct", "im2col"]


def test_mx_matrix_matches_the_lecture_example():
    """6x6 image, 3x3 filter: the rows printed in the lecture, X_ij = 10*i + j."""
    X = np.array([[10 * i + j for j in range(1, 7)] for i in range(1, 7)], dtype=np.float64)
    M = mx_matrix(X[None], 3)
    assert M.shape == (16, 9)
    np.testing.assert_array_equal(M[0], [11, 12, 13, 21, 22, 23, 31, 32, 33])
    np.testing.assert_array_equal(M[1], [12, 13, 14, 22, 23, 24, 32, 33, 34])
    np.testing.assert_array_equal(M[4], [21, 22, 23, 31, 32, 33, 41, 42, 43])
    np.testing.assert_array_equal(M[15], [44, 45, 46, 54, 55, 56, 64, 65, 66])


@pytest.fixture
def lecture_case(rng):
    """The lecture's 32x32x3 image and four 5x5x3 filters (channels first)."""
    x = rng.standard_normal((1, 3, 32, 32))
    weight = rng.standard_normal((4, 3, 5, 5))
    g = rng.standard_normal((1, 4, 28, 28))
    return x, weight, g


@pytest.mark.parametrize("method", METHODS)
def test_forward_is_mx_times_vec_f(lecture_case, method):
    x, weight, _ = lecture_case
    S = fastconv.conv2d(x, weight, method=method)[0]
    M = mx_matrix(x[0], (5, 5))
    assert M.shape == (28 * 28, 3 * 25)
    for k in range(4):
        np.testing.assert_allclose(S[k].ravel(), M @ weight[k].ravel(), rtol=1e-12, atol=1e-11)


@pytest.mark.parametrize("method", METHODS)
def test_forward_is_mf_times_vec_x(lecture_case, method):
    x, weight, _ = lecture_case
    S = fastconv.conv2d(x, weight, method=method)[0]
    for k in range(4):
        M = mf_matrix(weight[k], (32, 32))
        assert M.shape == (28 * 28, 3 * 32 * 32)
        np.testing.assert_allclose(S[k].ravel(), M @ x[0].ravel(), rtol=1e-12, atol=1e-11)


@pytest.mark.parametrize("method", METHODS)
def test_grad_weight_is_g_times_mx(lecture_case, method):
    """dL/dvec(F_k) = vec(G_k) M_X^im, and dL/dF_k = sum_c X_c * G_k."""
    x, weight, g = lecture_case
    gw = fastconv.conv2d_grad_weight(g, x, weight.shape, method=method)
    M = mx_matrix(x[0], (5, 5))
    for k in range(4):
        np.testing.assert_allclose(gw[k].ravel(), g[0, k].ravel() @ M, rtol=1e-11, atol=1e-10)
    np.testing.assert_allclose(gw, grad_weight_by_correlation(g, x), rtol=1e-11, atol=1e-10)


@pytest.mark.parametrize("method", METHODS)
def test_grad_input_is_g_times_mf_and_rot180(lecture_case, method):
    """dL/dvec(X) = sum_k vec(G_k) M_{F_k}^filter = sum_k G_k zero-padded * rot180(F_k)."""
    x, weight, g = lecture_case
    gx = fastconv.conv2d_grad_input(g, weight, x.shape, method=method)
    via_mf = sum(g[0, k].ravel() @ mf_matrix(weight[k], (32, 32)) for k in range(4))
    np.testing.assert_allclose(gx[0].ravel(), via_mf, rtol=1e-11, atol=1e-10)
    np.testing.assert_allclose(gx, grad_input_by_rot180(g, weight), rtol=1e-11, atol=1e-10)


def test_rot180_flips_both_spatial_axes():
    f = np.arange(6.0).reshape(1, 1, 2, 3)
    np.testing.assert_array_equal(rot180(f)[0, 0], [[5, 4, 3], [2, 1, 0]])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: mx_matrix(np.zeros((3, 4, 4)), 5), "kernel_size must fit"),
        (lambda: mx_matrix(np.zeros((4, 4)), 3), "x must be 3-D"),
        (lambda: mf_matrix(np.zeros((3, 5, 5)), (4, 4)), "input_size must be at least"),
        (lambda: mf_matrix(np.zeros((3, 5, 5), dtype=int), (8, 8)), "f must have dtype"),
    ],
)
def test_lecture_helpers_reject_bad_input(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
