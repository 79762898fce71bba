"""The direct passes: forward, grad input and grad weight as compiled loops.

Each takes C-contiguous arrays of one dtype, a checked
:class:`~fastconv._geometry.ConvGeometry` and a preallocated result, and fills
the result. At stride 1 the input is zero-padded into flattened rows for the
fast row kernels; other strides use the general loops.
"""

import numpy as np

from .kernels.direct import (
    conv2d_forward_direct,
    conv2d_forward_rows,
    conv2d_grad_input_direct,
    conv2d_grad_weight_direct,
    conv2d_grad_weight_rows,
)


def _embed_rows(a, top, left, height, width):
    """a (N, C, h, w) placed at (top, left) in zeros (N, C, height, width), as (N, C, height*width).

    Negative offsets crop. No copy when nothing moves.
    """
    N, C, h, w = a.shape
    if (top, left, h, w) == (0, 0, height, width):
        return a.reshape(N, C, h * w)
    out = np.zeros((N, C, height, width), dtype=a.dtype)
    r_src, c_src = max(0, -top), max(0, -left)
    r_dst, c_dst = max(0, top), max(0, left)
    rows = min(h - r_src, height - r_dst)
    cols = min(w - c_src, width - c_dst)
    if rows > 0 and cols > 0:
        out[:, :, r_dst:r_dst + rows, c_dst:c_dst + cols] = a[:, :, r_src:r_src + rows, c_src:c_src + cols]
    return out.reshape(N, C, height * width)


def _rotated_transposed(weight, groups):
    """The lecture's rot180 filters with input and output channels swapped, per group.

    weight (K, C/groups, R, S) -> (C, K/groups, R, S), contiguous.
    """
    K, Cg, R, S = weight.shape
    per_group = weight.reshape(groups, K // groups, Cg, R, S)[..., ::-1, ::-1]
    return np.ascontiguousarray(per_group.transpose(0, 2, 1, 3, 4)).reshape(groups * Cg, K // groups, R, S)


def _padded_input_rows(x, geom):
    """The zero-padded input as flattened rows (N, C, Hp*Wp), and Wp."""
    height, width = geom.H + geom.pad_top + geom.pad_bottom, geom.W + geom.pad_left + geom.pad_right
    return _embed_rows(x, geom.pad_top, geom.pad_left, height, width), width


def forward_direct(x, weight, out, geom):
    if geom.stride != (1, 1):
        conv2d_forward_direct(x, weight, out, *geom.kernel_args, geom.groups)
        return
    xp, width = _padded_input_rows(x, geom)
    conv2d_forward_rows(xp, weight, out, width, *geom.dilation, geom.groups)


def grad_input_direct(grad_out, weight, grad_x, geom):
    """Stride 1: the lecture's dL/dX = G zero-padded (*) rot180(F), as a forward pass."""
    if geom.stride != (1, 1):
        conv2d_grad_input_direct(grad_out, weight, grad_x, *geom.kernel_args, geom.groups)
        return
    span_h, span_w = geom.dilation[0] * (geom.R - 1), geom.dilation[1] * (geom.S - 1)
    height, width = geom.H + span_h, geom.W + span_w
    gp = _embed_rows(grad_out, span_h - geom.pad_top, span_w - geom.pad_left, height, width)
    conv2d_forward_rows(gp, _rotated_transposed(weight, geom.groups), grad_x, width, *geom.dilation,
                        geom.groups)


def grad_weight_direct(grad_out, x, grad_weight, geom):
    if geom.stride != (1, 1):
        conv2d_grad_weight_direct(grad_out, x, grad_weight, *geom.kernel_args, geom.groups)
        return
    xp, width = _padded_input_rows(x, geom)
    grad_rows = _embed_rows(grad_out, 0, 0, geom.P, width)
    conv2d_grad_weight_rows(grad_rows, xp, grad_weight, width, geom.Q, *geom.dilation, geom.groups)
