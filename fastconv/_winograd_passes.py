"""The Winograd passes: F(2x2, 3x3) transforms around 16 matrix products per chunk of images.

For 3x3 filters at stride 1 and dilation 1 (see :mod:`.kernels.winograd`).
Each pass takes C-contiguous arrays of one dtype, a checked
:class:`~fastconv._geometry.ConvGeometry` and a preallocated result, and
fills the result, a chunk of images at a time; the products run on the
register tiles of :mod:`.kernels._simd`. Rounding differs slightly from the
direct sums (the transforms add and halve before multiplying): in float32 a
few units in the last place of the result's magnitude.
"""

import numpy as np

from ._direct_passes import rotated_transposed
from ._workspace import workspace
from .kernels._simd import FORWARD_VECTORS, WEIGHT_ROWS, forward_rows, lanes
from .kernels.winograd import (
    grad_transform,
    input_transform,
    output_transform,
    pack_filters,
    transformed_gradient_products,
    transformed_products,
    unpack_filter_gradients,
)

# The transformed inputs and products of one chunk stay below this (at least one image).
CHUNK_BYTES = 8 * 2**20
# Bytes of transformed input columns one product task keeps in cache.
SPAN_BYTES = 96 * 2**10


def applies(geom):
    """Whether F(2x2, 3x3) computes this geometry: 3x3 filters, stride 1, dilation 1."""
    return (geom.R, geom.S, geom.stride, geom.dilation) == (3, 3, (1, 1), (1, 1))


def _tiles(P, Q):
    """Tiles down and across, and slots per image (one unused slot per band of tiles)."""
    tiles_h, tiles_w = -(-P // 2), -(-Q // 2)
    return tiles_h, tiles_w, tiles_h * (tiles_w + 1)


def _chunk(N, channels, tiles, itemsize):
    """Images per chunk: transformed operand and result of ``channels`` rows each."""
    return max(1, min(N, CHUNK_BYTES // (16 * channels * tiles * itemsize)))


def _columns(n, step, itemsize):
    """n rounded up to a multiple of ``step``, and one step more if rows would be 2 KiB-aligned.

    Rows of the transformed arrays whose stride is a multiple of 2 KiB fall
    into the same few L1 cache sets and evict each other (measured: a product
    with 1024 float32 columns ran at 99 GFLOP/s, with 1056 at 189).
    """
    columns = -(-n // step) * step
    return columns + step if columns * itemsize % 2048 == 0 else columns


def _forward(x, weight, out, top, left, groups):
    """Stride-1 3x3 forward of x placed at (top, left) in zero planes."""
    N, C = x.shape[:2]
    K, P, Q = out.shape[1:]
    tiles_h, tiles_w, tiles = _tiles(P, Q)
    rows = forward_rows(K // groups)
    packed = pack_filters(weight, groups, rows)
    tile = FORWARD_VECTORS[rows] * lanes(x.dtype)
    span = max(tile, SPAN_BYTES // ((C // groups) * x.itemsize) // tile * tile)
    step = _chunk(N, C + K, tiles, x.itemsize)
    for n0 in range(0, N, step):
        m = min(step, N - n0)
        columns = _columns(m * tiles, tile, x.itemsize)
        V = workspace.get("winograd_in", (16, C, columns), x.dtype)
        M = workspace.get("winograd_out", (16, K, columns), x.dtype)
        input_transform(x, n0, m, top, left, tiles_h, tiles_w, V)
        transformed_products(packed, V, M, span)
        output_transform(M, out, n0, m, tiles_h, tiles_w)


def forward_winograd(x, weight, out, geom):
    _forward(x, weight, out, geom.pad_top, geom.pad_left, geom.groups)


def grad_input_winograd(grad_out, weight, grad_x, geom):
    """The lecture's dL/dX = G zero-padded (*) rot180(F), as a Winograd forward pass."""
    _forward(grad_out, rotated_transposed(weight, geom.groups), grad_x, 2 - geom.pad_top, 2 - geom.pad_left,
             geom.groups)


def grad_weight_winograd(grad_out, x, grad_weight, geom):
    """dW = G^T [sum over blocks (A dy A^T) * (B^T d B)] G; the sum over blocks is a product."""
    N, C = x.shape[:2]
    K, P, Q = grad_out.shape[1:]
    g = geom.groups
    tiles_h, tiles_w, tiles = _tiles(P, Q)
    S = np.zeros((16, g, K // g, C // g), dtype=x.dtype)
    step = _chunk(N, C + K, tiles, x.itemsize)
    for n0 in range(0, N, step):
        m = min(step, N - n0)
        columns = _columns(m * tiles, lanes(x.dtype), x.itemsize)
        V = workspace.get("winograd_in", (16, C, columns), x.dtype)
        Z = workspace.get("winograd_out", (16 * K + WEIGHT_ROWS, columns), x.dtype)
        Z[16 * K:] = 0
        input_transform(x, n0, m, geom.pad_top, geom.pad_left, tiles_h, tiles_w, V)
        grad_transform(grad_out, n0, m, tiles_h, tiles_w, Z[:16 * K].reshape(16, K, columns))
        transformed_gradient_products(Z, V, S)
    unpack_filter_gradients(S, grad_weight)
