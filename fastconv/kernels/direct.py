"""Direct convolution loops: forward, gradient w.r.t. the input, w.r.t. the weights.

Shapes (NCHW, PyTorch's layout): x (N, C, H, W), weight (K, C/groups, R, S),
output and its gradient (N, K, P, Q). Input row ``h`` and output row ``p`` of
filter tap ``r`` are tied by ``h = p*stride_h - pad_top + r*dilation_h`` (the
lecture's ``S_lm = sum_kij X_k,i+l-1,j+m-1 F_kij`` with stride, padding and
dilation added); columns likewise. Padding is never materialised:
:func:`valid_range` skips the taps that would read it.

Each prange iteration writes only to output elements that no other iteration
touches, so there are no races and results do not depend on scheduling.

The general loops here run dilated strided layers (undilated ones become
stride-1 layers over phase planes, see ``fastconv/engine/phases.py``) and,
compiled a second time without threads (the ``*_serial`` twins at the end),
every pass too small to repay the tiles' set-up or a launch
(``fastconv.engine.direct.PLAIN_LOOPS_BELOW_FLOPS``). At
stride 1 the register tiles of :mod:`.tiled` run the forward pass and the
input gradient; the weight gradient of layers with one output channel per
group (depthwise), where a tile of channels would be mostly empty, runs the
"row" kernel here. It takes the zero-padded input with each (H, W) plane
flattened to one row of length H*W. Output pixel (p, q) of a filter tap then
reads element ``p*W + q + tap_offset`` of that row, so the whole output
plane is one contiguous run ``i = p*W + q`` (with W - Q unused columns per
row, zero in the gradient rows): one long unit-stride dot product per tap,
which the compiler vectorises. Every such loop runs over a slice starting at
the tap's offset, so the index is a plain non-negative loop counter.
"""

import numpy as np
from numba import njit, prange

from ._options import PARALLEL_OPTIONS, serial_twin
from ._window import valid_range


@njit(**PARALLEL_OPTIONS)
def conv2d_forward_direct(x, weight, out, stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w, groups):
    """out[n, k] = sum_c x[n, c] (*) weight[k, c]; one (n, k) plane per iteration.

    x (N, C, H, W), weight (K, C/groups, R, S), out (N, K, P, Q), overwritten.
    """
    N, C, H, W = x.shape
    K, Cg, R, S = weight.shape
    P, Q = out.shape[2], out.shape[3]
    Kg = K // groups
    for nk in prange(N * K):
        n = nk // K
        k = nk - n * K
        c0 = (k // Kg) * Cg
        acc = np.zeros((P, Q), dtype=out.dtype)
        for c in range(Cg):
            for r in range(R):
                row_off = r * dilation_h - pad_top
                p_lo, p_hi = valid_range(row_off, stride_h, H, P)
                for s in range(S):
                    col_off = s * dilation_w - pad_left
                    q_lo, q_hi = valid_range(col_off, stride_w, W, Q)
                    w = weight[k, c, r, s]
                    for p in range(p_lo, p_hi):
                        h = p * stride_h + row_off
                        for q in range(q_lo, q_hi):
                            acc[p, q] += w * x[n, c0 + c, h, q * stride_w + col_off]
        out[n, k] = acc


@njit(**PARALLEL_OPTIONS)
def conv2d_grad_input_direct(
    grad_out, weight, grad_x, stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w, groups
):
    """grad_x[n, c] = sum_k G[n, k] zero-padded (*) rot180(weight[k, c]).

    The lecture's full correlation, written so that each output-gradient
    element is multiplied by the filter tap that read the input element: an
    input pixel h receives ``G[p] * F[r]`` for every ``p*stride + r*dilation =
    h + pad``, which is exactly the correlation of the zero-padded (and, for
    stride > 1, zero-dilated) G with the 180-degree rotated filter.
    One (n, c) plane of grad_x per iteration.

    grad_out (N, K, P, Q), weight (K, C/groups, R, S), grad_x (N, C, H, W),
    overwritten.
    """
    N, C, H, W = grad_x.shape
    K, Cg, R, S = weight.shape
    P, Q = grad_out.shape[2], grad_out.shape[3]
    Kg = K // groups
    for nc in prange(N * C):
        n = nc // C
        ci = nc - n * C
        g = ci // Cg
        c = ci - g * Cg
        acc = np.zeros((H, W), dtype=grad_x.dtype)
        for k in range(g * Kg, (g + 1) * Kg):
            for r in range(R):
                row_off = r * dilation_h - pad_top
                p_lo, p_hi = valid_range(row_off, stride_h, H, P)
                for s in range(S):
                    col_off = s * dilation_w - pad_left
                    q_lo, q_hi = valid_range(col_off, stride_w, W, Q)
                    w = weight[k, c, r, s]
                    for p in range(p_lo, p_hi):
                        h = p * stride_h + row_off
                        for q in range(q_lo, q_hi):
                            acc[h, q * stride_w + col_off] += w * grad_out[n, k, p, q]
        grad_x[n, ci] = acc


@njit(**PARALLEL_OPTIONS)
def conv2d_grad_weight_direct(
    grad_out, x, grad_weight, stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w, groups
):
    """grad_weight[k, c] = sum_n x[n, c] (*) G[n, k] (the lecture's X * dL/dS).

    One (k, c) filter plane per iteration; the batch is summed inside it in a
    fixed order, so the result is the same for every thread count.

    grad_out (N, K, P, Q), x (N, C, H, W), grad_weight (K, C/groups, R, S),
    overwritten.
    """
    N, C, H, W = x.shape
    K, Cg, R, S = grad_weight.shape
    P, Q = grad_out.shape[2], grad_out.shape[3]
    Kg = K // groups
    zero = grad_weight.dtype.type(0)
    for kc in prange(K * Cg):
        k = kc // Cg
        c = kc - k * Cg
        ci = (k // Kg) * Cg + c
        for r in range(R):
            row_off = r * dilation_h - pad_top
            p_lo, p_hi = valid_range(row_off, stride_h, H, P)
            for s in range(S):
                col_off = s * dilation_w - pad_left
                q_lo, q_hi = valid_range(col_off, stride_w, W, Q)
                acc = zero
                for n in range(N):
                    for p in range(p_lo, p_hi):
                        h = p * stride_h + row_off
                        for q in range(q_lo, q_hi):
                            acc += grad_out[n, k, p, q] * x[n, ci, h, q * stride_w + col_off]
                grad_weight[k, c, r, s] = acc


# The three passes compiled without threads: the smallest passes (fastconv.engine.direct.PLAIN_LOOPS_BELOW_FLOPS)
# run these with no launch, 2.2 against 3.5 us of loops for the benchmark's tiny forward pass.
conv2d_forward_direct_serial = serial_twin(conv2d_forward_direct)
conv2d_grad_input_direct_serial = serial_twin(conv2d_grad_input_direct)
conv2d_grad_weight_direct_serial = serial_twin(conv2d_grad_weight_direct)
