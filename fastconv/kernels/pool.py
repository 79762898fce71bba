"""Max pooling over (R, S) windows with a stride, no padding, for NCHW arrays."""

import numpy as np
from numba import njit, prange

from ._options import PARALLEL_OPTIONS


@njit(**PARALLEL_OPTIONS)
def max_pool_forward(x, out, argmax, R, S, stride_h, stride_w):
    """out[n, c, p, q] = max of x[n, c] over its window; argmax holds h*W + w of that max.

    x (N, C, H, W); out and argmax (N, C, P, Q), overwritten. The first of
    equal maxima wins, as in PyTorch. A NaN in the window is the max.
    """
    N, C, H, W = x.shape
    P, Q = out.shape[2], out.shape[3]
    for nc in prange(N * C):
        n = nc // C
        c = nc - n * C
        for p in range(P):
            for q in range(Q):
                h0 = p * stride_h
                w0 = q * stride_w
                best = x[n, c, h0, w0]
                where = h0 * W + w0
                for r in range(R):
                    for s in range(S):
                        v = x[n, c, h0 + r, w0 + s]
                        if v > best or (v != v and best == best):
                            best = v
                            where = (h0 + r) * W + w0 + s
                out[n, c, p, q] = best
                argmax[n, c, p, q] = where


@njit(**PARALLEL_OPTIONS)
def max_pool_backward(grad_out, argmax, grad_x):
    """Route each output gradient to the input pixel that was the max.

    grad_out and argmax (N, C, P, Q); grad_x (N, C, H, W), overwritten.
    One (n, c) plane per iteration, so overlapping windows add up without races.
    """
    N, C, H, W = grad_x.shape
    P, Q = grad_out.shape[2], grad_out.shape[3]
    for nc in prange(N * C):
        n = nc // C
        c = nc - n * C
        plane = np.zeros(H * W, dtype=grad_x.dtype)
        for p in range(P):
            for q in range(Q):
                plane[argmax[n, c, p, q]] += grad_out[n, c, p, q]
        grad_x[n, c] = plane.reshape(H, W)
