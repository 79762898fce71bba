"""The Winograd passes: F(4x4, 3x3) transforms around 36 matrix products per chunk of images.

For 3x3 filters at stride 1 and dilation 1 (see :mod:`fastconv.kernels.winograd`).
Each pass takes C-contiguous arrays of one dtype, a checked
:class:`~fastconv._geometry.ConvGeometry` and a preallocated result, and
fills the result, a chunk of images at a time; the products run on the
register tiles of :mod:`fastconv.kernels._simd`. Rounding differs from the direct
sums (the transforms scale by up to 8 and 1/24 before multiplying): measured
in float32 on 64-256 channel layers, errors up to 1.4e-5 of the largest
output (direct: 1.9e-6), root mean square 3e-6 (direct: 8e-7); in float64
about 1e-14.
"""

from ..kernels._simd import FORWARD_VECTORS, WEIGHT_ROWS, forward_rows, lanes
from ..kernels.tiled import rotated_transposed
from ..kernels.winograd import (
    ELEMENTS,
    OUTPUTS,
    grad_transform,
    input_transform,
    output_transform,
    pack_filters,
    transformed_gradient_products,
    transformed_products,
    unpack_filter_gradients,
)
from .workspace import workspace

# The transformed inputs and products of one chunk stay below this (at least one image).
TRANSFORM_BUDGET_BYTES = 16 * 2**20
# Bytes of transformed input columns one product task keeps in cache.
SPAN_BYTES = 96 * 2**10


def _tiles(P, Q):
    """Tiles down and across, and tiles per image."""
    tiles_h, tiles_w = -(-P // OUTPUTS), -(-Q // OUTPUTS)
    return tiles_h, tiles_w, tiles_h * tiles_w


def _images_per_chunk(N, channels, tiles, step, itemsize):
    """Images per chunk: transformed operand and result of ``channels`` rows each stay below TRANSFORM_BUDGET_BYTES.

    Of the counts from half that limit up to it, the one that leaves the
    products the fewest columns in all: each chunk's columns are rounded up to
    a multiple of ``step`` (measured: big_3x3 float64 ran 2 images = 98
    columns padded to 120 per chunk).
    """
    most = max(1, min(N, TRANSFORM_BUDGET_BYTES // (ELEMENTS * channels * tiles * itemsize)))
    return min(
        range(max(1, most // 2), most + 1),
        key=lambda images: (-(-N // images) * _columns(images * tiles, step, itemsize), -images),
    )


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
    Kg, Cg = K // groups, C // groups
    packed = workspace.get("winograd_filters", (ELEMENTS, groups, -(-Kg // rows), Cg, rows), x.dtype)
    pack_filters(weight, groups, packed)
    tile = FORWARD_VECTORS[rows] * lanes(x.dtype)
    span = max(tile, SPAN_BYTES // (Cg * x.itemsize) // tile * tile)
    step = _images_per_chunk(N, C + K, tiles, tile, x.itemsize)
    for n0 in range(0, N, step):
        images = min(step, N - n0)
        columns = _columns(images * tiles, tile, x.itemsize)
        V = workspace.get("winograd_in", (ELEMENTS, C, columns), x.dtype)
        M = workspace.get("winograd_out", (ELEMENTS, K, columns), x.dtype)
        input_transform(x, n0, images, top, left, tiles_h, tiles_w, V)
        transformed_products(packed, V, M, span)
        output_transform(M, out, n0, images, tiles_h, tiles_w)


def forward_winograd(x, weight, out, geom):
    _forward(x, weight, out, geom.pad_top, geom.pad_left, geom.groups)


def grad_input_winograd(grad_out, weight, grad_x, geom):
    """The lecture's dL/dX = G zero-padded (*) rot180(F), as a Winograd forward pass."""
    _forward(
        grad_out, rotated_transposed(weight, geom.groups), grad_x, 2 - geom.pad_top, 2 - geom.pad_left, geom.groups
    )


def grad_weight_winograd(grad_out, x, grad_weight, geom):
    """dW = G^T [sum over blocks (A dy A^T) * (B^T d B)] G; the sum over blocks is a product."""
    N, C = x.shape[:2]
    K, P, Q = grad_out.shape[1:]
    g = geom.groups
    tiles_h, tiles_w, tiles = _tiles(P, Q)
    S = workspace.get("winograd_sums", (ELEMENTS, g, K // g, C // g), x.dtype)
    S[:] = 0
    step = _images_per_chunk(N, C + K, tiles, lanes(x.dtype), x.itemsize)
    for n0 in range(0, N, step):
        images = min(step, N - n0)
        columns = _columns(images * tiles, lanes(x.dtype), x.itemsize)
        V = workspace.get("winograd_in", (ELEMENTS, C, columns), x.dtype)
        Z = workspace.get("winograd_out", (ELEMENTS * K + WEIGHT_ROWS, columns), x.dtype)
        Z[ELEMENTS * K :] = 0
        input_transform(x, n0, images, geom.pad_top, geom.pad_left, tiles_h, tiles_w, V)
        grad_transform(grad_out, n0, images, tiles_h, tiles_w, Z[: ELEMENTS * K].reshape(ELEMENTS, K, columns))
        transformed_gradient_products(Z, V, S)
    unpack_filter_gradients(S, grad_weight)
