"""Slow, obviously correct NumPy convolution: the oracle for every method.

Written straight from the lecture's S_lm = sum_kij X_k,i+l-1,j+m-1 F_kij, with
PyTorch's stride, zero padding, dilation and groups added, in float64.
Imports nothing from fastconv.
"""

import numpy as np


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def padding_sides(padding, kernel_size, dilation):
    """(top, bottom, left, right); "same" puts an odd extra at the end, as PyTorch."""
    if padding == "valid":
        return 0, 0, 0, 0
    if padding == "same":
        sides = []
        for k, d in zip(kernel_size, _pair(dilation)):
            total = d * (k - 1)
            sides += [total // 2, total - total // 2]
        return tuple(sides)
    ph, pw = _pair(padding)
    return ph, ph, pw, pw


def _taps(weight_shape, stride, dilation, P, Q):
    """For every filter tap, the slices of the padded input it reads."""
    _, _, R, S = weight_shape
    sh, sw = _pair(stride)
    dh, dw = _pair(dilation)
    for r in range(R):
        for s in range(S):
            rows = slice(r * dh, r * dh + sh * (P - 1) + 1, sh)
            cols = slice(s * dw, s * dw + sw * (Q - 1) + 1, sw)
            yield r, s, rows, cols


def output_size(input_shape, weight_shape, stride=1, padding=0, dilation=1):
    _, _, H, W = input_shape
    _, _, R, S = weight_shape
    t, b, l, r = padding_sides(padding, (R, S), dilation)
    (sh, sw), (dh, dw) = _pair(stride), _pair(dilation)
    return (H + t + b - dh * (R - 1) - 1) // sh + 1, (W + l + r - dw * (S - 1) - 1) // sw + 1


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """out (N, K, P, Q) from x (N, C, H, W) and weight (K, C/groups, R, S)."""
    x = np.asarray(x, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    N, C, H, W = x.shape
    K, Cg, R, S = weight.shape
    t, b, l, r = padding_sides(padding, (R, S), dilation)
    xp = np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)))
    P, Q = output_size(x.shape, weight.shape, stride, padding, dilation)
    out = np.zeros((N, K, P, Q))
    Kg = K // groups
    for k in range(K):
        c0 = (k // Kg) * Cg
        for c in range(Cg):
            for ri, si, rows, cols in _taps(weight.shape, stride, dilation, P, Q):
                out[:, k] += weight[k, c, ri, si] * xp[:, c0 + c, rows, cols]
    if bias is not None:
        out += np.asarray(bias, dtype=np.float64)[None, :, None, None]
    return out


def conv2d_grad_input(grad_output, weight, input_shape, stride=1, padding=0, dilation=1, groups=1):
    """dL/dx (N, C, H, W): each output gradient flows back to the pixels its tap read."""
    g = np.asarray(grad_output, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    N, C, H, W = input_shape
    K, Cg, R, S = weight.shape
    t, b, l, r = padding_sides(padding, (R, S), dilation)
    P, Q = g.shape[2:]
    gxp = np.zeros((N, C, H + t + b, W + l + r))
    Kg = K // groups
    for k in range(K):
        c0 = (k // Kg) * Cg
        for c in range(Cg):
            for ri, si, rows, cols in _taps(weight.shape, stride, dilation, P, Q):
                gxp[:, c0 + c, rows, cols] += weight[k, c, ri, si] * g[:, k]
    return gxp[:, :, t : t + H, l : l + W]


def conv2d_grad_weight(grad_output, x, weight_shape, stride=1, padding=0, dilation=1, groups=1):
    """dL/dweight (K, C/groups, R, S): sum over batch and pixels of G times what the tap read."""
    g = np.asarray(grad_output, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    K, Cg, R, S = weight_shape
    t, b, l, r = padding_sides(padding, (R, S), dilation)
    xp = np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)))
    P, Q = g.shape[2:]
    gw = np.zeros(weight_shape)
    Kg = K // groups
    for k in range(K):
        c0 = (k // Kg) * Cg
        for c in range(Cg):
            for ri, si, rows, cols in _taps(weight_shape, stride, dilation, P, Q):
                gw[k, c, ri, si] = np.sum(g[:, k] * xp[:, c0 + c, rows, cols])
    return gw
