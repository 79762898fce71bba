"""Winograd F(2x2, 3x3) transforms (Lavin and Gray, CVPR 2016) and their products.

A 2x2 block of outputs of a 3x3 filter is ``A^T [(G g G^T) * (B^T d B)] A``
for the 4x4 input patch d under it: 16 multiplications instead of 36. Summed
over input channels, each of the 16 elementwise products becomes one matrix
product over channels, computed here with the register-blocked tiles of
:mod:`._simd`:

    B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]
    G   = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]

The weight gradient uses the transposed maps: for one output-gradient block
dy (2x2), ``dW += G^T [(A dy A^T) * (B^T d B)] G``.

Transformed arrays are (16, channels, columns): element ``xi = 4*a + b`` of
the 4x4 transform, then the channel, then the tile ``(i*tiles_h + ty)*tiles_w
+ tx`` of image i of the chunk, whose outputs are rows 2ty..2ty+1 and columns
2tx..2tx+1. Columns past the last tile are padding for the product tiles and
hold zeros. Each transform runs one prange task per (image, channel) plane,
one band of tiles at a time with unit-stride loops: no races.
"""

import numpy as np
from numba import njit, prange

from .._config import NJIT_OPTIONS, PARALLEL_OPTIONS
from ._simd import WEIGHT_ROWS, WEIGHT_TAPS, forward_tile_2, forward_tile_4, forward_tile_8, weight_tile
from .planes import embed_plane


@njit(**NJIT_OPTIONS)
def _split_columns(plane, height, width, split):
    """split[0, r, j] = plane[r*width + 2j] and split[1, r, j] = plane[r*width + 2j + 1] (width even)."""
    for r in range(height):
        row = plane[r * width:(r + 1) * width]
        even, odd = split[0, r], split[1, r]
        for j in range(width // 2):
            even[j] = row[2 * j]
            odd[j] = row[2 * j + 1]


@njit(**PARALLEL_OPTIONS)
def input_transform(x, n0, images, top, left, tiles_h, tiles_w, V):
    """V[:, c, tile] = B^T d B for each 4x4 patch d of images n0..n0+images-1.

    x (N, C, h, w) is read as if placed at (top, left) in zero planes of
    (2*tiles_h + 2, 2*tiles_w + 2); patch (ty, tx) starts at (2ty, 2tx).
    V (16, C, columns >= images*tiles_h*tiles_w), overwritten (padding zeroed).
    """
    N, C, h, w = x.shape
    height, width, half = 2 * tiles_h + 2, 2 * tiles_w + 2, tiles_w + 1
    tiles = tiles_h * tiles_w
    source = x.reshape(-1)
    for task in prange(images * C):
        i = task // C
        c = task % C
        plane = np.empty(height * width, dtype=x.dtype)
        embed_plane(source, ((n0 + i) * C + c) * h * w, h, w, plane, 0, top, left, height, width)
        # even and odd columns apart, so that every loop below has unit stride
        split = np.empty((2, height, half), dtype=x.dtype)
        _split_columns(plane, height, width, split)
        t = np.empty((2, 4, half), dtype=x.dtype)
        for ty in range(tiles_h):
            for e in range(2):  # t = B^T d on the band's even, then odd, columns
                d0, d1, d2, d3 = split[e, 2 * ty], split[e, 2 * ty + 1], split[e, 2 * ty + 2], split[e, 2 * ty + 3]
                for j in range(half):
                    t[e, 0, j] = d0[j] - d2[j]
                    t[e, 1, j] = d1[j] + d2[j]
                    t[e, 2, j] = d2[j] - d1[j]
                    t[e, 3, j] = d1[j] - d3[j]
            col = i * tiles + ty * tiles_w
            for a in range(4):  # row a of t times B: columns 2tx .. 2tx+3 are even/odd tx, tx+1
                ev, od = t[0, a], t[1, a]
                v0, v1 = V[4 * a, c, col:col + tiles_w], V[4 * a + 1, c, col:col + tiles_w]
                v2, v3 = V[4 * a + 2, c, col:col + tiles_w], V[4 * a + 3, c, col:col + tiles_w]
                for tx in range(tiles_w):
                    v0[tx] = ev[tx] - ev[tx + 1]
                    v1[tx] = od[tx] + ev[tx + 1]
                    v2[tx] = ev[tx + 1] - od[tx]
                    v3[tx] = od[tx] - od[tx + 1]
    V[:, :, images * tiles:] = 0


@njit(**PARALLEL_OPTIONS)
def grad_transform(grad_out, n0, images, tiles_h, tiles_w, Z):
    """Z[:, k, tile] = A dy A^T for each 2x2 block dy of grad_out (zero beyond P, Q).

    grad_out (N, K, P, Q); Z (16, K, columns >= images*tiles_h*tiles_w),
    overwritten (padding zeroed).
    """
    K, P, Q = grad_out.shape[1], grad_out.shape[2], grad_out.shape[3]
    tiles = tiles_h * tiles_w
    height, width = 2 * tiles_h, 2 * tiles_w
    source = grad_out.reshape(-1)
    for task in prange(images * K):
        i = task // K
        k = task % K
        plane = np.empty(height * width, dtype=Z.dtype)
        embed_plane(source, ((n0 + i) * K + k) * P * Q, P, Q, plane, 0, 0, 0, height, width)
        split = np.empty((2, height, tiles_w), dtype=Z.dtype)
        _split_columns(plane, height, width, split)
        r = np.empty((2, 4, tiles_w), dtype=Z.dtype)
        for ty in range(tiles_h):
            for e in range(2):  # r = A dy on the band's even, then odd, columns
                g0, g1 = split[e, 2 * ty], split[e, 2 * ty + 1]
                for j in range(tiles_w):
                    r[e, 0, j] = g0[j]
                    r[e, 1, j] = g0[j] + g1[j]
                    r[e, 2, j] = g0[j] - g1[j]
                    r[e, 3, j] = -g1[j]
            col = i * tiles + ty * tiles_w
            for a in range(4):  # row a of r times A^T
                u0, u1 = r[0, a], r[1, a]
                z0, z1 = Z[4 * a, k, col:col + tiles_w], Z[4 * a + 1, k, col:col + tiles_w]
                z2, z3 = Z[4 * a + 2, k, col:col + tiles_w], Z[4 * a + 3, k, col:col + tiles_w]
                for tx in range(tiles_w):
                    z0[tx] = u0[tx]
                    z1[tx] = u0[tx] + u1[tx]
                    z2[tx] = u0[tx] - u1[tx]
                    z3[tx] = -u1[tx]
    Z[:, :, images * tiles:] = 0


@njit(**PARALLEL_OPTIONS)
def output_transform(M, out, n0, images, tiles_h, tiles_w):
    """out[n0 + i, k, 2ty:2ty+2, 2tx:2tx+2] = A^T m A for m = M[:, k, tile], clipped to (P, Q).

    M (16, K, columns >= images*tiles_h*tiles_w); out (N, K, P, Q).
    """
    K, P, Q = out.shape[1], out.shape[2], out.shape[3]
    tiles = tiles_h * tiles_w
    for task in prange(images * K):
        i = task // K
        k = task % K
        y = out[n0 + i, k]
        t = np.empty((2, 4, tiles_w), dtype=out.dtype)
        pair = np.empty((2, tiles_w), dtype=out.dtype)
        for ty in range(tiles_h):
            col = i * tiles + ty * tiles_w
            for j in range(4):  # t = A^T m, all tiles of the band
                m0, m1 = M[j, k, col:col + tiles_w], M[4 + j, k, col:col + tiles_w]
                m2, m3 = M[8 + j, k, col:col + tiles_w], M[12 + j, k, col:col + tiles_w]
                for tx in range(tiles_w):
                    t[0, j, tx] = m0[tx] + m1[tx] + m2[tx]
                    t[1, j, tx] = m1[tx] - m2[tx] - m3[tx]
            for a in range(min(2, P - 2 * ty)):  # row a of t times A, then columns interleaved
                ta = t[a]
                for tx in range(tiles_w):
                    pair[0, tx] = ta[0, tx] + ta[1, tx] + ta[2, tx]
                    pair[1, tx] = ta[1, tx] - ta[2, tx] - ta[3, tx]
                row = y[2 * ty + a]
                for q in range(Q):
                    row[q] = pair[q % 2, q // 2]


@njit(**PARALLEL_OPTIONS)
def transformed_products(packed, V, M, span):
    """M[xi, k, :] = sum_c U[xi, k, c] * V[xi, c, :] for all 16 xi, per group.

    packed (16, groups, blocks, Cg, rows): U tap-major in blocks of ``rows``
    output channels (see :func:`fastconv.kernels.tiled.pack_forward_weight`);
    V (16, C, columns), M (16, K, columns), columns a multiple of the tile
    width (24 // rows vectors). One task per (xi, group, ``span`` columns):
    those columns of V stay in cache while every block of channels reads them.
    """
    _, groups, blocks, Cg, rows = packed.shape
    K, columns = M.shape[1], M.shape[2]
    Kg = K // groups
    tile = 24 // rows * (64 // M.itemsize)
    spans = -(-columns // span)
    offsets = np.arange(Cg) * columns
    weights, inputs, outputs = packed.reshape(-1), V.reshape(-1), M.reshape(-1)
    for task in prange(16 * groups * spans):
        xi = task // (groups * spans)
        g = (task // spans) % groups
        j0 = (task % spans) * span
        j1 = min(j0 + span, columns)
        for b in range(blocks):
            valid = min(rows, Kg - b * rows)
            w0 = (((xi * groups + g) * blocks) + b) * Cg * rows
            o0 = (xi * K + g * Kg + b * rows) * columns
            x0 = (xi * groups + g) * Cg * columns
            for j in range(j0, j1, tile):
                if rows == 8:
                    forward_tile_8(inputs, x0 + j, offsets, Cg, weights, w0, outputs, o0 + j, columns, valid)
                elif rows == 4:
                    forward_tile_4(inputs, x0 + j, offsets, Cg, weights, w0, outputs, o0 + j, columns, valid)
                else:
                    forward_tile_2(inputs, x0 + j, offsets, Cg, weights, w0, outputs, o0 + j, columns, valid)


@njit(**PARALLEL_OPTIONS)
def transformed_gradient_products(Z, V, S):
    """S[xi, g, k, c] += sum_j Z[xi*K + g*Kg + k, j] * V[xi, g*Cg + c, j] for all 16 xi.

    Z (16*K + WEIGHT_ROWS, columns): the (16, K, columns) transformed output
    gradient and WEIGHT_ROWS spare rows, so that every block of rows is in
    bounds; V (16, C, columns); columns a multiple of the vector length and
    zero past the last tile in both; S (16, groups, Kg, Cg), accumulated.
    One task per (xi, group, WEIGHT_ROWS rows of Z, WEIGHT_TAPS rows of V);
    sums for rows past a group's last channel are dropped.
    """
    _, groups, Kg, Cg = S.shape
    K, columns = groups * Kg, Z.shape[1]
    C = V.shape[1]
    lanes = 64 // S.itemsize
    row_blocks, col_blocks = -(-Kg // WEIGHT_ROWS), -(-Cg // WEIGHT_TAPS)
    offsets = np.zeros(col_blocks * WEIGHT_TAPS, dtype=np.intp)
    offsets[:Cg] = np.arange(Cg) * columns
    tile_size = WEIGHT_ROWS * WEIGHT_TAPS * lanes
    grads, inputs = Z.reshape(-1), V.reshape(-1)
    for task in prange(16 * groups * row_blocks * col_blocks):
        xi = task // (groups * row_blocks * col_blocks)
        g = (task // (row_blocks * col_blocks)) % groups
        b = (task // col_blocks) % row_blocks
        cb = task % col_blocks
        acc = np.zeros(tile_size, dtype=S.dtype)
        weight_tile(grads, (xi * K + g * Kg + b * WEIGHT_ROWS) * columns, columns,
                    inputs, (xi * C + g * Cg) * columns, (0, 0), 1, offsets, cb * WEIGHT_TAPS, columns // lanes,
                    acc, 0)
        for i in range(min(WEIGHT_ROWS, Kg - b * WEIGHT_ROWS)):
            for t in range(min(WEIGHT_TAPS, Cg - cb * WEIGHT_TAPS)):
                start = (i * WEIGHT_TAPS + t) * lanes
                S[xi, g, b * WEIGHT_ROWS + i, cb * WEIGHT_TAPS + t] += acc[start:start + lanes].sum()
