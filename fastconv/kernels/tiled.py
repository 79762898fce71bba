"""Stride-1 direct convolution with register-blocked tiles (see :mod:`._simd`).

The input is zero-padded into one flat buffer of (Hp, Wp) planes. Output pixel
(p, q) of filter tap (c, r, s) then reads element ``j + offsets[t]`` of the
image's planes, with ``j = p*Wp + q`` and ``offsets[t] = c*Hp*Wp +
r*dilation_h*Wp + s*dilation_w``: a convolution is a sum over taps of shifted
contiguous runs, the form the tiles compute. Each output plane is computed as
P rows of length Wp (the last Wp - Q columns of each are unused) and rounded
up to whole tiles; buffers carry enough zero slack for the overrun.

Forward (and the input gradient, which is the lecture's forward pass of the
zero-padded output gradient with rot180 filters): one prange task per (image,
group, block of output channels). Weight gradient: one task per
(group, block of output channels, block of taps), each summing a group of
images while its accumulators stay in registers.
"""

import numpy as np
from numba import njit, prange

from .._config import NJIT_OPTIONS, PARALLEL_OPTIONS
from ._simd import (
    FORWARD_ACCUMULATORS,
    WEIGHT_ROWS,
    WEIGHT_TAPS,
    copy_run,
    forward_tile_2,
    forward_tile_4,
    forward_tile_8,
    weight_tile,
)


@njit(**PARALLEL_OPTIONS)
def embed_planes(a, flat, top, left, height, width):
    """Each (h, w) plane of a (N, C, h, w) placed at (top, left) in zero (height, width) planes.

    flat (>= N*C*height*width): the planes one after another, then zeros to
    the end. Negative offsets crop.
    """
    N, C, h, w = a.shape
    plane = height * width
    zero = flat.dtype.type(0)
    r_src, c_src = max(0, -top), max(0, -left)
    r_dst, c_dst = max(0, top), max(0, left)
    rows = max(0, min(h - r_src, height - r_dst))
    cols = max(0, min(w - c_src, width - c_dst))
    source = a.reshape(-1)
    for nc in prange(N * C):
        base = nc * plane
        if rows < height or cols < width:
            flat[base:base + plane] = zero
        if cols == w and cols == width:
            copy_run(flat, base + r_dst * width, source, (nc * h + r_src) * w, rows * w)
        elif cols > 0:
            for i in range(rows):
                copy_run(flat, base + (r_dst + i) * width + c_dst, source, (nc * h + r_src + i) * w + c_src, cols)
    flat[N * C * plane:] = zero


@njit(**NJIT_OPTIONS)
def tap_offsets(channels, R, S, plane, width, dilation_h, dilation_w, multiple):
    """offsets[t] for taps t = (c, r, s) in C order, zero-padded to a multiple of ``multiple``."""
    taps = channels * R * S
    offsets = np.zeros(-(-taps // multiple) * multiple, dtype=np.intp)
    for c in range(channels):
        for r in range(R):
            for s in range(S):
                offsets[(c * R + r) * S + s] = c * plane + r * dilation_h * width + s * dilation_w
    return offsets


@njit(**NJIT_OPTIONS)
def pack_forward_weight(weight, groups, rows):
    """weight (K, Cg, R, S) -> (groups, ceil(Kg/rows), Cg*R*S, rows), tap-major, zero-padded rows."""
    K, Cg, R, S = weight.shape
    Kg = K // groups
    blocks = -(-Kg // rows)
    taps = Cg * R * S
    packed = np.zeros((groups, blocks, taps, rows), dtype=weight.dtype)
    flat = weight.reshape(K, taps)
    for g in range(groups):
        for k in range(Kg):
            packed[g, k // rows, :, k % rows] = flat[g * Kg + k]
    return packed


@njit(**PARALLEL_OPTIONS)
def conv2d_forward_tiled(xflat, packed, offsets, out, channels, plane, width):
    """out[n, k, p, q] = sum_t packed[.., t, k] * xflat[image n + p*width + q + offsets[t]].

    xflat: the zero-padded input planes (see :func:`embed_planes`), ``channels``
    planes of ``plane`` elements per image; packed from
    :func:`pack_forward_weight`; offsets from :func:`tap_offsets` for one
    group's channels; out (N, K, P, Q), overwritten.
    """
    N, K, P, Q = out.shape
    groups, blocks, taps, tile_rows = packed.shape
    Kg = K // groups
    Cg = channels // groups
    tile = FORWARD_ACCUMULATORS // tile_rows * (64 // out.itemsize)
    run = -(-(P * width) // tile) * tile
    weights = packed.reshape(-1)
    outputs = out.reshape(-1)
    for task in prange(N * groups * blocks):
        n = task // (groups * blocks)
        g = (task // blocks) % groups
        b = task % blocks
        k0 = g * Kg + b * tile_rows
        rows = min(tile_rows, Kg - b * tile_rows)
        result = np.empty(tile_rows * run, dtype=out.dtype)
        image = (n * channels + g * Cg) * plane
        w0 = (g * blocks + b) * taps * tile_rows
        for j in range(0, run, tile):
            if tile_rows == 8:
                forward_tile_8(xflat, image + j, offsets, taps, weights, w0, result, j, run, rows)
            elif tile_rows == 4:
                forward_tile_4(xflat, image + j, offsets, taps, weights, w0, result, j, run, rows)
            else:
                forward_tile_2(xflat, image + j, offsets, taps, weights, w0, result, j, run, rows)
        for i in range(rows):
            for p in range(P):
                copy_run(outputs, ((n * K + k0 + i) * P + p) * Q, result, i * run + p * width, Q)


@njit(**PARALLEL_OPTIONS)
def embed_grad_rows(grad_out, flat, groups, width, run):
    """grad_out (N, K, P, Q) as rows of length ``run`` >= P*width, each output row widened to ``width``.

    flat (N, groups, Kg rounded up to WEIGHT_ROWS, run), zeros wherever grad_out
    has no element (extra columns, tail, padding rows).
    """
    N, K, P, Q = grad_out.shape
    Kg = K // groups
    rows = flat.shape[2]
    zero = flat.dtype.type(0)
    lines = flat.reshape(-1)
    source = grad_out.reshape(-1)
    for task in prange(N * groups * rows):
        n = task // (groups * rows)
        g = (task // rows) % groups
        i = task % rows
        start = task * run
        lines[start:start + run] = zero
        if i < Kg:
            first = (n * K + g * Kg + i) * P * Q
            for p in range(P):
                copy_run(lines, start + p * width, source, first + p * Q, Q)


@njit(**PARALLEL_OPTIONS)
def conv2d_grad_weight_tiled(grad_flat, xflat, offsets, grad_weight, channels, plane, images_per_group):
    """grad_weight[k, c, r, s] = sum_n sum_j G[n, k, j] * xflat[image n + j + offsets[(c, r, s)]].

    grad_flat (N, groups, Kg_pad, run) from :func:`embed_grad_rows`; xflat the
    zero-padded input planes; offsets from :func:`tap_offsets` padded to a
    multiple of WEIGHT_TAPS; grad_weight (K, Cg, R, S), overwritten. Images
    are summed ``images_per_group`` at a time, so each group's rows stay in
    cache while every tile reads them.
    """
    N, groups, Kg_pad, run = grad_flat.shape
    K, Cg, R, S = grad_weight.shape
    Kg = K // groups
    lanes = 64 // grad_weight.itemsize
    taps = Cg * R * S
    row_blocks = Kg_pad // WEIGHT_ROWS
    tap_blocks = offsets.shape[0] // WEIGHT_TAPS
    tile_size = WEIGHT_ROWS * WEIGHT_TAPS * lanes
    tiles = groups * row_blocks * tap_blocks
    acc = np.zeros(tiles * tile_size, dtype=grad_weight.dtype)
    grads = grad_flat.reshape(-1)
    g_image = groups * Kg_pad * run
    for n0 in range(0, N, images_per_group):
        count = min(images_per_group, N - n0)
        for tile in prange(tiles):
            g = tile // (row_blocks * tap_blocks)
            b = (tile // tap_blocks) % row_blocks
            tb = tile % tap_blocks
            weight_tile(grads, n0 * g_image + (g * Kg_pad + b * WEIGHT_ROWS) * run, run,
                        xflat, (n0 * channels + g * Cg) * plane, (g_image, channels * plane), count,
                        offsets, tb * WEIGHT_TAPS, run // lanes, acc, tile * tile_size)
    flat = grad_weight.reshape(K, taps)
    for k in prange(K):
        g = k // Kg
        b, i = (k % Kg) // WEIGHT_ROWS, (k % Kg) % WEIGHT_ROWS
        for t in range(taps):
            tile = (g * row_blocks + b) * tap_blocks + t // WEIGHT_TAPS
            start = tile * tile_size + (i * WEIGHT_TAPS + t % WEIGHT_TAPS) * lanes
            flat[k, t] = acc[start:start + lanes].sum()
