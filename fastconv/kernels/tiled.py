"""Stride-1 direct convolution with register-blocked tiles (see :mod:`._simd`).

The input is zero-padded into one flat buffer of (Hp, Wp) planes. Output pixel
(p, q) of filter tap (c, r, s) then reads element ``j + offsets[t]`` of the
image's planes, with ``j = p*Wp + q`` and ``offsets[t] = c*Hp*Wp +
r*dilation_h*Wp + s*dilation_w``: a convolution is a sum over taps of shifted
contiguous runs, the form the tiles compute. Each output plane is computed as
P rows of length Wp (the last Wp - Q columns of each are unused) and rounded
up to whole tiles, or as exactly the output rows, written straight into the
result, when that computes no more positions: whenever Q is a whole number
of vectors, else with each row's last vector overlapping the one before
(dilated 3x3 layers on 30x30 planes, whose padded rows are 36-42 pixels:
1.10-1.20x). The planes buffer ends in zero slack for the overrun:
FORWARD_MAX_VECTORS vectors plus (S-1)*dilation_w.

Forward (and the input gradient, which is the lecture's forward pass of the
zero-padded output gradient with rot180 filters): one prange task per (image,
group, block of output channels). A tile skips the filter rows that meet
only padding for all its positions (:func:`._window.tile_filter_rows`), so
an input gradient computes little more than its real rows: 5x1 filters on
32x64x17x17, float32, 2.7 -> 2.3 ms; the forward passes measured level.
Weight gradient over rows widened to the padded width: one task per (group,
block of output channels, share of the taps), whose tiles take turns over
blocks of the output gradient's rows small enough to stay in the L1 cache
meanwhile (stride-1 layers,
in-process A/B against one task per tile over the whole chunk, 7 layers
tuned on and 12 held out, both dtypes: 0.95-1.32x, geometric means
1.09x and 1.07x); a tile's accumulators stay in registers over its
block. A strided layer's (dilation 1) runs over its input's stride phases
(``fastconv/engine/phases.py``) with only the filter's own taps
(:func:`phase_tap_offsets`), not the sub-filters' zeros, and reads the output
gradient in place where its rows are whole vectors (one task per tile),
instead of widening them into a scratch: 3x3 and 7x7 stems, stride 2, 1.14-1.55x faster than over
sub-filters (16 taps for 9), patch embeddings level.
"""

import functools

import numpy as np
from numba import njit, prange

from ._options import NJIT_OPTIONS, PARALLEL_OPTIONS, serial_twin
from ._simd import (
    FORWARD_VECTORS,
    WEIGHT_ROWS,
    WEIGHT_TAPS,
    copy_run,
    dot_product_tile,
    lanes,
    outer_product_tile,
    transpose_block,
    vector_lanes,
)
from ._window import row_runs, tile_filter_rows
from .planes import embed_planes, split_plane


@functools.lru_cache(maxsize=256)
def tap_offsets(channels, R, S, plane, width, dilation_h, dilation_w, multiple):
    """offsets[t] for taps t = (c, r, s) in C order, zero-padded to a multiple of ``multiple``.

    Remembered per arguments (a layer asks for the same ones on every call):
    the array is shared, and the kernels only read it.
    """
    taps = channels * R * S
    offsets = np.zeros(-(-taps // multiple) * multiple, dtype=np.intp)
    c, r, s = np.ogrid[:channels, :R, :S]
    offsets[:taps] = (c * plane + r * dilation_h * width + s * dilation_w).ravel()
    return offsets


@functools.lru_cache(maxsize=256)
def phase_tap_offsets(channels, R, S, stride_h, stride_w, height, width, multiple):
    """As :func:`tap_offsets`, into each channel's stride phases of (height, width), one after another (see
    ``fastconv/engine/phases.py``): tap (c, r, s) reads phase (r % stride_h, s % stride_w) of channel c,
    shifted by (r // stride_h, s // stride_w). Only the filter's own taps, none of the sub-filters' zeros."""
    taps = channels * R * S
    offsets = np.zeros(-(-taps // multiple) * multiple, dtype=np.intp)
    c, r, s = np.ogrid[:channels, :R, :S]
    phase = (c * stride_h + r % stride_h) * stride_w + s % stride_w
    offsets[:taps] = (phase * height * width + r // stride_h * width + s // stride_w).ravel()
    return offsets


@njit(inline="always", **NJIT_OPTIONS)
def _empty_packed(weight, groups, rows, rotated):
    """The packed filters' array (groups, blocks, taps, rows), uninitialised, of weight (K, Cg, R, S) or,
    when ``rotated``, of its :func:`rotated_transposed`; and (Kg, R*S, outputs, inputs): the filters
    packed have ``outputs`` output and ``inputs`` input channels per group (Kg and Cg, or swapped)."""
    K, Cg, R, S = weight.shape
    Kg, span = K // groups, R * S
    outputs, inputs = (Cg, Kg) if rotated else (Kg, Cg)
    packed = np.empty((groups, -(-outputs // rows), inputs * span, rows), dtype=weight.dtype)
    return packed, Kg, span, outputs, inputs


@njit(**PARALLEL_OPTIONS)
def _pack_forward_weight(weight, groups, rows, rotated):
    """The filters (K', Cg', R, S) -> (groups, ceil(K'/groups / rows), Cg'*R*S, rows), tap-major, zero-padded
    rows. The filters are weight (K, Cg, R, S), or when ``rotated`` its :func:`rotated_transposed`, packed
    without building it (a copy of the 512x512x3x3 filters that cost 2-8 ms).

    One task per block, each writing its block in order: the rows of a tap are
    read from ``rows`` lines that serve the next taps too (a row-by-row pass
    wrote each element to another line: 512x512x3x3 float32 6.2 ms). Rotated,
    a filter's ``rows`` x R*S chunk of weight (contiguous) becomes its R*S
    taps' rows, reversed (tap by tap across the chunk's lines, 512x512x3x3
    float64 3.1 -> 2.1 ms, float32 1.9 -> 1.5, level with the plain packing).
    """
    packed, Kg, span, outputs, inputs = _empty_packed(weight, groups, rows, rotated)
    blocks, taps = packed.shape[1], packed.shape[2]
    Cg = weight.shape[1]
    source = weight.reshape(-1)
    for task in prange(groups * blocks):
        g, b = task // blocks, task % blocks
        valid = min(rows, outputs - b * rows)
        block = packed[g, b]
        if rotated:  # filters[g*Cg + o, c, r, s] = weight[g*Kg + c, o, R-1-r, S-1-s]
            for c in range(inputs):
                chunk = ((g * Kg + c) * Cg + b * rows) * span  # weight[g*Kg + c, b*rows:, :, :]
                for rs in range(span):
                    target = block[c * span + span - 1 - rs]
                    for i in range(valid):
                        target[i] = source[chunk + i * span + rs]
                    for i in range(valid, rows):
                        target[i] = 0
            continue
        for t in range(taps):
            for i in range(valid):
                block[t, i] = source[(g * Kg + b * rows + i) * taps + t]
            for i in range(valid, rows):
                block[t, i] = 0
    return packed


_pack_forward_weight_serial = serial_twin(_pack_forward_weight)


@njit(inline="always", **NJIT_OPTIONS)
def _columns_to_rows(source, first, stride, columns, valid, target, at, step, rows):
    """target[at + j*step*rows + i] = source[first + i*stride + j] for i < valid, j < columns: the columns
    of a (valid, columns) matrix, rows ``stride`` apart, as rows ``step*rows`` apart (``step`` 1 or -1).
    Squares of a vector's lanes by :func:`._simd.transpose_block` (the last columns too if they fill more
    than half a square) wherever their whole vectors lie in source; the rest one by one."""
    width = vector_lanes(target)  # of a square
    whole = valid // width * width
    tail = columns % width
    squared = columns - tail + (tail if 2 * tail > width else 0)  # columns transposed in squares
    for i in range(0, whole, width):
        for j in range(0, squared, width):
            count = min(width, columns - j)
            if first + (i + width - 1) * stride + j + width <= source.size:
                transpose_block(
                    target, at + j * step * rows + i, step * rows, source, first + i * stride + j, stride, count
                )
                continue
            for jj in range(j, j + count):
                for ii in range(i, i + width):
                    target[at + jj * step * rows + ii] = source[first + ii * stride + jj]
    for j in range(columns):
        line = target[at + j * step * rows : at + (j * step + 1) * rows]
        for i in range(whole if j < squared else 0, valid):
            line[i] = source[first + i * stride + j]


@njit(**PARALLEL_OPTIONS)
def _pack_in_squares(weight, groups, rows, rotated):
    """:func:`_pack_forward_weight` for ``rows`` a multiple of a vector's lanes (the channel tiles' blocks),
    in squares of lanes filters x lanes taps transposed in registers (:func:`_columns_to_rows`). Read a
    column at a time, a square's filters a power of two apart share a few cache sets: 512x512x3x3 float32
    in blocks of 32 rows took 1.1-1.2 ms so, 0.41-0.53 in squares (float64 0.6-0.9x the time, 64x64x5x5
    float32 0.3-0.5x); rotated, against the chunks of :func:`_pack_forward_weight`, float32 0.4-0.9x."""
    packed, Kg, span, outputs, inputs = _empty_packed(weight, groups, rows, rotated)
    blocks, taps = packed.shape[1], packed.shape[2]
    Cg = weight.shape[1]
    source, target = weight.reshape(-1), packed.reshape(-1)
    for task in prange(groups * blocks):
        g, b = task // blocks, task % blocks
        valid = min(rows, outputs - b * rows)
        at = (g * blocks + b) * taps * rows  # packed[g, b]
        if rotated:  # filters[g*Cg + o, c, r, s] = weight[g*Kg + c, o, R-1-r, S-1-s]
            for c in range(inputs):
                chunk = ((g * Kg + c) * Cg + b * rows) * span  # weight[g*Kg + c, b*rows:, :, :], (valid, span)
                _columns_to_rows(source, chunk, span, span, valid, target, at + (c * span + span - 1) * rows, -1, rows)
        else:
            _columns_to_rows(source, (g * Kg + b * rows) * taps, taps, taps, valid, target, at, 1, rows)
        for t in range(taps):
            for i in range(valid, rows):
                target[at + t * rows + i] = 0
    return packed


_pack_in_squares_serial = serial_twin(_pack_in_squares)

# Filters of fewer elements are packed (and rotated) without threads. Measured (float32, blocks of 8 and 32
# rows, serial / 2 threads): 4608 elements 2.3-2.8 / 4.2-4.6 us, 36864 16-17 / 13, 147456 42-61 / 37-46,
# 2359296 1.1 / 0.65-0.76 ms.
PACK_THREADS_MIN_ELEMENTS = 2**15


def pack_forward_weight(weight, groups, rows, rotated=False):
    """The filters (K', Cg', R, S): weight (K, Cg, R, S), or its :func:`rotated_transposed` when ``rotated``,
    as (groups, ceil(K'/groups / rows), Cg'*R*S, rows), tap-major, zero-padded rows.

    Blocks of whole vectors of rows (the channel tiles', and the row tiles' of 8 rows with AVX2) are packed
    in squares (:func:`_pack_in_squares`); rotated filters only in float32 and with more taps than half a
    vector. A rotated filter's chunk is contiguous: on the Intel Xeon (AVX-512) float64 ones ran 1.0-1.5x
    slower in squares than by the chunk's loop (3x3 and 5x1 filters, 32 and 48 rows; 5x5 and 7x7 0.6-0.9x),
    and float32 5x1 filters (fewer taps than half a square, so one by one) 1.3-1.7x."""
    serial = weight.size < PACK_THREADS_MIN_ELEMENTS
    span = weight.shape[2] * weight.shape[3]
    rotated_in_squares = weight.dtype == np.float32 and 2 * span > lanes(weight.dtype)
    if rows % lanes(weight.dtype) == 0 and (rotated_in_squares or not rotated):
        return (_pack_in_squares_serial if serial else _pack_in_squares)(weight, groups, rows, rotated)
    if serial:
        return _pack_forward_weight_serial(weight, groups, rows, rotated)
    return _pack_forward_weight(weight, groups, rows, rotated)


def filters_shape(weight, groups, rotated):
    """(K', Cg', R, S) of the filters: weight's shape, or its :func:`rotated_transposed`'s when ``rotated``."""
    K, Cg, R, S = weight.shape
    return (groups * Cg, K // groups, R, S) if rotated else (K, Cg, R, S)


ROTATE_CHANNELS = 16  # input channels per task of rotated_transposed


@njit(**PARALLEL_OPTIONS)
def _rotated_transposed(weight, groups):
    """out[g*Cg + c, k, r, s] = weight[g*Kg + k, c, R-1-r, S-1-s]. One task per group and ROTATE_CHANNELS
    input channels, reading each filter's run of them in order and writing as many sequential streams
    (numpy's copy of the transposed view: 512x512x3x3 float32 7.7 ms; a task per channel, reading a
    line per filter, 4.5)."""
    K, Cg, R, S = weight.shape
    Kg, taps = K // groups, R * S
    blocks = -(-Cg // ROTATE_CHANNELS)
    out = np.empty((groups * Cg, Kg, R, S), dtype=weight.dtype)
    source, target = weight.reshape(-1), out.reshape(-1)
    for task in prange(groups * blocks):
        g, c0 = task // blocks, task % blocks * ROTATE_CHANNELS
        for k in range(Kg):
            for c in range(c0, min(c0 + ROTATE_CHANNELS, Cg)):
                first = ((g * Kg + k) * Cg + c) * taps
                last = (((g * Cg + c) * Kg + k) + 1) * taps - 1
                for t in range(taps):
                    target[last - t] = source[first + t]
    return out


_rotated_transposed_serial = serial_twin(_rotated_transposed)


def rotated_transposed(weight, groups):
    """The lecture's rot180 filters with input and output channels swapped, per group.

    weight (K, C/groups, R, S) -> (C, K/groups, R, S), contiguous.
    """
    if weight.size < PACK_THREADS_MIN_ELEMENTS:
        return _rotated_transposed_serial(weight, groups)
    return _rotated_transposed(weight, groups)


@njit(inline="always", **NJIT_OPTIONS)
def tile_over_rows(
    filter_rows, channels, R, S, rows, x, x_start, offsets, w, w_start, out, out_start, out_stride, valid,
    x_vectors, out_vectors,
):  # fmt: skip
    """:func:`outer_product_tile` over filter rows filter_rows[0]..filter_rows[1]-1 of taps (c, r, s) in C
    order: the plain count of taps when that is all of them, which keeps its own, single loop (the
    channel tiles' forward kernel chooses likewise)."""
    lo, hi = filter_rows[0], filter_rows[1]
    if lo == 0 and hi == R:
        taps = channels * R * S
        outer_product_tile(
            rows, x, x_start, offsets, taps, w, w_start, out, out_start, out_stride, valid, x_vectors, out_vectors
        )
    else:
        runs = row_runs(lo, hi, channels, R, S)
        outer_product_tile(
            rows, x, x_start, offsets, runs, w, w_start, out, out_start, out_stride, valid, x_vectors, out_vectors
        )


@njit(**PARALLEL_OPTIONS)
def conv2d_forward_tiled(x, packed, offsets, out, top, left, height, width, planes, images_per_chunk, R, dilation_h):
    """out[n, k, p, q] = sum_t packed[g, k // rows, t, k % rows] * planes[image n + p*width + q + offsets[t]].

    x (N, C, h, w) is placed at (top, left) in zero (height, width) planes,
    ``images_per_chunk`` images at a time, in the scratch ``planes`` (at least
    images_per_chunk*C*height*width elements plus the slack described
    above); packed (groups, blocks, Cg*R*S, rows) from
    :func:`pack_forward_weight`; offsets from :func:`tap_offsets` for one
    group's channels; a tile skips the filter rows that meet only padding
    for all its positions (R and dilation_h say which). out (N, K, P, Q),
    overwritten.
    """
    N, C, h, w = x.shape
    K, P, Q = out.shape[1], out.shape[2], out.shape[3]
    groups, blocks, taps, tile_rows = packed.shape
    Kg, Cg = K // groups, C // groups
    plane = height * width
    lanes = vector_lanes(out)
    vectors = FORWARD_VECTORS[tile_rows]
    tile = vectors * lanes
    run = -(-(P * width) // tile) * tile
    S = taps // (Cg * R)
    per_row = -(-Q // lanes)  # vectors per output row, the last one ending at Q
    # Straight into out when that computes no more positions than runs of whole padded rows do.
    in_rows = Q >= lanes and P * per_row * lanes <= run
    if in_rows:
        bounds = tile_filter_rows(
            -(-(P * per_row) // vectors), vectors, per_row, P * per_row, 1, top, h, R, dilation_h, 1
        )
    else:
        bounds = tile_filter_rows(run // tile, tile, width, run, 1, top, h, R, dilation_h, 1)
    source, weights, outputs = x.reshape(-1), packed.reshape(-1), out.reshape(-1)
    for n0 in range(0, N, images_per_chunk):
        m = min(images_per_chunk, N - n0)
        embed_planes(source, n0 * C, m * C, h, w, planes, top, left, height, width)
        for task in prange(m * groups * blocks):
            i = task // (groups * blocks)
            g = (task // blocks) % groups
            b = task % blocks
            rows = min(tile_rows, Kg - b * tile_rows)
            image = (i * C + g * Cg) * plane
            w0 = (g * blocks + b) * taps * tile_rows
            first = ((n0 + i) * K + g * Kg + b * tile_rows) * P * Q
            x_vectors = np.empty(vectors, dtype=np.intp)
            out_vectors = np.empty(vectors, dtype=np.intp)
            if in_rows:
                # Each vector is part of one output row (a row's last vector overlaps the one before when Q
                # is not a whole number of them): the tile writes straight into out.
                slots = P * per_row
                for t in range(bounds.shape[0]):
                    s0 = t * vectors
                    for v in range(vectors):
                        s = min(s0 + v, slots - 1)  # a short last tile repeats its last vector
                        p, q = s // per_row, min(s % per_row * lanes, Q - lanes)
                        x_vectors[v] = p * width + q
                        out_vectors[v] = p * Q + q
                    tile_over_rows(
                        bounds[t], Cg, R, S, tile_rows, planes, image, offsets, weights, w0, outputs, first, P * Q,
                        rows, x_vectors, out_vectors,
                    )  # fmt: skip
            else:
                # Runs of whole padded rows (the last width - Q columns unused) into a buffer.
                for v in range(vectors):
                    x_vectors[v] = v * lanes
                    out_vectors[v] = v * lanes
                result = np.empty(tile_rows * run, dtype=out.dtype)
                for t in range(bounds.shape[0]):
                    j = t * tile
                    tile_over_rows(
                        bounds[t], Cg, R, S, tile_rows, planes, image + j, offsets, weights, w0, result, j, run,
                        rows, x_vectors, out_vectors,
                    )  # fmt: skip
                for r in range(rows):
                    for p in range(P):
                        copy_run(outputs, first + (r * P + p) * Q, result, r * run + p * width, Q)


@njit(**PARALLEL_OPTIONS)
def conv2d_grad_weight_tiled(
    grad_out, x, grad_weight, top, left, height, width, stride_h, stride_w, offsets, planes, grad_rows, images,
    block, tap_parts,
):  # fmt: skip
    """grad_weight[k, t] = sum_n,p,q grad_out[n, k, p, q] * planes[image n + p*width + q + offsets[t]], t = (c, r, s).

    grad_out (N, K, P, Q); x (N, C, h, w) placed at (top, left) in zero
    (height, width) planes or, strided, split into the stride phases of
    (height, width) of those planes (``fastconv/engine/phases.py``), each
    channel's phases one after another, ``images`` images at a time, in the
    scratch ``planes`` (see :func:`conv2d_forward_tiled`); offsets from
    :func:`tap_offsets` or :func:`phase_tap_offsets`, padded to a multiple of
    WEIGHT_TAPS; grad_weight (K, Cg, R, S), overwritten. ``grad_rows``
    (images, groups, Kg rounded up to WEIGHT_ROWS, run >= P*width, a multiple
    of the vector length) takes the output gradient's rows widened to
    ``width`` for the tiles to read as one run per plane; when it is empty,
    the tiles read grad_out in place, row by row (Q a multiple of the vector
    length). The group's planes stay in cache while every tile reads them;
    each tile adds its group's sums to the entries of grad_weight it owns.
    Widened rows: a task owns a block of WEIGHT_ROWS output channels and
    ``tap_parts``-th of the taps, and runs all its tiles over ``block``
    vectors of those rows (one image's run, or the runs of as many images as
    fit) before the next, so that they stay in the L1 cache while its tiles
    read them (rather than each tile streaming the chunk's rows from L2).
    """
    N, K, P, Q = grad_out.shape
    C, h, w = x.shape[1], x.shape[2], x.shape[3]
    groups = C // grad_weight.shape[1]
    Kg = K // groups
    lanes = vector_lanes(grad_weight)
    taps = grad_weight.shape[1] * grad_weight.shape[2] * grad_weight.shape[3]
    plane = stride_h * stride_w * height * width  # one channel's planes
    in_place = grad_rows.size == 0
    Kg_pad, run = grad_rows.shape[2], grad_rows.shape[3]  # the widened rows' layout (unused in place)
    row_blocks = -(-Kg // WEIGHT_ROWS)
    tap_blocks = offsets.shape[0] // WEIGHT_TAPS
    tiles = groups * row_blocks * tap_blocks
    weights = grad_weight.reshape(-1)
    weights[:] = 0
    source, grads, lines = x.reshape(-1), grad_out.reshape(-1), grad_rows.reshape(-1)
    for n0 in range(0, N, images):
        m = min(images, N - n0)
        if stride_h * stride_w == 1:
            embed_planes(source, n0 * C, m * C, h, w, planes, top, left, height, width)
        else:
            for i in prange(m * C):
                split_plane(
                    source, (n0 * C + i) * h * w, h, w, planes, i * plane, stride_h, stride_w, top, left, height, width
                )
            planes[m * C * plane :] = 0  # the last runs read past the last plane, times zero gradients
        if not in_place:
            for line in prange(m * groups * Kg_pad):
                i, k = line // Kg_pad, line % Kg_pad  # i: image and group
                lines[line * run : (line + 1) * run] = 0
                if k < Kg:
                    first = ((n0 * groups + i) * Kg + k) * P * Q
                    for p in range(P):
                        copy_run(lines, line * run + p * width, grads, first + p * Q, Q)
        if in_place:
            for tile in prange(tiles):
                g = tile // (row_blocks * tap_blocks)
                b = (tile // tap_blocks) % row_blocks
                tb = tile % tap_blocks
                rows, tap_count = min(WEIGHT_ROWS, Kg - b * WEIGHT_ROWS), min(WEIGHT_TAPS, taps - tb * WEIGHT_TAPS)
                out_start = (g * Kg + b * WEIGHT_ROWS) * taps + tb * WEIGHT_TAPS
                x_start = g * (C // groups) * plane
                # the tile owns these entries of grad_weight and adds its sums to them
                for i in range(m):  # the tile's "images" are the output rows: Q elements, input rows width apart
                    first = ((n0 + i) * K + g * Kg + b * WEIGHT_ROWS) * P * Q
                    dot_product_tile(
                        grads, first, P * Q, planes, x_start + i * C * plane, (Q, width), P,
                        offsets, tb * WEIGHT_TAPS, Q // lanes, weights, out_start, taps, rows, tap_count,
                    )  # fmt: skip
            continue
        blocks_per_part = -(-tap_blocks // tap_parts)
        images_per_block = max(1, block // (run // lanes))
        for task in prange(groups * row_blocks * tap_parts):
            g = task // (row_blocks * tap_parts)
            b = (task // tap_parts) % row_blocks
            part = task % tap_parts
            rows = min(WEIGHT_ROWS, Kg - b * WEIGHT_ROWS)
            x_start = g * (C // groups) * plane
            for i0 in range(0, m, images_per_block):
                count = min(images_per_block, m - i0)
                first = ((i0 * groups + g) * Kg_pad + b * WEIGHT_ROWS) * run
                for j0 in range(0, run, block * lanes):
                    vectors = min(block * lanes, run - j0) // lanes
                    # the task owns these entries of grad_weight, and its tiles add their sums to them
                    for tb in range(part * blocks_per_part, min(tap_blocks, (part + 1) * blocks_per_part)):
                        tap_count = min(WEIGHT_TAPS, taps - tb * WEIGHT_TAPS)
                        out_start = (g * Kg + b * WEIGHT_ROWS) * taps + tb * WEIGHT_TAPS
                        dot_product_tile(
                            lines, first + j0, run, planes, x_start + i0 * C * plane + j0,
                            (groups * Kg_pad * run, C * plane), count, offsets, tb * WEIGHT_TAPS, vectors, weights,
                            out_start, taps, rows, tap_count,
                        )  # fmt: skip
