"""Winograd F(4x4, 3x3) transforms (Lavin and Gray, CVPR 2016) and their products.

A 4x4 block of outputs of a 3x3 filter g is ``A^T [(G g G^T) * (B^T d B)] A``
for the 6x6 input patch d under it: 36 multiplications instead of 144. Summed
over input channels, each of the 36 elementwise products becomes one matrix
product over channels, computed here with the register-blocked tiles of
:mod:`._simd`. The weight gradient uses the transposed maps: for one 4x4 block
dy of the output gradient, ``dW += G^T [(A dy A^T) * (B^T d B)] G``. The
matrices are :data:`B_T`, :data:`G`, :data:`A_T` (interpolation points 0, 1,
-1, 2, -2 and infinity); the transform steps below hard-code them.

Transformed arrays are (36, channels, columns): element ``xi = 6*a + b`` of
the transform, then the channel, then the slot ``(ty*images + i)*tiles_w + tx``
of tile (ty, tx) of image i of the chunk, whose outputs are rows 4ty..4ty+3
and columns 4tx..4tx+3. Bands of tiles of all images of a chunk lie side by
side, so that each transform step is one unit-stride pass over all tiles of
the chunk. Columns past the last slot are padding for the product tiles and
hold zeros. One prange task per channel: no races.
"""

import numpy as np
from numba import njit, prange

from ._options import NJIT_OPTIONS, PARALLEL_OPTIONS
from ._simd import (
    FORWARD_VECTORS,
    WEIGHT_ROWS,
    WEIGHT_TAPS,
    columns_apart_4,
    columns_apart_6,
    columns_together,
    dot_product_tile,
    outer_product_tile,
    vector_lanes,
)
from .planes import embed_plane

B_T = (
    (4, 0, -5, 0, 1, 0),
    (0, -4, -4, 1, 1, 0),
    (0, 4, -4, -1, 1, 0),
    (0, -2, -1, 2, 1, 0),
    (0, 2, -1, -2, 1, 0),
    (0, 4, 0, -5, 0, 1),
)
G = (
    (1 / 4, 0, 0),
    (-1 / 6, -1 / 6, -1 / 6),
    (-1 / 6, 1 / 6, -1 / 6),
    (1 / 24, 1 / 12, 1 / 6),
    (1 / 24, -1 / 12, 1 / 6),
    (0, 0, 1),
)
A_T = ((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1))
OUTPUTS = 4  # output rows and columns per tile
ELEMENTS = 36  # elements of a transformed 6x6 tile: one matrix product each


@njit(**NJIT_OPTIONS)
def _times_g(f0, f1, f2):
    """(G f) for a column f = (f0, f1, f2) of a filter: 6 values (in float64 for float32 input too)."""
    a = f0 / 4
    b = (f0 + f2) / -6
    c = (a + f2) / 6
    return a, b - f1 / 6, b + f1 / 6, c + f1 / 12, c - f1 / 12, float(f2)


@njit(**NJIT_OPTIONS)
def _times_gt(s0, s1, s2, s3, s4, s5):
    """(G^T s) for a 6-vector s: 3 values (in float64 for float32 input too)."""
    plus, minus = (s3 + s4) / 6 - (s1 + s2) / 6, (s2 - s1) / 6 + (s3 - s4) / 12
    return s0 / 4 + (s3 + s4) / 24 - (s1 + s2) / 6, minus, plus + s5


@njit(**PARALLEL_OPTIONS)
def pack_filters(weight, groups, packed):
    """packed = U = G g G^T of every 3x3 filter g, in blocks of ``rows`` output channels.

    weight (K, Cg, 3, 3); packed (36, groups, ceil(Kg/rows), Cg, rows),
    overwritten: xi = 6*a + b first, zero for the padding channels of the
    last block (the layout of :func:`transformed_products`).
    """
    K, Cg = weight.shape[0], weight.shape[1]
    blocks, rows = packed.shape[2], packed.shape[4]
    Kg = K // groups
    for task in prange(groups * blocks):
        g, b = task // blocks, task % blocks
        valid = min(rows, Kg - b * rows)
        t = np.empty((6, 3), dtype=weight.dtype)
        # U of the block's filters for one input channel, then 36 whole rows out:
        # the 36 destinations often lie a multiple of 4 KiB apart and evict each
        # other from L1 when written one element at a time (measured: 4x slower).
        u = np.zeros((36, rows), dtype=weight.dtype)
        for c in range(Cg):
            for i in range(valid):
                f = weight[g * Kg + b * rows + i, c]
                for s in range(3):  # t = G f, column by column
                    t[0, s], t[1, s], t[2, s], t[3, s], t[4, s], t[5, s] = _times_g(f[0, s], f[1, s], f[2, s])
                for a in range(6):  # U = t G^T, row by row
                    u[6 * a, i], u[6 * a + 1, i], u[6 * a + 2, i], u[6 * a + 3, i], u[6 * a + 4, i], u[6 * a + 5, i] = (
                        _times_g(t[a, 0], t[a, 1], t[a, 2])
                    )
            packed[:, g, b, c, :] = u


@njit(**PARALLEL_OPTIONS)
def unpack_filter_gradients(S, grad_weight):
    """grad_weight[g*Kg + k, c] = G^T S[:, g, k, c] G (6x6 -> 3x3), overwritten.

    S (36, groups, Kg, Cg) summed products; grad_weight (K, Cg, 3, 3).
    """
    _, groups, Kg, Cg = S.shape
    for gk in prange(groups * Kg):
        g, k = gk // Kg, gk % Kg
        t = np.empty((3, 6), dtype=S.dtype)
        sums = S[:, g, k].copy()  # 36 whole rows in (see pack_filters)
        for c in range(Cg):
            for e in range(6):  # t = G^T S, column by column
                t[0, e], t[1, e], t[2, e] = _times_gt(
                    sums[e, c], sums[6 + e, c], sums[12 + e, c], sums[18 + e, c], sums[24 + e, c], sums[30 + e, c]
                )
            out = grad_weight[gk, c]
            for r in range(3):  # t G, row by row
                out[r, 0], out[r, 1], out[r, 2] = _times_gt(t[r, 0], t[r, 1], t[r, 2], t[r, 3], t[r, 4], t[r, 5])


# The transform steps take flat arrays and offsets but loop over one view per
# row: with separate arrays LLVM vectorises the loop (measured: 4x faster than
# indexing the flat arrays at offsets it cannot compare).


@njit(**NJIT_OPTIONS)
def _apply_bt(src, base, row_stride, shift, dst, d, stride, length):
    """dst[d + e*stride + k] = sum_j B^T[e, j] * src[s_j + k] for k < length, e, j < 6; one pass.

    Row j of src starts at s_j = base + (j % 4)*row_stride + (j // 4)*shift.
    """
    four, five = src.dtype.type(4), src.dtype.type(5)
    x0, x1 = src[base : base + length], src[base + row_stride :][:length]
    x2, x3 = src[base + 2 * row_stride :][:length], src[base + 3 * row_stride :][:length]
    x4, x5 = src[base + shift :][:length], src[base + row_stride + shift :][:length]
    y0, y1, y2 = dst[d : d + length], dst[d + stride :][:length], dst[d + 2 * stride :][:length]
    y3, y4, y5 = dst[d + 3 * stride :][:length], dst[d + 4 * stride :][:length], dst[d + 5 * stride :][:length]
    for k in range(length):
        d0, d1, d2, d3, d4, d5 = x0[k], x1[k], x2[k], x3[k], x4[k], x5[k]
        p, q = d4 - four * d2, d3 - four * d1  # shared by rows 1 and 2
        u, v = d4 - d2, d3 - d1  # shared by rows 3 and 4 (v times 2)
        y0[k] = four * d0 - five * d2 + d4
        y1[k] = p + q
        y2[k] = p - q
        y3[k] = u + v + v
        y4[k] = u - v - v
        y5[k] = four * d1 - five * d3 + d5


@njit(**NJIT_OPTIONS)
def _apply_at(src, base, row_stride, dst, d, stride, length):
    """dst[d + a*stride + k] = sum_j A^T[a, j] * src[base + j*row_stride + k] for a < 4, j < 6; one pass."""
    two, four, eight = src.dtype.type(2), src.dtype.type(4), src.dtype.type(8)
    x0, x1 = src[base : base + length], src[base + row_stride :][:length]
    x2, x3 = src[base + 2 * row_stride :][:length], src[base + 3 * row_stride :][:length]
    x4, x5 = src[base + 4 * row_stride :][:length], src[base + 5 * row_stride :][:length]
    y0, y1 = dst[d : d + length], dst[d + stride :][:length]
    y2, y3 = dst[d + 2 * stride :][:length], dst[d + 3 * stride :][:length]
    for k in range(length):
        m0, m1, m2, m3, m4, m5 = x0[k], x1[k], x2[k], x3[k], x4[k], x5[k]
        sum12, dif12, sum34, dif34 = m1 + m2, m1 - m2, m3 + m4, m3 - m4
        y0[k] = m0 + sum12 + sum34
        y1[k] = dif12 + two * dif34
        y2[k] = sum12 + four * sum34
        y3[k] = dif12 + eight * dif34 + m5


@njit(**NJIT_OPTIONS)
def _apply_a(src, base, row_stride, dst, d, stride, length):
    """dst[d + e*stride + k] = sum_j A[e, j] * src[base + j*row_stride + k] for e < 6, j < 4 (A = (A^T)^T)."""
    two, four, eight = src.dtype.type(2), src.dtype.type(4), src.dtype.type(8)
    x0, x1 = src[base : base + length], src[base + row_stride :][:length]
    x2, x3 = src[base + 2 * row_stride :][:length], src[base + 3 * row_stride :][:length]
    y0, y1, y2 = dst[d : d + length], dst[d + stride :][:length], dst[d + 2 * stride :][:length]
    y3, y4, y5 = dst[d + 3 * stride :][:length], dst[d + 4 * stride :][:length], dst[d + 5 * stride :][:length]
    for k in range(length):
        g0, g1, g2, g3 = x0[k], x1[k], x2[k], x3[k]
        even1, odd1 = g0 + g2, g1 + g3
        even2, odd2 = g0 + four * g2, two * g1 + eight * g3
        y0[k] = g0
        y1[k] = even1 + odd1
        y2[k] = even1 - odd1
        y3[k] = even2 + odd2
        y4[k] = even2 - odd2
        y5[k] = g3


@njit(**PARALLEL_OPTIONS)
def input_transform(x, n0, images, top, left, tiles_h, tiles_w, V):
    """V[:, c, (ty*images + i)*tiles_w + tx] = B^T d B for the patch d of tile (ty, tx) of image n0+i.

    x (N, C, h, w) is read as if placed at (top, left) in zero planes of
    (4*tiles_h + 4, 4*tiles_w + 2); the 6x6 patch of tile (ty, tx) starts at
    (4ty, 4tx). V (36, C, columns >= images*tiles_h*tiles_w), overwritten,
    zero past the last slot.
    """
    N, C, h, w = x.shape
    columns = V.shape[2]
    height, width = 4 * tiles_h + 4, 4 * tiles_w + 2
    band = images * tiles_w  # one band of tiles across all images
    tiles, size = tiles_h * band, (tiles_h + 1) * band
    source, transformed = x.reshape(-1), V.reshape(-1)
    for c in prange(C):
        # parts[a, j, Y*band + i*tiles_w + tx] = row 4Y + a, column 4tx + j of
        # the padded plane of image i: element (r, j) of the patch of tile
        # (ty, tx) is parts[r % 4, j, (ty + r // 4)*band + i*tiles_w + tx].
        plane = np.empty(height * width, dtype=x.dtype)
        parts = np.empty(24 * size, dtype=x.dtype)
        for i in range(images):
            embed_plane(source, ((n0 + i) * C + c) * h * w, h, w, plane, 0, top, left, height, width)
            for y in range(height):
                start = ((y % 4) * 6 * (tiles_h + 1) + y // 4) * band + i * tiles_w
                columns_apart_6(plane, y * width, tiles_w, parts, start, size)
        t = np.empty(36 * tiles, dtype=x.dtype)  # t[r, j] = row r of B^T d, patch column j
        for j in range(6):
            _apply_bt(parts, j * size, 6 * size, band, t, j * tiles, 6 * tiles, tiles)
        for r in range(6):  # row r of t times B
            _apply_bt(t, r * 6 * tiles, tiles, 4 * tiles, transformed, (6 * r * C + c) * columns, C * columns, tiles)
        V[:, c, tiles:] = 0


@njit(**PARALLEL_OPTIONS)
def grad_transform(grad_out, n0, images, tiles_h, tiles_w, Z):
    """Z[:, k, (ty*images + i)*tiles_w + tx] = A dy A^T for each 4x4 block dy of grad_out[n0+i, k].

    grad_out (N, K, P, Q), read as zero beyond P, Q; Z (36, K, columns >=
    images*tiles_h*tiles_w), overwritten, zero past the last slot.
    """
    K, P, Q = grad_out.shape[1], grad_out.shape[2], grad_out.shape[3]
    columns = Z.shape[2]
    height, width, band = 4 * tiles_h, 4 * tiles_w, images * tiles_w
    tiles = tiles_h * band
    source, transformed = grad_out.reshape(-1), Z.reshape(-1)
    for k in prange(K):
        plane = np.empty(height * width, dtype=Z.dtype)
        g = np.empty(16 * tiles, dtype=Z.dtype)  # g[a, b, slot] = dy[a, b] of the tile in that slot
        for i in range(images):
            embed_plane(source, ((n0 + i) * K + k) * P * Q, P, Q, plane, 0, 0, 0, height, width)
            for y in range(height):
                start = (y % 4) * 4 * tiles + (y // 4) * band + i * tiles_w
                columns_apart_4(plane, y * width, tiles_w, g, start, tiles)
        r = np.empty(24 * tiles, dtype=Z.dtype)  # r[a, b] = row a of A dy, column b of the block
        for b in range(4):
            _apply_a(g, b * tiles, 4 * tiles, r, b * tiles, 4 * tiles, tiles)
        for a in range(6):  # row a of r times A^T
            _apply_a(r, a * 4 * tiles, tiles, transformed, (6 * a * K + k) * columns, K * columns, tiles)
        Z[:, k, tiles:] = 0


@njit(**PARALLEL_OPTIONS)
def output_transform(M, out, n0, images, tiles_h, tiles_w):
    """out[n0 + i, k, 4ty:4ty+4, 4tx:4tx+4] = A^T M[:, k, (ty*images + i)*tiles_w + tx] A.

    M (36, K, columns >= images*tiles_h*tiles_w) as from
    :func:`transformed_products`; out (N, K, P, Q), clipped to P, Q.
    """
    K, P, Q = out.shape[1], out.shape[2], out.shape[3]
    columns = M.shape[2]
    band = images * tiles_w
    tiles = tiles_h * band
    products, result = M.reshape(-1), out.reshape(-1)
    for k in prange(K):
        t = np.empty(24 * tiles, dtype=out.dtype)  # t[a, e] = row a of A^T m, column e
        for e in range(6):
            _apply_at(products, (e * K + k) * columns, 6 * K * columns, t, e * tiles, 6 * tiles, tiles)
        y = np.empty(16 * tiles, dtype=out.dtype)  # y[a, b]: output rows 4ty+a, columns 4tx+b
        for a in range(4):
            _apply_at(t, a * 6 * tiles, tiles, y, a * 4 * tiles, tiles, tiles)
        whole = Q // 4  # tiles whose 4 columns all lie inside the output
        for i in range(images):
            for p in range(P):
                row = ((n0 + i) * K + k) * P * Q + p * Q
                part = (p % 4) * 4 * tiles + (p // 4) * band + i * tiles_w
                columns_together(y, part, tiles, whole, result, row)
                for q in range(4 * whole, Q):
                    result[row + q] = y[part + (q % 4) * tiles + whole]


@njit(**PARALLEL_OPTIONS)
def transformed_products(packed, V, M, span):
    """M[xi, k, :] = sum_c U[xi, k, c] * V[xi, c, :] for every element xi of the transform, per group.

    packed (T, groups, blocks, Cg, rows): U tap-major in blocks of ``rows``
    output channels (see :func:`fastconv.kernels.tiled.pack_forward_weight`);
    V (T, C, columns), M (T, K, columns), columns a multiple of the tile
    width (FORWARD_VECTORS[rows] vectors). One task per (xi, group, ``span`` columns):
    those columns of V stay in cache while every block of channels reads them.
    """
    T, groups, blocks, Cg, rows = packed.shape
    K, columns = M.shape[1], M.shape[2]
    Kg = K // groups
    lanes = vector_lanes(M)
    tile = FORWARD_VECTORS[rows] * lanes
    contiguous = np.arange(FORWARD_VECTORS[rows]) * lanes  # the tile's vectors side by side
    spans = -(-columns // span)
    offsets = np.arange(Cg) * columns
    weights, inputs, outputs = packed.reshape(-1), V.reshape(-1), M.reshape(-1)
    for task in prange(T * groups * spans):
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
                outer_product_tile(
                    rows,
                    inputs,
                    x0 + j,
                    offsets,
                    Cg,
                    weights,
                    w0,
                    outputs,
                    o0 + j,
                    columns,
                    valid,
                    contiguous,
                    contiguous,
                )


@njit(**PARALLEL_OPTIONS)
def transformed_gradient_products(Z, V, S):
    """S[xi, g, k, c] += sum_j Z[xi*K + g*Kg + k, j] * V[xi, g*Cg + c, j] for every xi.

    Z (T*K + WEIGHT_ROWS, columns): the (T, K, columns) transformed output
    gradient and WEIGHT_ROWS spare rows, so that every block of rows is in
    bounds; V (T, C, columns); columns a multiple of the vector length and
    zero past the last tile in both; S (T, groups, Kg, Cg), accumulated.
    One task per (xi, group, WEIGHT_ROWS rows of Z, WEIGHT_TAPS rows of V);
    sums for rows past a group's last channel are dropped.
    """
    T, groups, Kg, Cg = S.shape
    K, columns = groups * Kg, Z.shape[1]
    C = V.shape[1]
    lanes = vector_lanes(S)
    row_blocks, col_blocks = -(-Kg // WEIGHT_ROWS), -(-Cg // WEIGHT_TAPS)
    offsets = np.zeros(col_blocks * WEIGHT_TAPS, dtype=np.intp)
    offsets[:Cg] = np.arange(Cg) * columns
    grads, inputs, sums = Z.reshape(-1), V.reshape(-1), S.reshape(-1)
    for task in prange(T * groups * row_blocks * col_blocks):
        xi = task // (groups * row_blocks * col_blocks)
        g = (task // (row_blocks * col_blocks)) % groups
        b = (task // col_blocks) % row_blocks
        cb = task % col_blocks
        dot_product_tile(
            grads,
            (xi * K + g * Kg + b * WEIGHT_ROWS) * columns,
            columns,
            inputs,
            (xi * C + g * Cg) * columns,
            (0, 0),
            1,
            offsets,
            cb * WEIGHT_TAPS,
            columns // lanes,
            sums,
            ((xi * groups + g) * Kg + b * WEIGHT_ROWS) * Cg + cb * WEIGHT_TAPS,
            Cg,
            min(WEIGHT_ROWS, Kg - b * WEIGHT_ROWS),
            min(WEIGHT_TAPS, Cg - cb * WEIGHT_TAPS),
        )
