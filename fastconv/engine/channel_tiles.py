"""The direct method on tiles vectorised along the output channels (:mod:`fastconv.kernels.channel_tiled`).

They read the input one element at a time, so a stride, a dilation or a
small plane costs them nothing, where the row tiles of
:mod:`fastconv.kernels.tiled` need phase planes (strides) or idle on short
rows; they need at least a vector of output channels per
group. Measured on a Zen 4 with AVX2 tiles, float32 unless said, against
the row tiles (direct) and im2col:

* forward: a 4x4 patch embedding 0.30-0.43 ms against 0.68/0.73, a stride-2 3x3
  layer 32->64 1.6 against 3.6/3.1, a 5x5 stride-2 stem 0.41 against
  0.60/0.90. At stride 1 against the row tiles (one process, interleaved,
  both dtypes): 3x3 to 12x12 planes with 16-64 channels 1.1-1.6x faster;
  larger planes within 10% either way; one vector of channels (12-pixel
  tiles) 0.8x. So strided forward passes with a vector of output channels
  run here, stride-1 ones (input gradients included, forward passes over the
  output gradient) with two vectors on planes up to 16x16 (with AVX2 tiles;
  AVX-512 tiles on an Intel core: planes smaller than 16x16, below);
* weight gradient: patches 0.35 against 0.62/0.82, stride 2 1.8-2.6 against
  4.4/3.2, stride-1 planes of 2x2 to 12x12 1.3-1.7x faster than the row
  tiles, but 32x32 planes 5-38% slower (3x3, 32-64 channels, both dtypes,
  with the runs of GRAD_RUN_PIXELS) and single-image stems too (a 5x5 stem
  on 224x224 0.82 against 0.58 ms; batched stems on planes up to 64x64 ran
  1.3-1.5x faster here, on 96x96 and 128x128 level in float32 and up to 1.4x
  slower in float64, so stems stay off): the layers of the forward rule,
  stems excepted. With AVX-512 tiles on an Intel core, also every layer
  whose output channels fill whole vectors and whose batch gives each task
  images of its own (:func:`tasks_own_images`: a task pads and transposes
  them one at a time, within PLANES_BUDGET_BYTES, in its own cache), stride
  1 and stems included. Forced here against the dot-product tiles (Intel
  Xeon, in-process, both dtypes): the benchmark's CIFAR, one-channel,
  dilated and 3x3 layers 0.58-0.91x the time (its 5x1 layer, float32,
  1.10x forced and 0.91x in an A/B of the two versions); such layers drawn with
  shared/tools/random_layers.py seeds 6-8, held out, 0.48-0.94x in 23 of 25
  cells (3x3 to 7x7, dilated, grouped, 1x5, 5x1, stems, 16-64 channels,
  6x6 to 64x64 planes), 1.02-1.15x in two float64 ones of one vector of
  channels (7x7 on 28x28, 3x3 on 4x4). With a partial vector (24 float32
  channels: 1.39-1.62x) or images to share (a single image 1.06-1.11x, 16
  deep 8x8 planes whose sums fill the budget 1.17-1.40x) the dot-product
  tiles keep them.

Stride-1 planes smaller than a task's run of RUN_PIXELS pixels run with runs
across images (:func:`conv2d_forward_channel_tiled_over_images`): a tile
block's filters are read once per run, not once per small plane, tasks are
not a few tiles each, and no tile is cut at a plane's end. On an Intel Xeon
(Emerald Rapids) with AVX-512 tiles, stride-1 forward passes and input
gradients, in-process A/B, both dtypes: against runs within a plane 0.97-1.9x
faster (4x4 to 12x12 planes, 16-512 channels); strided forward passes on
5x5 to 14x14 output planes ran 0.97-1.39x slower so (patch embeddings, a
stride-2 layer on 28x28: the copy out of the scratch outweighs the gain),
and keep runs within a plane. Against the row tiles, 4x4 to 12x12 planes of
32-512 channels, 1.0-2.0x faster in 26 of 32 cells, the others 1.01-1.09x
slower (6x6 float32, 8x8 and 12x12 float64); 16x16 planes 1.05-1.12x slower;
filters of one row or column (5x1 on 8x12, 3x1 on 6x8, 1x7 on 14x8 planes,
64-128 channels) in float64 1.09-1.52x slower, in float32 0.72-1.2x; float64
layers of few taps per output (1 and 8 input channels, 3x3: 9 and 72 taps)
1.28-1.75x slower (144 taps level, 800 1.26x faster). So on the Intel core
stride-1 planes smaller than SMALL_PLANE_PIXELS run here, float64 ones only
with filters of more than one row and column and INTEL_FLOAT64_MIN_TAPS
taps. (SMALL_PLANE_PIXELS is RUN_PIXELS: there every stride-1 pass here
runs across images; with AVX2 tiles a 16x16 plane runs within itself.)

Where padding takes a large share of such a pass's taps, the runs go by
window instead (:func:`window_pixels`,
:func:`conv2d_forward_channel_tiled_by_window`): pixels whose filter windows
meet the image alike (the corners, the edges, the inside) share tiles, which
read the input in place and skip the taps that meet padding (31% of a 3x3
filter's on 4x4 planes), provided those tiles, each window's pixels rounded
up to whole tiles, do at most WINDOW_MAX_WORK of the plain runs'
multiply-adds (:func:`window_work_share`: 3x3 filters padded to keep the
size on 8 or more images of up to 6x6 pixels, not on a single image, whose
corners would fill a tile each). In-process A/B against the runs across
images on an Intel Xeon, forward passes and input gradients, both dtypes,
8-64 images: 6 held-out layers (3x3 on 3x3 to 6x6 planes, 5x5 on 7x7,
32-512 channels), 24 cells 1.08-1.47x faster, geometric mean 1.17x; 4
more, dilated (2 and 3) and grouped (2 and 4 groups), 1.14-1.52x, geometric
mean 1.32x; 3x3 on 7x7 and 8x8 planes (work 0.82-0.84) 0.80-1.09x, level,
so those keep the plain runs.

Stems (a few input channels, filters wider than the stride, undilated) in
float32 on the Intel core run their forward pass on the row tiles over the
input's stride phases with the filter's own taps instead
(``fastconv/engine/direct.py``): no output channels padded to whole
vectors, no transposed stores. In-process A/B, 3x3 to 7x7 stems of RGB
images at stride 2, 1-8 images of 64x64 to 224x224: float32 1.03-1.48x
faster over phases (13 layers, 9 of them held out), float64 0.82-1.21x, so
float64 stays here.

On the Intel core float32 stride-1 passes with more than half a vector of
output channels run here also wherever the row tiles idle
(:func:`row_tile_use` below MIN_TILE_USE: one-row outputs of one-hot text
layers, 3x3 and 4x4 planes): forced here against the rule, in-process,
forward passes of 8 such layers with 12-55 channels 1.05-1.79x faster,
input gradients of 3 1.08-2.05x; where the row tiles are busier (use
0.52-0.75) 0.62-1.10x, with 4 and 8 channels 0.89-1.15x, and in float64
0.61-1.21x, so those keep the row tiles.

A tile skips the filter rows that meet only padding for all its pixels
(:func:`fastconv.kernels._window.tile_filter_rows`): an input gradient, a
forward pass over the output gradient padded by the filter's span, then
computes little more than its real rows (float32, 7x1 filters on
32x64x12x12 1.7-1.8 -> 1.2-1.35 ms, 5x1 on 16x128x12x12 2.5-2.9 -> 1.9-2.1;
the forward passes level).
"""

import functools
import math

import numpy as np

from ..kernels._simd import BROADCAST_COST, BROADCAST_PIXELS, BROADCAST_VECTORS, FORWARD_VECTORS, forward_rows, lanes
from ..kernels.channel_tiled import (
    conv2d_forward_channel_tiled,
    conv2d_forward_channel_tiled_by_window,
    conv2d_forward_channel_tiled_over_images,
    conv2d_grad_weight_channel_tiled,
    pixel_positions,
)
from ..kernels.tiled import filters_shape, pack_forward_weight, tap_offsets
from .host import INTEL_WIDE_TILES, WIDE_TILES
from .threads import thread_count
from .workspace import PLANES_BUDGET_BYTES, images_per_chunk, workspace

RUN_PIXELS = 256  # output pixels of one forward task at most, so that the threads' shares come out even
SUMS_BUDGET_BYTES = 2 * 2**20  # the weight gradient's partial sums, one per slice of the batch
TASKS_PER_THREAD = 4  # the forward pass splits planes into runs of pixels until it has this many tasks
SMALL_PLANE_PIXELS = (
    256  # stride-1 output planes up to 16x16, on the Intel core smaller ones (see the module docstring)
)
WINDOW_MAX_WORK = 0.8  # share of the runs' multiply-adds up to which runs across images go by window (see above)
MIN_TILE_USE = 0.5  # share of the row tiles' positions that are output pixels below which they idle
INTEL_FLOAT64_MIN_TAPS = 128  # float64 taps (Cg*R*S) from which stride-1 planes run here on an Intel core (same)
# Addresses a multiple of CACHE_WAY_BYTES apart share an L1 set (64 sets of 64-byte lines, 8 or more ways,
# on x86 cores). A tile stores each of its output channels' pixels a plane apart: on 64x64 float32 planes
# the 24 channels of a tile land in one set, whose lines are evicted before they are whole. With more than
# CONFLICTING_ROWS lines per set and at most SCRATCH_MAX_TAPS taps (few multiply-adds per store), a task's
# tiles store into a scratch (rows a line more than a run apart) copied out row by row. Measured, float32
# forward, scratch against straight stores: 8x3x128x128 3x3 stride 2, 24 lines per set, 1.53-1.59x;
# 16 lines 1.02-1.13x at 27-48 taps, 0.97x at 147 (7x7 stem); float64 (8 lines) 0.91-0.95x.
CACHE_WAY_BYTES = 4096
CONFLICTING_ROWS = 8
SCRATCH_MAX_TAPS = 64


def row_tile_use(channels, P, Q, width, dtype):
    """Share of the positions the row tiles (:mod:`fastconv.kernels.tiled`) compute for a stride-1 forward
    pass of ``channels`` output channels per group onto (P, Q) planes that are output pixels: they compute
    P rows of the padded input's ``width``, rounded up to whole tiles of ``FORWARD_VECTORS[rows] * lanes``
    positions, so small planes leave most of a tile idle, the more so with wide vectors and tiles."""
    tile = FORWARD_VECTORS[forward_rows(channels)] * lanes(dtype)
    return P * Q / (-(-(P * width) // tile) * tile)


def forward_applies(channels, plane, width, strided, dtype, kernel_size, taps):
    """Whether a forward pass (or an input gradient computed as one) runs on these tiles: ``channels``
    output channels per group, output planes of ``plane`` (P, Q) from padded rows ``width`` wide, filters
    of ``kernel_size`` (R, S) and ``taps`` (input channels per group x R x S). Strided: a vector of
    channels or more. Stride 1: two vectors or more, with AVX2 tiles on planes of at most
    SMALL_PLANE_PIXELS, with AVX-512 tiles on an Intel core on smaller ones, there in float64 only filters
    of more than one row and column and INTEL_FLOAT64_MIN_TAPS taps, and in float32 also more than half a
    vector where the row tiles idle (:func:`row_tile_use` below MIN_TILE_USE); AMD's AVX-512 tiles,
    unmeasured, keep the row tiles."""
    if strided:
        return channels >= lanes(dtype)
    if INTEL_WIDE_TILES and dtype == np.float32 and channels > lanes(dtype) // 2:
        if row_tile_use(channels, *plane, width, dtype) < MIN_TILE_USE:
            return True
    pixels = plane[0] * plane[1]
    if channels < 2 * lanes(dtype):
        return False
    if INTEL_WIDE_TILES:
        float64_ok = min(kernel_size) > 1 and taps >= INTEL_FLOAT64_MIN_TAPS
        return pixels < SMALL_PLANE_PIXELS and (dtype == np.float32 or float64_ok)
    return not WIDE_TILES and pixels <= SMALL_PLANE_PIXELS


def runs(geom, pass_name, dtype):
    """Whether the direct method runs this pass of ``geom`` on these tiles.

    The forward pass by :func:`forward_applies`, float32 stems on an Intel core excepted (see the module
    docstring); the weight gradient likewise, stems excepted, and at
    stride 1 with AVX2 tiles only, or on an Intel core with AVX-512 tiles wherever its output channels
    fill whole vectors and :func:`tasks_own_images` (see the module docstring); the input gradient, a forward pass over the
    output gradient, at stride 1 by its input channels and plane (a strided one runs over phase planes,
    whose own stride-1 passes may come here).
    """
    strided = geom.stride != (1, 1)
    if pass_name == "grad_input":
        taps = geom.K // geom.groups * geom.R * geom.S
        width = geom.W + geom.dilation[1] * (geom.S - 1)  # the output gradient padded by the filter's span
        plane = (geom.H, geom.W)
        return not strided and forward_applies(
            geom.C // geom.groups, plane, width, False, dtype, geom.kernel_size, taps
        )
    taps = geom.C // geom.groups * geom.R * geom.S
    width = geom.padded_size[1]
    plane = (geom.P, geom.Q)
    applies = forward_applies(geom.K // geom.groups, plane, width, strided, dtype, geom.kernel_size, taps)
    if pass_name == "grad_weight":
        whole_vectors = (geom.K // geom.groups) % lanes(dtype) == 0
        if INTEL_WIDE_TILES and whole_vectors and tasks_own_images(geom, dtype):
            return True
        return applies and not geom.stem and (strided or not WIDE_TILES)
    return applies and not (INTEL_WIDE_TILES and dtype == np.float32 and geom.stem)


def stores_via_scratch(channels, plane_pixels, taps, itemsize):
    """Whether a tile's ``channels`` output channels, ``plane_pixels`` elements apart in the NCHW result,
    store via a scratch: more than CONFLICTING_ROWS of them on one L1 cache set, at most SCRATCH_MAX_TAPS
    taps."""
    apart = math.gcd(plane_pixels * itemsize, CACHE_WAY_BYTES)
    return channels * apart > CONFLICTING_ROWS * CACHE_WAY_BYTES and taps <= SCRATCH_MAX_TAPS


def tile_vectors(channels, dtype):
    """Vectors of output channels per tile for ``channels`` per group: the least time for the padded blocks."""
    return min(BROADCAST_VECTORS, key=lambda v: -(-channels // (v * lanes(dtype))) * v * BROADCAST_COST[v])


def forward(x, weight, out, top, left, height, width, stride, dilation, groups, rotated=False):
    """out (N, K, P, Q) = the convolution of x (N, C, h, w), placed at (top, left) in zero (height, width)
    planes, with the filters (K, C/groups, R, S): weight, or its rotated_transposed when ``rotated``."""
    N, C = x.shape[:2]
    K, Cg, R, S = filters_shape(weight, groups, rotated)
    P, Q = out.shape[2:]
    Kg = K // groups
    vectors = tile_vectors(Kg, x.dtype)
    rows, pixels = vectors * lanes(x.dtype), BROADCAST_PIXELS[vectors]
    blocks = -(-Kg // rows)
    packed = pack_forward_weight(weight, groups, rows, rotated)
    target = TASKS_PER_THREAD * thread_count()
    H, W = x.shape[2:]
    if by_window(N, (H, W), (P, Q), (R, S), top, left, stride, dilation, pixels):
        positions, targets, windows = window_pixels(
            N, H, W, P, Q, top, left, R, S, *dilation, pixels, C * H * W, K * P * Q
        )
        run = RUN_PIXELS // pixels
        while groups * blocks * -(-len(windows) // run) < target and run > 1:
            run = max(1, run // 2)
        offsets = tap_offsets(Cg, R, S, H * W, W, *dilation, 1)
        conv2d_forward_channel_tiled_by_window(x, packed, offsets, positions, targets, windows, out, run, R)
        return
    images = images_per_chunk(N, C * height * width * x.itemsize)
    planes = workspace.get("planes", (images * C * height * width,), x.dtype)
    offsets = tap_offsets(Cg, R, S, height * width, width, *dilation, 1)
    if over_images(P * Q, stride != (1, 1)):
        run = RUN_PIXELS // pixels * pixels
        while groups * blocks * -(-(min(images, N) * P * Q) // run) < target and run > pixels:
            run = max(pixels, run // 2 // pixels * pixels)
        positions = pixel_positions(P, Q, *stride, width, run, images, C * height * width)
        conv2d_forward_channel_tiled_over_images(
            x, packed, offsets, positions, out, top, left, height, width, planes, images, run, stride[0], R,
            dilation[0],
        )  # fmt: skip
        return
    run = max(1, min(-(-(P * Q) // pixels), RUN_PIXELS // pixels)) * pixels
    while N * groups * blocks * -(-(P * Q) // run) < target and run > pixels:
        run = max(pixels, run // 2 // pixels * pixels)
    positions = pixel_positions(P, Q, *stride, width, run, 1, 0)
    via_scratch = stores_via_scratch(min(rows, Kg), P * Q, Cg * R * S, x.itemsize)
    conv2d_forward_channel_tiled(
        x, packed, offsets, positions, out, top, left, height, width, planes, images, run, stride[0], R, dilation[0],
        via_scratch,
    )  # fmt: skip


def over_images(plane_pixels, strided):
    """Whether the forward tasks' runs of pixels span images (see the module docstring): stride-1 planes
    smaller than a run."""
    return not strided and plane_pixels < RUN_PIXELS


def _grad_sums_shape(geom, dtype):
    """(groups, taps, channels) of the weight gradient's partial sums for one slice of the batch, taps
    and channels padded to whole tiles; and the tile's vectors of channels."""
    vectors = tile_vectors(geom.K // geom.groups, dtype)
    rows, pixels = vectors * lanes(dtype), BROADCAST_PIXELS[vectors]
    taps = -(-(geom.C // geom.groups * geom.R * geom.S) // pixels) * pixels
    return (geom.groups, taps, -(-(geom.K // geom.groups) // rows) * rows), vectors


def grad_sums_bytes(geom, dtype):
    """Bytes of the weight gradient's partial sums for one slice of the batch (see :func:`grad_weight`)."""
    return math.prod(_grad_sums_shape(geom, dtype)[0]) * dtype.itemsize


def _grad_slices(geom, dtype):
    """Slices of the batch whose weight-gradient sums the tasks keep apart (see :func:`grad_weight`): one
    per image up to two per thread, as the sums' budget allows."""
    return max(1, min(geom.N, 2 * thread_count(), SUMS_BUDGET_BYTES // grad_sums_bytes(geom, dtype)))


def _image_bytes(geom, dtype):
    """Bytes of one image's padded planes and pixel-major output gradient, as the weight gradient lays them out."""
    height, width = geom.padded_size
    Kg_pad = _grad_sums_shape(geom, dtype)[0][2]
    return (geom.C * height * width + geom.P * geom.Q * geom.groups * Kg_pad) * dtype.itemsize


def tasks_own_images(geom, dtype):
    """Whether each task of the weight gradient sums a slice of the batch over all the tiles, and so pads
    and transposes its own images, one at a time, into scratch of its own within PLANES_BUDGET_BYTES (see
    :func:`.kernels.channel_tiled.conv2d_grad_weight_channel_tiled`)."""
    own_slice = _grad_slices(geom, dtype) >= 2 * thread_count()
    return own_slice and _image_bytes(geom, dtype) <= PLANES_BUDGET_BYTES


def grad_weight(grad_out, x, grad_w, geom):
    """grad_w (K, C/groups, R, S) from grad_out (N, K, P, Q) and x (N, C, H, W)."""
    height, width = geom.padded_size
    Kg, PQ, dtype = geom.K // geom.groups, geom.P * geom.Q, x.dtype
    taps = geom.C // geom.groups * geom.R * geom.S
    sums_shape, vectors = _grad_sums_shape(geom, dtype)
    Kg_pad = sums_shape[2]
    positions = pixel_positions(geom.P, geom.Q, *geom.stride, width, 1, 1, 0)
    offsets = tap_offsets(
        geom.C // geom.groups, geom.R, geom.S, height * width, width, *geom.dilation, BROADCAST_PIXELS[vectors]
    )
    slices = _grad_slices(geom, dtype)
    parts = -(-2 * thread_count() // slices)
    if tasks_own_images(geom, dtype):  # no shared chunks (see the kernel)
        images, planes, grad_t = 0, np.empty(0, dtype), np.empty((0, 0, 0, 0), dtype)
    else:
        images = images_per_chunk(geom.N, _image_bytes(geom, dtype))
        planes = workspace.get("planes", (images * geom.C * height * width,), dtype)
        grad_t = workspace.get("grad_t", (images, PQ, geom.groups, Kg_pad), dtype)
    sums = np.zeros((slices, *sums_shape), dtype)
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
        parts,
    )
    total = sums[0] if slices == 1 else sums.sum(axis=0)
    grad_w[...] = total[:, :taps, :Kg].transpose(0, 2, 1).reshape(grad_w.shape)


def _taps_in_image(first, taps, size, dilation):
    """(lo, hi): the taps of a filter dimension whose input index ``first + tap*dilation`` lies in [0, size)."""
    lo = 0 if first >= 0 else min(taps, (dilation - 1 - first) // dilation)
    hi = min(taps, (size - 1 - first) // dilation + 1) if first < size else 0
    return lo, max(lo, hi)


def _positions_by_window(image, plane, kernel_size, top, left, dilation):
    """{(r_lo, r_hi, s_lo, s_hi): [p*Q + q, ...]}: the output positions of a stride-1 pass onto (P, Q)
    ``plane``, grouped by the filter rows and columns that meet the (H, W) ``image`` placed at (top, left)
    in zero planes."""
    (H, W), (P, Q), (R, S) = image, plane, kernel_size
    rows = [_taps_in_image(p - top, R, H, dilation[0]) for p in range(P)]
    columns = [_taps_in_image(q - left, S, W, dilation[1]) for q in range(Q)]
    groups = {}
    for p in range(P):
        for q in range(Q):
            groups.setdefault(rows[p] + columns[q], []).append(p * Q + q)
    return groups


def by_window(images, image, plane, kernel_size, top, left, stride, dilation, pixels):
    """Whether a forward pass of ``images`` (H, W) images placed at (top, left) in zero planes onto (P, Q)
    ``plane`` runs its tiles of ``pixels`` by window (:func:`window_pixels`): stride-1 planes that run
    across images, where the windows' tiles do at most WINDOW_MAX_WORK of the runs' multiply-adds."""
    if not over_images(plane[0] * plane[1], stride != (1, 1)):
        return False
    return window_work_share(images, image, plane, kernel_size, top, left, dilation, pixels) <= WINDOW_MAX_WORK


def runs_by_window(geom, pass_name, dtype):
    """Whether the direct method runs a stride-1 forward pass or input gradient of ``geom`` here, by window
    (:func:`by_window`; the input gradient a forward pass over the output gradient padded by the span)."""
    if pass_name == "grad_weight" or not runs(geom, pass_name, dtype):
        return False
    if pass_name == "forward":
        image, plane, top, left, channels = (geom.H, geom.W), (geom.P, geom.Q), geom.pad_top, geom.pad_left, geom.K
    else:
        image, plane, channels = (geom.P, geom.Q), (geom.H, geom.W), geom.C
        top = geom.dilation[0] * (geom.R - 1) - geom.pad_top
        left = geom.dilation[1] * (geom.S - 1) - geom.pad_left
    pixels = BROADCAST_PIXELS[tile_vectors(channels // geom.groups, dtype)]
    return by_window(geom.N, image, plane, geom.kernel_size, top, left, geom.stride, geom.dilation, pixels)


@functools.lru_cache(maxsize=256)
def window_work_share(images, image, plane, kernel_size, top, left, dilation, pixels):
    """The multiply-adds of the tiles by window (each window's pixels over the images rounded up to whole
    tiles of ``pixels``) over those of the runs across images (every tap): 3x3 filters, padding 1, 4x4
    planes, 8-pixel tiles, 8 images 0.69 (31% of the taps read padding), one image 2.7 (nine tiles, most
    of them one or two pixels). Remembered per arguments."""
    groups = _positions_by_window(image, plane, kernel_size, top, left, dilation)
    windows = sum(
        -(-images * len(members) // pixels) * (r_hi - r_lo) * (s_hi - s_lo)
        for (r_lo, r_hi, s_lo, s_hi), members in groups.items()
    )
    across = -(-images * plane[0] * plane[1] // pixels) * kernel_size[0] * kernel_size[1]
    return windows / across


@functools.lru_cache(maxsize=32)
def window_pixels(N, H, W, P, Q, top, left, R, S, dilation_h, dilation_w, pixels, image_step, out_step):
    """(positions, targets, windows) for :func:`conv2d_forward_channel_tiled_by_window`: the output pixels of
    a stride-1 pass over N images (H, W), placed at (top, left) in zero planes, grouped by window (the
    filter rows and columns that meet the image), image by image within a window, each group padded to
    whole tiles of ``pixels`` with copies of its last pixel (target -1). positions[j] = i*image_step +
    (p - top)*W + (q - left) and targets[j] = i*out_step + p*Q + q for slot j's pixel (i, p, q); windows
    (tiles, 4) of (r_lo, r_hi, s_lo, s_hi). Remembered per arguments: the arrays are shared, and the
    kernel only reads them."""
    groups = _positions_by_window((H, W), (P, Q), (R, S), top, left, (dilation_h, dilation_w))
    positions, targets, windows = [], [], []
    for window, members in groups.items():
        pq = np.array(members)  # p*Q + q of the window's output positions
        image = np.repeat(np.arange(N), len(pq))
        p, q = np.tile(pq // Q, N), np.tile(pq % Q, N)
        spare = -len(image) % pixels
        position = image * image_step + (p - top) * W + (q - left)
        target = image * out_step + p * Q + q
        positions += [position, np.repeat(position[-1:], spare)]
        targets += [target, np.full(spare, -1)]
        windows.append(np.tile(window, ((len(image) + spare) // pixels, 1)))
    return (
        np.concatenate(positions).astype(np.intp),
        np.concatenate(targets).astype(np.intp),
        np.concatenate(windows).astype(np.intp),
    )
