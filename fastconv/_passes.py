"""The six convolution passes (forward, grad input, grad weight) x (direct, im2col).

Each pass takes C-contiguous arrays of one dtype, a checked
:class:`~fastconv._geometry.ConvGeometry` and a preallocated result, and fills
the result. The direct passes are single kernel calls; the im2col passes build
the column matrix of a chunk of images at a time (never the whole batch when
that would be large), multiply with NumPy's BLAS, and move on.
"""

import numpy as np

from .kernels.direct import conv2d_forward_direct, conv2d_grad_input_direct, conv2d_grad_weight_direct
from .kernels.im2col import col2im, im2col

# Upper bound on the column matrix of one chunk. Small enough to stay near the
# caches and to keep memory flat for large batches; at least one image always.
COLUMN_BUDGET_BYTES = 8 * 2**20


def images_per_chunk(geom, itemsize):
    """How many images' columns fit in :data:`COLUMN_BUDGET_BYTES` (at least 1)."""
    per_image = (geom.C // geom.groups) * geom.R * geom.S * geom.P * geom.Q * itemsize
    return max(1, min(geom.N, COLUMN_BUDGET_BYTES // max(per_image, 1)))


def _chunks(geom, itemsize):
    step = images_per_chunk(geom, itemsize)
    for n0 in range(0, geom.N, step):
        yield n0, min(n0 + step, geom.N)


def _fill_columns(x, cols, n0, c0, geom):
    im2col(x, cols, n0, c0, geom.R, geom.S, geom.P, geom.Q, *geom.kernel_args)


def _to_rows(a, n0, n1, k0, k1):
    """a[n0:n1, k0:k1] (nb, Kg, P, Q) as a contiguous (Kg, nb*P*Q) matrix."""
    block = a[n0:n1, k0:k1]
    return np.ascontiguousarray(block.reshape(n1 - n0, k1 - k0, -1).transpose(1, 0, 2)).reshape(k1 - k0, -1)


def forward_direct(x, weight, out, geom):
    conv2d_forward_direct(x, weight, out, *geom.kernel_args, geom.groups)


def grad_input_direct(grad_out, weight, grad_x, geom):
    conv2d_grad_input_direct(grad_out, weight, grad_x, *geom.kernel_args, geom.groups)


def grad_weight_direct(grad_out, x, grad_weight, geom):
    conv2d_grad_weight_direct(grad_out, x, grad_weight, *geom.kernel_args, geom.groups)


def forward_im2col(x, weight, out, geom):
    """out[n, group k] = weight[group k] (Kg, Cg*R*S) @ cols (Cg*R*S, P*Q)."""
    Kg, Cg = geom.K // geom.groups, geom.C // geom.groups
    w2 = weight.reshape(geom.K, -1)
    PQ = geom.P * geom.Q
    for n0, n1 in _chunks(geom, x.itemsize):
        cols = np.empty((w2.shape[1], (n1 - n0) * PQ), dtype=x.dtype)
        for g in range(geom.groups):
            _fill_columns(x, cols, n0, g * Cg, geom)
            product = w2[g * Kg:(g + 1) * Kg] @ cols
            out[n0:n1, g * Kg:(g + 1) * Kg] = (
                product.reshape(Kg, n1 - n0, geom.P, geom.Q).transpose(1, 0, 2, 3))


def grad_weight_im2col(grad_out, x, grad_weight, geom):
    """grad_weight[group k] = sum over chunks of G (Kg, nb*P*Q) @ cols.T (the lecture's G M_X^im)."""
    Kg, Cg = geom.K // geom.groups, geom.C // geom.groups
    gw2 = grad_weight.reshape(geom.K, -1)
    gw2[...] = 0
    for n0, n1 in _chunks(geom, x.itemsize):
        cols = np.empty((gw2.shape[1], (n1 - n0) * geom.P * geom.Q), dtype=x.dtype)
        for g in range(geom.groups):
            _fill_columns(x, cols, n0, g * Cg, geom)
            rows = _to_rows(grad_out, n0, n1, g * Kg, (g + 1) * Kg)
            gw2[g * Kg:(g + 1) * Kg] += rows @ cols.T


def grad_input_im2col(grad_out, weight, grad_x, geom):
    """grad_x = col2im(weight[group].T (Cg*R*S, Kg) @ G (Kg, nb*P*Q)), chunk by chunk."""
    Kg, Cg = geom.K // geom.groups, geom.C // geom.groups
    w2 = weight.reshape(geom.K, -1)
    for n0, n1 in _chunks(geom, grad_out.itemsize):
        for g in range(geom.groups):
            rows = _to_rows(grad_out, n0, n1, g * Kg, (g + 1) * Kg)
            cols = w2[g * Kg:(g + 1) * Kg].T @ rows
            col2im(cols, grad_x, n0, g * Cg, geom.R, geom.S, geom.P, geom.Q, *geom.kernel_args)


PASSES = {
    ("forward", "direct"): forward_direct,
    ("forward", "im2col"): forward_im2col,
    ("grad_input", "direct"): grad_input_direct,
    ("grad_input", "im2col"): grad_input_im2col,
    ("grad_weight", "direct"): grad_weight_direct,
    ("grad_weight", "im2col"): grad_weight_im2col,
}
