"""Direct convolution of layers with one output channel per group (depthwise layers).

As in :mod:`.tiled`, the input is zero-padded into flat (height, width)
planes. The depthwise tiles (:func:`._simd.depthwise_tile`) compute blocks
of output rows x vectors (DEPTHWISE_TILES), each loaded
input vector serving every output row of the block that it reaches; the
row tiles load it once per filter row, which on a depthwise layer (one
output channel, so one multiply-add per load) leaves them bound by loads.
One prange task per (image, output channel) at stride 1. A strided layer
is the stride-1 one over its input's stride phases
(``fastconv/engine/phases.py``): its tasks take a share of the (image,
output channel) planes each and split each plane into a scratch of their
own, allocated once per task (SCRATCH_PARTS_PER_THREAD in
``fastconv/engine/direct.py``): the
separate split of the whole batch wrote and read back as much as the tiles
then computed on (32x64x28x28, 3x3, stride 2: forward 1.09 -> 0.68 ms,
weight gradient 2.4 -> 0.84 ms). At stride 2 the split moves each row's
columns apart by vector shuffles (:func:`._simd.pairs_apart`; 8x32x56x56,
3x3, float32: forward 0.42 -> 0.28 ms, weight gradient 0.37 -> 0.32).

Strided input gradients, tasks likewise: each pads an output-gradient
plane, computes its channels' phases on the row tiles (any filter height)
and joins them into the result in scratch of its own, where a pass over the whole batch wrote and read back
phase planes as large as the result (in-process, float32 and float64,
1.16-2.2x on eight layers).

Weight gradients, any stride, stride 1 dilated too: one task per output
channel, summing each filter tap as a dot product over the rows of its
images, which the task pads (or splits into phases) one at a time.
"""

import numpy as np
from numba import njit, prange

from ._options import NJIT_OPTIONS, PARALLEL_OPTIONS
from ._simd import (
    DEPTHWISE_MAX_ROWS,
    DEPTHWISE_MAX_VECTORS,
    DEPTHWISE_TILES,
    FORWARD_VECTORS,
    copy_run,
    depthwise_tile,
    outer_product_tile,
    vector_lanes,
)
from .planes import embed_plane, embed_planes, join_plane, split_plane


@njit(inline="always", **NJIT_OPTIONS)
def depthwise_slack(width, span_w, lanes):
    """Elements the scratch planes need past the last plane: blocks past the plane's rows and columns."""
    return DEPTHWISE_MAX_ROWS * width + DEPTHWISE_MAX_VECTORS * lanes + span_w


@njit(inline="always", **NJIT_OPTIONS)
def depthwise_shape(P, Q, R, lanes):
    """The index in DEPTHWISE_TILES of the tile shape that covers a (P, Q) output plane with the fewest
    multiply-adds and loads, counted per filter tap column and channel: (rows*R + rows+R-1) * vectors
    per block, rows and columns past the plane's end included."""
    best, best_cost = 0, -1
    for shape in range(len(DEPTHWISE_TILES)):
        rows, vectors = DEPTHWISE_TILES[shape]
        blocks = -(-P // rows) * -(-Q // (vectors * lanes))
        cost = blocks * vectors * (rows * R + rows + R - 1)
        if best_cost < 0 or cost < best_cost:
            best, best_cost = shape, cost
    return best


@njit(**PARALLEL_OPTIONS)
def conv2d_forward_depthwise(x, weight, out, top, left, height, width, dilation_w, planes, images):
    """out[n, k, p, q] = sum_c,r,s weight[k, c, r, s] * padded[n, k*Cg + c, p + r, q + s*dilation_w].

    x (N, C, h, w) is placed at (top, left) in zero (height, width) planes
    (``padded``), ``images`` images at a time, in the scratch ``planes`` (at
    least images*C*height*width elements plus :func:`depthwise_slack`);
    weight (K, Cg, R, S), K groups of Cg input channels and one output
    channel, R at most DEPTHWISE_MAX_HEIGHT (the tile computes nothing for
    taller filters); out (N, K, P, Q), overwritten. Stride 1, filter rows
    undilated. Blocks past the plane's last row or column compute discarded
    values from whatever follows in ``planes``.
    """
    N, C, h, w = x.shape
    K, Cg = weight.shape[0], weight.shape[1]
    plane = height * width
    weights, outputs = weight.reshape(-1), out.reshape(-1)
    for n0 in range(0, N, images):
        m = min(images, N - n0)
        embed_planes(x.reshape(-1), n0 * C, m * C, h, w, planes, top, left, height, width)
        for task in prange(m * K):
            i, k = task // K, task % K
            first = ((n0 + i) * K + k) * out.shape[2] * out.shape[3]
            _output_plane(
                planes, (i * C + k * Cg) * plane, plane, width, dilation_w, weight, weights, k, outputs, first, out
            )


@njit(**PARALLEL_OPTIONS)
def conv2d_forward_depthwise_strided(x, weight, out, stride_h, stride_w, top, left, Hq, Wq, parts):
    """The strided layer whose stride phases (see ``fastconv/engine/phases.py``) are (Hq, Wq) planes.

    x (N, C, H, W); weight (K, Cg*sh*sw, Rq, Sq): each group's sub-filters
    over its channels' phases (``split_weight``), Rq at most
    DEPTHWISE_MAX_HEIGHT; out (N, K, P, Q), overwritten. ``parts`` tasks,
    each allocating its scratch once for a share of the (image, output
    channel) planes; for each, it splits the input planes into phases in
    that scratch, where they stay in cache for the tiles, instead of a pass
    over the whole batch.
    """
    N, C, H, W = x.shape
    K = weight.shape[0]
    Cg = C // K
    phases = stride_h * stride_w
    plane = Hq * Wq
    slack = depthwise_slack(Wq, weight.shape[3] - 1, vector_lanes(out))
    source, weights, outputs = x.reshape(-1), weight.reshape(-1), out.reshape(-1)
    for part in prange(parts):
        local = np.empty(Cg * phases * plane + slack, dtype=x.dtype)
        local[Cg * phases * plane :] = 0
        for task in range(*_share(part, parts, N * K)):
            n, k = task // K, task % K
            for c in range(Cg):
                start = (n * C + k * Cg + c) * H * W
                split_plane(source, start, H, W, local, c * phases * plane, stride_h, stride_w, top, left, Hq, Wq)
            first = (n * K + k) * out.shape[2] * out.shape[3]
            _output_plane(local, 0, plane, Wq, 1, weight, weights, k, outputs, first, out)


@njit(**PARALLEL_OPTIONS)
def conv2d_grad_input_depthwise_strided(
    grad_out, packed, offsets, grad_x, stride_h, stride_w, top, left, Hq, Wq, parts
):  # fmt: skip
    """The input gradient of a strided layer with one output channel per group, over its stride phases.

    grad_out (N, K, P, Q); packed (K, blocks, Rq*Sq, rows): the rot180
    sub-filters of each group's Cg*sh*sw phase channels (``split_weight``,
    ``rotated_transposed``) packed by :func:`.tiled.pack_forward_weight`;
    offsets from :func:`.tiled.tap_offsets` for one channel of planes
    (P + 2*(Rq-1), Q + 2*(Sq-1)); grad_x (N, K*Cg, H, W), overwritten, its
    (Hq, Wq) phases placed at (top, left). ``parts`` tasks, each allocating
    its scratch once for a share of the (image, output channel) planes; for
    each, it pads the output gradient's plane by the sub-filters' span,
    computes its channels' phases on the row tiles (all phases from each
    input load) and joins them into grad_x, all in scratch of its own, where
    a pass over the whole batch wrote and read back phase planes as large as
    grad_x (32x192x32x32, 5x5, stride 2, float32: the join alone 4.2 of 6.2 ms).
    """
    N, K, P, Q = grad_out.shape
    C, H, W = grad_x.shape[1], grad_x.shape[2], grad_x.shape[3]
    blocks, taps, tile_rows = packed.shape[1], packed.shape[2], packed.shape[3]
    Cg, phases = C // K, stride_h * stride_w
    channels = Cg * phases
    height, width = 2 * Hq - P, 2 * Wq - Q  # P + 2*(Rq - 1), Q + 2*(Sq - 1), as Hq = P + Rq - 1
    lanes = vector_lanes(grad_x)
    vectors = FORWARD_VECTORS[tile_rows]
    tile = vectors * lanes
    run = -(-(Hq * width) // tile) * tile  # each phase as runs of whole rows of the planes' width
    size = run + (height - Hq + 1) * width  # the tiles read up to run, shifted by up to (Rq-1)*width + Sq-1
    grads, weights, target = grad_out.reshape(-1), packed.reshape(-1), grad_x.reshape(-1)
    for part in prange(parts):
        padded = np.empty(size, dtype=grad_x.dtype)
        padded[height * width :] = 0
        local = np.empty(blocks * tile_rows * run, dtype=grad_x.dtype)
        positions = np.arange(vectors) * lanes
        for task in range(*_share(part, parts, N * K)):
            n, k = task // K, task % K
            embed_plane(grads, task * P * Q, P, Q, padded, 0, height - Hq, width - Wq, height, width)
            for b in range(blocks):
                rows = min(tile_rows, channels - b * tile_rows)
                w0 = (k * blocks + b) * taps * tile_rows
                for j in range(0, run, tile):
                    outer_product_tile(
                        tile_rows, padded, j, offsets, taps, weights, w0, local, b * tile_rows * run + j, run, rows,
                        positions, positions,
                    )  # fmt: skip
            for c in range(Cg):
                start = (n * C + k * Cg + c) * H * W
                join_plane(
                    local, c * phases * run, run, width, target, start, stride_h, stride_w, top, left, H, W, Hq, Wq
                )


@njit(inline="always", **NJIT_OPTIONS)
def _share(part, parts, count):
    """(first, end) of part ``part`` of ``parts`` near-equal shares of ``count`` tasks."""
    return part * count // parts, (part + 1) * count // parts


@njit(inline="always", **NJIT_OPTIONS)
def _output_plane(planes, image, plane, width, dilation_w, weight, weights, k, outputs, first, out):
    """Output channel k's (P, Q) plane at outputs[first], from its group's padded planes at planes[image]."""
    Cg, R, S = weight.shape[1], weight.shape[2], weight.shape[3]
    P, Q = out.shape[2], out.shape[3]
    shape = depthwise_shape(P, Q, R, vector_lanes(out))
    rows, vectors = DEPTHWISE_TILES[shape]
    span = vectors * vector_lanes(out)
    row_blocks, column_blocks = -(-P // rows), -(-Q // span)
    padded_p, padded_q = row_blocks * rows, column_blocks * span
    whole = padded_p == P and padded_q == Q  # the blocks tile the output exactly: written in place
    target, start, stride = outputs, first, Q
    if not whole:
        target, start, stride = np.empty(padded_p * padded_q, dtype=out.dtype), 0, padded_q
    for rb in range(row_blocks):
        p0 = rb * rows
        for cb in range(column_blocks):
            q0 = cb * span
            depthwise_tile(
                shape, R, planes, image + p0 * width + q0, plane, width, Cg, S, dilation_w,
                weights, k * Cg * R * S, target, start + p0 * stride + q0, stride,
            )  # fmt: skip
    if not whole:
        for p in range(P):
            copy_run(outputs, first + p * Q, target, p * padded_q, Q)


@njit(**PARALLEL_OPTIONS)
def conv2d_grad_weight_depthwise(grad_out, x, grad_w, stride_h, stride_w, top, left, Hq, Wq, dilation_h, dilation_w):
    """The weight gradient of a layer with one output channel per group, over its stride phases.

    grad_out (N, K, P, Q); x (N, C, H, W), K groups of C/K input channels
    and one output channel each, placed at (top, left) in zero planes and
    split into (Hq, Wq) stride phases (see ``fastconv/engine/phases.py``);
    grad_w (K, Cg*sh*sw, Rq, Sq), overwritten: the gradient of the
    sub-filters of ``split_weight``. At stride 1 that is the filter's own
    gradient: one phase, the padded plane (Hq, Wq = H, W plus the padding),
    taps dilated; strided layers are undilated (dilation 1). One task per
    output channel, image by image: it splits the image's planes into phases
    and widens the output gradient's rows to Wq in scratch of its own, then
    sums each tap as one dot product over the rows
    (:func:`add_tap_dot_products`). Each image is read where it is used,
    with no padded copies of the whole batch (the stride-1 kernel this
    replaced made two, for the same time: 32x128x28x28, 3x3, float32,
    2.0-2.2 ms both).
    """
    N, C, H, W = x.shape
    K, P, Q = grad_out.shape[1], grad_out.shape[2], grad_out.shape[3]
    channels, Rq, Sq = grad_w.shape[1], grad_w.shape[2], grad_w.shape[3]
    Cg = C // K
    phases = stride_h * stride_w
    plane = Hq * Wq
    run = (P - 1) * Wq + Q
    source, grads = x.reshape(-1), grad_out.reshape(-1)
    for k in prange(K):
        local = np.empty(channels * plane, dtype=x.dtype)
        rows = np.zeros(P * Wq, dtype=x.dtype)
        acc = np.zeros(channels * Rq * Sq, dtype=x.dtype)
        for n in range(N):
            for c in range(Cg):
                start = (n * C + k * Cg + c) * H * W
                split_plane(source, start, H, W, local, c * phases * plane, stride_h, stride_w, top, left, Hq, Wq)
            for p in range(P):
                copy_run(rows, p * Wq, grads, ((n * K + k) * P + p) * Q, Q)
            add_tap_dot_products(rows[:run], local, channels, plane, Wq, Rq, Sq, dilation_h, dilation_w, acc)
        grad_w[k] = acc.reshape(channels, Rq, Sq)


@njit(inline="always", **NJIT_OPTIONS)
def add_tap_dot_products(g, planes, channels, plane, width, R, S, dilation_h, dilation_w, acc):
    """acc[(c*R + r)*S + s] += <g, the run of len(g) at planes[c*plane + r*dilation_h*width + s*dilation_w]>.

    For c < channels flat planes of row length ``width``, ``plane`` elements
    apart, and the taps (r, s) of an R x S filter: one unit-stride dot
    product per tap, which the compiler vectorises.
    """
    run = g.shape[0]
    zero = acc.dtype.type(0)
    for c in range(channels):
        for r in range(R):
            for s in range(S):
                offset = c * plane + r * dilation_h * width + s * dilation_w
                src = planes[offset : offset + run]
                dot = zero
                for i in range(run):
                    dot += g[i] * src[i]
                acc[(c * R + r) * S + s] += dot
