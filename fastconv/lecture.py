"""The lecture's explicit matrices and gradient formulas, for teaching and checking.

Everything here is for one image, stride 1 and no padding, exactly as in the
lecture, and is written for clarity rather than speed.

The vec convention
------------------
``vec`` stacks an array in C (row-major) order: ``vec(A) = A.ravel()``.
For a response map S (P, Q) this runs along rows: S_11, S_12, ..., S_1Q,
S_21, ...; a filter F (C, R, S) is stacked channel by channel, each channel
row by row; an image X (C, H, W) likewise. With this convention the first
rows of M_X^im for the lecture's 6x6 image and 3x3 filter are exactly the
lecture's::

    X11 X12 X13 X21 X22 X23 X31 X32 X33
    X12 X13 X14 X22 X23 X24 X32 X33 X34

The identities (``fastconv.conv2d`` on a batch of one, groups=1):

* ``vec(S_k) = mx_matrix(X, (R, S)) @ vec(F_k)``
* ``vec(S_k) = mf_matrix(F_k, (H, W)) @ vec(X)``
* ``dL/dvec(F_k) = vec(G_k) @ M_X^im``, i.e. ``dL/dF_k = sum_c X_c * G_k``
* ``dL/dvec(X) = sum_k vec(G_k) @ M_{F_k}^filter``, i.e.
  ``dL/dX_c = sum_k G_k zero-padded * rot180(F_kc)``
"""

import numpy as np
from numpy.typing import ArrayLike

from ._geometry import FloatArray, IntPair, as_float_array
from .conv import conv2d


def _pair(kernel_size):
    return (kernel_size, kernel_size) if np.isscalar(kernel_size) else tuple(kernel_size)


def mx_matrix(x: ArrayLike, kernel_size: IntPair) -> FloatArray:
    """The lecture's M_X^im of one image: ``vec(X * F) = M_X^im @ vec(F)``.

    Parameters
    ----------
    x : array (C, H, W)
    kernel_size : int or (R, S)

    Returns
    -------
    M : array (P*Q, C*R*S), P = H - R + 1, Q = W - S + 1
        ``M[l*Q + m, (c*R + i)*S + j] = x[c, l + i, m + j]``
    """
    x = as_float_array(x, "x", 3)
    R, S = _pair(kernel_size)
    C, H, W = x.shape
    if not (1 <= R <= H and 1 <= S <= W):
        raise ValueError(f"kernel_size must fit inside the {H}x{W} image, got {R}x{S}")
    windows = np.lib.stride_tricks.sliding_window_view(x, (R, S), axis=(1, 2))  # (C, P, Q, R, S)
    P, Q = windows.shape[1:3]
    return np.ascontiguousarray(windows.transpose(1, 2, 0, 3, 4)).reshape(P * Q, C * R * S)


def mf_matrix(f: ArrayLike, input_size: tuple[int, int]) -> FloatArray:
    """The lecture's M_F^filter of one filter: ``vec(X * F) = M_F^filter @ vec(X)``.

    Parameters
    ----------
    f : array (C, R, S)
    input_size : (H, W)

    Returns
    -------
    M : array (P*Q, C*H*W)
        Row ``l*Q + m`` is vec of an all-zero image with ``f`` placed at
        rows l..l+R-1, columns m..m+S-1.
    """
    f = as_float_array(f, "f", 3)
    C, R, S = f.shape
    H, W = input_size
    if not (R <= H and S <= W):
        raise ValueError(f"input_size must be at least the filter size {R}x{S}, got {H}x{W}")
    P, Q = H - R + 1, W - S + 1
    M = np.zeros((P * Q, C, H, W), dtype=f.dtype)
    for l in range(P):
        for m in range(Q):
            M[l * Q + m, :, l : l + R, m : m + S] = f
    return M.reshape(P * Q, C * H * W)


def rot180(weight: ArrayLike) -> FloatArray:
    """Filters rotated by 180 degrees in the spatial axes; weight (..., R, S)."""
    return np.asarray(weight)[..., ::-1, ::-1]


def grad_input_by_rot180(grad_output: ArrayLike, weight: ArrayLike) -> FloatArray:
    """dL/dX = sum_k G_k zero-padded * rot180(F_k), with the package's own conv2d.

    Pads G by R-1 rows and S-1 columns on every side and correlates it with the
    rotated filters, input and output channels swapped.

    Parameters
    ----------
    grad_output : array (N, K, P, Q)
    weight : array (K, C, R, S)

    Returns
    -------
    grad_input : array (N, C, P+R-1, Q+S-1)
    """
    weight = as_float_array(weight, "weight", 4)
    R, S = weight.shape[2:]
    return conv2d(grad_output, rot180(weight).transpose(1, 0, 2, 3), padding=(R - 1, S - 1))


def grad_weight_by_correlation(grad_output: ArrayLike, x: ArrayLike) -> FloatArray:
    """dL/dF_k = sum over the batch of X_c * G_k, with the package's own conv2d.

    Each input channel is treated as an image and each output-gradient map as
    a filter.

    Parameters
    ----------
    grad_output : array (N, K, P, Q)
    x : array (N, C, H, W)

    Returns
    -------
    grad_weight : array (K, C, H-P+1, W-Q+1)
    """
    grad_output = as_float_array(grad_output, "grad_output", 4)
    x = as_float_array(x, "x", 4)
    per_image = [conv2d(x[n][:, None], grad_output[n][:, None]) for n in range(x.shape[0])]
    return np.sum(per_image, axis=0).transpose(1, 0, 2, 3)
