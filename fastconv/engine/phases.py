"""Strided convolutions as stride-1 ones over phase planes ("space to depth").

With stride (sh, sw), output (p, q) reads padded input rows p*sh + r. Writing
r = u*sh + a (a < sh) splits the input into sh*sw phase planes
``xq[n, (c, a, b), i, j] = padded[n, c, i*sh + a, j*sw + b]`` and each filter
into sub-filters ``wq[k, (c, a, b), u, v] = w[k, c, u*sh + a, v*sw + b]``
(zero past R, S) of ceil(R/sh) x ceil(S/sw) taps; then

    out[n, k, p, q] = sum_(c,a,b),u,v wq[k, (c, a, b), u, v] * xq[n, (c, a, b), p + u, q + v],

a stride-1 convolution without padding, which the direct tiles compute. The
zero taps cost extra work (3x3 at stride 2: 16 taps for 9; a stride equal to
the filter, as in patch embeddings, none), and meet real pixels: an
infinite input gives NaN (0 * inf) in the outputs beside its own. The
forward pass's row tiles and the weight gradient's dot-product tiles read
the phase planes with the filter's own taps only (``kernels/tiled.py``,
``phase_tap_offsets``); the input gradient's run over sub-filters. Phase
channels keep each group's channels together, so groups carry over.
Dilation 1 only.
"""

import numpy as np

from .._geometry import conv_geometry
from ..kernels.planes import join_phases, split_phases
from .workspace import workspace


def sub_filter_size(geom):
    """(Rq, Sq): each phase's sub-filter, ceil(R/sh) x ceil(S/sw) taps."""
    return -(-geom.R // geom.stride[0]), -(-geom.S // geom.stride[1])


def zero_tap_share(geom):
    """The share of the sub-filters' taps (sh*sw phases of Rq x Sq) that are zero: 7/16 for 3x3 at stride 2."""
    Rq, Sq = sub_filter_size(geom)
    taps = geom.stride[0] * geom.stride[1] * Rq * Sq
    return (taps - geom.R * geom.S) / taps


def phase_geometry(geom):
    """The stride-1 geometry over phase planes that computes ``geom`` (stride > 1, dilation 1)."""
    sh, sw = geom.stride
    Rq, Sq = sub_filter_size(geom)
    input_shape = (geom.N, geom.C * sh * sw, geom.P - 1 + Rq, geom.Q - 1 + Sq)
    weight_shape = (geom.K, geom.C // geom.groups * sh * sw, Rq, Sq)
    return conv_geometry(input_shape, weight_shape, groups=geom.groups)


def split_input(x, geom, phased):
    """x (N, C, H, W) padded as ``geom`` says and split into phase planes (N, C*sh*sw, Hq, Wq)."""
    phases = workspace.get("phases", phased.input_shape, x.dtype)  # a fresh array would cost a page fault per 4 KiB
    split_phases(x, phases, *geom.stride, geom.pad_top, geom.pad_left)
    return phases


def join_input_gradient(grad_phases, geom, grad_x):
    """The inverse of :func:`split_input` for gradients: grad_x (N, C, H, W) from (N, C*sh*sw, Hq, Wq)."""
    join_phases(grad_phases, grad_x, *geom.stride, geom.pad_top, geom.pad_left)
    return grad_x


def split_weight(weight, geom, phased):
    """weight (K, Cg, R, S) as sub-filters (K, Cg*sh*sw, Rq, Sq) of ``phased``, zero past R and S."""
    (sh, sw), (K, Cg, R, S), (Rq, Sq) = geom.stride, weight.shape, phased.kernel_size
    grown = np.zeros((K, Cg, Rq * sh, Sq * sw), dtype=weight.dtype)
    grown[:, :, :R, :S] = weight
    split = grown.reshape(K, Cg, Rq, sh, Sq, sw).transpose(0, 1, 3, 5, 2, 4)
    return np.ascontiguousarray(split).reshape(K, Cg * sh * sw, Rq, Sq)


def join_weight_gradient(grad_phases, geom, grad_weight):
    """The inverse of :func:`split_weight` for gradients: grad_weight (K, Cg, R, S), the zero taps dropped."""
    (sh, sw), (K, Cg, R, S) = geom.stride, grad_weight.shape
    Rq, Sq = grad_phases.shape[2:]
    grown = grad_phases.reshape(K, Cg, sh, sw, Rq, Sq).transpose(0, 1, 4, 2, 5, 3).reshape(K, Cg, Rq * sh, Sq * sw)
    grad_weight[...] = grown[:, :, :R, :S]
    return grad_weight
