"""The direct method on tiles vectorised along the output channels (:mod:`fastconv.kernels.channel_tiled`).

They read the input one element at a time, so a stride, a dilation or a
small plane costs them nothing, where the row tiles of
:mod:`fastconv.kernels.tiled` need phase planes with zero taps (strides) or
idle on short rows. They need at least a vector of output channels per group.
Measured on a Zen 4 with AVX2 tiles, float32, against the phase planes
(direct) and im2col: the forward pass of a 4x4 patch embedding 0.40 ms
against 0.68/0.73, of a stride-2 3x3 layer 32->64 1.7 against 3.6/3.1, of a
5x5 stride-2 stem 0.50 against 0.60/0.90; the weight gradient 0.35 against
0.62/0.82 (patches) and 1.8-2.6 against 4.4/3.2 (stride 2), but 0.71-0.83
against 0.62 for the stem, which keeps its phase planes there. At stride 1
they win on planes up to 8x8 (3x3 layers of 16-64 channels on 2x2 to 7x7
planes: forward 1.2-3.3x, weight gradient 1.3-1.7x faster than the row
tiles, more than im2col) and tie or lose on larger ones.
"""

import numba
import numpy as np

from ..kernels._simd import BROADCAST_PIXELS, BROADCAST_VECTORS, lanes
from ..kernels.channel_tiled import (
    conv2d_forward_channel_tiled,
    conv2d_grad_weight_channel_tiled,
    pixel_positions,
)
from ..kernels.tiled import pack_forward_weight, tap_offsets
from .workspace import workspace

PLANES_BUDGET_BYTES = 4 * 2**20  # padded planes (and pixel-major output gradients) of a chunk of images
RUN_PIXELS = 256  # output pixels of one forward task at most, so that the threads' shares come out even
SUMS_BUDGET_BYTES = 2 * 2**20  # the weight gradient's partial sums, one per slice of the batch
TASKS_PER_THREAD = 4  # the forward pass splits planes into runs of pixels until it has this many tasks


SMALL_PLANE_PIXELS = 64  # stride-1 output planes up to 8x8: the row tiles' short rows leave them idle


def applies(geom, dtype):
    """Whether the direct method runs on these tiles: a vector of output channels or more per group, and a
    stride above 1 or a small output plane."""
    small_plane = geom.P * geom.Q <= SMALL_PLANE_PIXELS
    return geom.K // geom.groups >= lanes(dtype) and (geom.stride != (1, 1) or small_plane)


def tile_vectors(channels, dtype):
    """Vectors of output channels per tile for ``channels`` per group: the least padding, then the widest."""
    return min(BROADCAST_VECTORS, key=lambda v: (-(-channels // (v * lanes(dtype))) * v, -v))


def _padded(geom):
    return geom.H + geom.pad_top + geom.pad_bottom, geom.W + geom.pad_left + geom.pad_right


def _planes(geom, dtype, per_image_extra=0):
    """Images per chunk and the scratch for their padded planes."""
    height, width = _padded(geom)
    per_image = (geom.C * height * width + per_image_extra) * dtype.itemsize
    images = max(1, min(geom.N, PLANES_BUDGET_BYTES // per_image))
    return images, workspace.get("planes", (images * geom.C * height * width,), dtype)


def forward(x, weight, out, geom):
    """out (N, K, P, Q) = the convolution of x (N, C, H, W) with weight (K, C/groups, R, S)."""
    height, width = _padded(geom)
    Kg, PQ = geom.K // geom.groups, geom.P * geom.Q
    vectors = tile_vectors(Kg, x.dtype)
    rows, pixels = vectors * lanes(x.dtype), BROADCAST_PIXELS[vectors]
    blocks = -(-Kg // rows)
    run = max(1, min(-(-PQ // pixels), RUN_PIXELS // pixels)) * pixels
    target = TASKS_PER_THREAD * numba.get_num_threads()
    while geom.N * geom.groups * blocks * -(-PQ // run) < target and run > pixels:
        run = max(pixels, run // 2 // pixels * pixels)
    positions = pixel_positions(geom.P, geom.Q, *geom.stride, width, run)
    offsets = tap_offsets(geom.C // geom.groups, geom.R, geom.S, height * width, width, *geom.dilation, 1)
    packed = pack_forward_weight(weight, geom.groups, rows)
    images, planes = _planes(geom, x.dtype)
    conv2d_forward_channel_tiled(
        x, packed, offsets, positions, out, geom.pad_top, geom.pad_left, height, width, planes, images, run
    )


def grad_weight(grad_out, x, grad_w, geom):
    """grad_w (K, C/groups, R, S) from grad_out (N, K, P, Q) and x (N, C, H, W)."""
    height, width = _padded(geom)
    Kg, PQ, dtype = geom.K // geom.groups, geom.P * geom.Q, x.dtype
    taps = geom.C // geom.groups * geom.R * geom.S
    vectors = tile_vectors(Kg, dtype)
    rows = vectors * lanes(dtype)
    Kg_pad = -(-Kg // rows) * rows
    positions = pixel_positions(geom.P, geom.Q, *geom.stride, width, 1)
    offsets = tap_offsets(
        geom.C // geom.groups, geom.R, geom.S, height * width, width, *geom.dilation, BROADCAST_PIXELS[vectors]
    )
    images, planes = _planes(geom, dtype, PQ * geom.groups * Kg_pad)
    grad_t = workspace.get("grad_t", (images, PQ, geom.groups, Kg_pad), dtype)
    threads = numba.get_num_threads()
    sum_bytes = geom.groups * offsets.shape[0] * Kg_pad * dtype.itemsize
    slices = max(1, min(geom.N, 2 * threads, SUMS_BUDGET_BYTES // sum_bytes))
    sums = np.zeros((slices, geom.groups, offsets.shape[0], Kg_pad), dtype)
    conv2d_grad_weight_channel_tiled(
        grad_out,
        x,
        offsets,
        positions,
        sums,
        geom.pad_top,
        geom.pad_left,
        height,
        width,
        planes,
        grad_t,
        images,
        vectors,
        -(-2 * threads // slices),
    )
    total = sums[0] if slices == 1 else sums.sum(axis=0)
    grad_w.reshape(geom.groups, Kg, taps)[...] = total[:, :taps, :Kg].transpose(0, 2, 1)
