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
the 4x4 transform, then the channel, then the slot ``i*slots + ty*(tiles_w +
1) + tx`` of tile (ty, tx) of image i of the chunk, whose outputs are rows
2ty..2ty+1 and columns 2tx..2tx+1. Each band of tiles has one unused slot
(tx = tiles_w): with it, the even and odd rows and columns of a plane are
four grids of the same shape as the slots, and every transform is a few
unit-stride loops over all tiles of a plane at once. Columns past the last
slot are padding for the product tiles and hold zeros. One prange task per
(image, channel) plane: no races.
"""

import numpy as np
from numba import njit, prange

from .._config import NJIT_OPTIONS, PARALLEL_OPTIONS
from ._simd import FORWARD_VECTORS, WEIGHT_ROWS, WEIGHT_TAPS, forward_tile, weight_tile
from .planes import embed_plane


@njit(**PARALLEL_OPTIONS)
def pack_filters(weight, groups, rows):
    """U = G g G^T of every 3x3 filter, in blocks of ``rows`` output channels.

    weight (K, Cg, 3, 3) -> (16, groups, ceil(Kg/rows), Cg, rows), xi = 4*a + b
    first, zero for the padding channels of the last block (the layout of
    :func:`transformed_products`).
    """
    K, Cg = weight.shape[0], weight.shape[1]
    Kg = K // groups
    blocks = -(-Kg // rows)
    packed = np.zeros((16, groups, blocks, Cg, rows), dtype=weight.dtype)
    half = weight.dtype.type(0.5)
    for kc in prange(K * Cg):
        k, c = kc // Cg, kc % Cg
        g, b, i = k // Kg, (k % Kg) // rows, (k % Kg) % rows
        f = weight[k, c]
        t = np.empty((4, 3), dtype=weight.dtype)  # t = G f
        for s in range(3):
            t[0, s] = f[0, s]
            t[1, s] = half * (f[0, s] + f[1, s] + f[2, s])
            t[2, s] = half * (f[0, s] - f[1, s] + f[2, s])
            t[3, s] = f[2, s]
        for a in range(4):  # U = t G^T
            packed[4 * a, g, b, c, i] = t[a, 0]
            packed[4 * a + 1, g, b, c, i] = half * (t[a, 0] + t[a, 1] + t[a, 2])
            packed[4 * a + 2, g, b, c, i] = half * (t[a, 0] - t[a, 1] + t[a, 2])
            packed[4 * a + 3, g, b, c, i] = t[a, 2]
    return packed


@njit(**PARALLEL_OPTIONS)
def unpack_filter_gradients(S, grad_weight):
    """grad_weight[g*Kg + k, c] = G^T S[:, g, k, c] G (4x4 -> 3x3), overwritten.

    S (16, groups, Kg, Cg) summed products; grad_weight (K, Cg, 3, 3).
    """
    _, groups, Kg, Cg = S.shape
    half = S.dtype.type(0.5)
    for kc in prange(groups * Kg * Cg):
        gk, c = kc // Cg, kc % Cg
        g, k = gk // Kg, gk % Kg
        t = np.empty((3, 4), dtype=S.dtype)  # t = G^T S
        for b in range(4):
            s0, s1, s2, s3 = S[b, g, k, c], S[4 + b, g, k, c], S[8 + b, g, k, c], S[12 + b, g, k, c]
            t[0, b] = s0 + half * (s1 + s2)
            t[1, b] = half * (s1 - s2)
            t[2, b] = half * (s1 + s2) + s3
        out = grad_weight[gk, c]
        for r in range(3):  # t G
            out[r, 0] = t[r, 0] + half * (t[r, 1] + t[r, 2])
            out[r, 1] = half * (t[r, 1] - t[r, 2])
            out[r, 2] = half * (t[r, 1] + t[r, 2]) + t[r, 3]


@njit(**NJIT_OPTIONS)
def _polyphase(plane, rows, half, parts):
    """parts[a, b, Y*half + X] = plane[(2Y + a)*2*half + 2X + b]: the plane's four even/odd sub-grids.

    plane (2*rows, 2*half) flat; parts (2, 2, rows*half).
    """
    width = 2 * half
    for y in range(2 * rows):
        line = plane[y * width:(y + 1) * width]
        even, odd = parts[y % 2, 0, (y // 2) * half:], parts[y % 2, 1, (y // 2) * half:]
        for j in range(half):
            even[j] = line[2 * j]
            odd[j] = line[2 * j + 1]


@njit(**PARALLEL_OPTIONS)
def input_transform(x, n0, images, top, left, tiles_h, tiles_w, V):
    """V[:, c, i*slots + ty*(tiles_w+1) + tx] = B^T d B for the 4x4 patch d of tile (ty, tx) of image n0+i.

    x (N, C, h, w) is read as if placed at (top, left) in zero planes of
    (2*tiles_h + 2, 2*tiles_w + 2); patch (ty, tx) starts at (2ty, 2tx). Each
    band of tiles has one extra slot (tx = tiles_w), transformed like the
    others and never used. V (16, C, columns >= images*slots) with slots =
    tiles_h*(tiles_w + 1), overwritten, zero past the last slot.
    """
    N, C, h, w = x.shape
    half = tiles_w + 1
    height, width, slots = 2 * tiles_h + 2, 2 * half, tiles_h * half
    source = x.reshape(-1)
    for task in prange(images * C):
        i = task // C
        c = task % C
        plane = np.empty(height * width, dtype=x.dtype)
        embed_plane(source, ((n0 + i) * C + c) * h * w, h, w, plane, 0, top, left, height, width)
        # Even/odd rows and columns apart: every loop below runs over all tiles at unit stride.
        parts = np.empty((2, 2, (tiles_h + 1) * half), dtype=x.dtype)
        _polyphase(plane, tiles_h + 1, half, parts)
        t = np.zeros((2, 4, slots + 1), dtype=x.dtype)
        for e in range(2):  # t = B^T d: patch rows 0..3 are even/odd rows of bands ty and ty+1
            d0, d1 = parts[0, e, :slots], parts[1, e, :slots]
            d2, d3 = parts[0, e, half:half + slots], parts[1, e, half:half + slots]
            t0, t1, t2, t3 = t[e, 0], t[e, 1], t[e, 2], t[e, 3]
            for k in range(slots):
                t0[k] = d0[k] - d2[k]
                t1[k] = d1[k] + d2[k]
                t2[k] = d2[k] - d1[k]
                t3[k] = d1[k] - d3[k]
        col = i * slots
        for a in range(4):  # row a of t times B: patch columns 0..3 are even/odd columns of tx and tx+1
            ev, od = t[0, a], t[1, a]
            v0, v1 = V[4 * a, c, col:col + slots], V[4 * a + 1, c, col:col + slots]
            v2, v3 = V[4 * a + 2, c, col:col + slots], V[4 * a + 3, c, col:col + slots]
            for k in range(slots):
                v0[k] = ev[k] - ev[k + 1]
                v1[k] = od[k] + ev[k + 1]
                v2[k] = ev[k + 1] - od[k]
                v3[k] = od[k] - od[k + 1]
    V[:, :, images * slots:] = 0


@njit(**PARALLEL_OPTIONS)
def grad_transform(grad_out, n0, images, tiles_h, tiles_w, Z):
    """Z[:, k, i*slots + ty*(tiles_w+1) + tx] = A dy A^T for each 2x2 block dy of grad_out[n0+i, k].

    grad_out (N, K, P, Q), read as zero beyond P, Q (so the extra slot of each
    band is zero); Z (16, K, columns >= images*slots), overwritten, zero past
    the last slot.
    """
    K, P, Q = grad_out.shape[1], grad_out.shape[2], grad_out.shape[3]
    half = tiles_w + 1
    height, width, slots = 2 * tiles_h, 2 * half, tiles_h * half
    source = grad_out.reshape(-1)
    for task in prange(images * K):
        i = task // K
        k = task % K
        plane = np.empty(height * width, dtype=Z.dtype)
        embed_plane(source, ((n0 + i) * K + k) * P * Q, P, Q, plane, 0, 0, 0, height, width)
        g = np.empty((2, 2, slots), dtype=Z.dtype)
        _polyphase(plane, tiles_h, half, g)
        r = np.empty((4, 2, slots), dtype=Z.dtype)  # r = A dy, for both columns b of the block
        for b in range(2):
            g0, g1 = g[0, b], g[1, b]
            r0, r1, r2, r3 = r[0, b], r[1, b], r[2, b], r[3, b]
            for s in range(slots):
                r0[s] = g0[s]
                r1[s] = g0[s] + g1[s]
                r2[s] = g0[s] - g1[s]
                r3[s] = -g1[s]
        col = i * slots
        for a in range(4):  # row a of r times A^T
            u, v = r[a, 0], r[a, 1]
            z0, z1 = Z[4 * a, k, col:col + slots], Z[4 * a + 1, k, col:col + slots]
            z2, z3 = Z[4 * a + 2, k, col:col + slots], Z[4 * a + 3, k, col:col + slots]
            for s in range(slots):
                z0[s] = u[s]
                z1[s] = u[s] + v[s]
                z2[s] = u[s] - v[s]
                z3[s] = -v[s]
    Z[:, :, images * slots:] = 0


@njit(**PARALLEL_OPTIONS)
def output_transform(M, out, n0, images, tiles_h, tiles_w):
    """out[n0 + i, k, 2ty:2ty+2, 2tx:2tx+2] = A^T m A for m = M[:, k, i*slots + ty*(tiles_w+1) + tx].

    M (16, K, columns >= images*slots) as from :func:`transformed_products`;
    out (N, K, P, Q), clipped to P, Q.
    """
    K, P, Q = out.shape[1], out.shape[2], out.shape[3]
    half = tiles_w + 1
    slots = tiles_h * half
    for task in prange(images * K):
        i = task // K
        k = task % K
        col = i * slots
        t = np.empty((2, 4, slots), dtype=out.dtype)
        for j in range(4):  # t = A^T m, all tiles at once
            m0, m1 = M[j, k, col:col + slots], M[4 + j, k, col:col + slots]
            m2, m3 = M[8 + j, k, col:col + slots], M[12 + j, k, col:col + slots]
            ta, tb = t[0, j], t[1, j]
            for s in range(slots):
                ta[s] = m0[s] + m1[s] + m2[s]
                tb[s] = m1[s] - m2[s] - m3[s]
        y = np.empty((2, 2, slots), dtype=out.dtype)  # y[a, b]: output rows 2ty+a, columns 2tx+b
        for a in range(2):
            r0, r1, r2, r3 = t[a, 0], t[a, 1], t[a, 2], t[a, 3]
            ya, yb = y[a, 0], y[a, 1]
            for s in range(slots):
                ya[s] = r0[s] + r1[s] + r2[s]
                yb[s] = r1[s] - r2[s] - r3[s]
        result = out[n0 + i, k]
        for p in range(P):
            row, part = result[p], y[p % 2]
            base = (p // 2) * half
            for q in range(Q):
                row[q] = part[q % 2, base + q // 2]


@njit(**PARALLEL_OPTIONS)
def transformed_products(packed, V, M, span):
    """M[xi, k, :] = sum_c U[xi, k, c] * V[xi, c, :] for all 16 xi, per group.

    packed (16, groups, blocks, Cg, rows): U tap-major in blocks of ``rows``
    output channels (see :func:`fastconv.kernels.tiled.pack_forward_weight`);
    V (16, C, columns), M (16, K, columns), columns a multiple of the tile
    width (FORWARD_VECTORS[rows] vectors). One task per (xi, group, ``span`` columns):
    those columns of V stay in cache while every block of channels reads them.
    """
    _, groups, blocks, Cg, rows = packed.shape
    K, columns = M.shape[1], M.shape[2]
    Kg = K // groups
    lanes = 64 // M.itemsize
    tile = FORWARD_VECTORS[rows] * lanes
    contiguous = np.arange(FORWARD_VECTORS[rows]) * lanes  # the tile's vectors side by side
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
                forward_tile(rows, inputs, x0 + j, offsets, Cg, weights, w0, outputs, o0 + j, columns, valid,
                             contiguous, contiguous)


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
    grads, inputs, sums = Z.reshape(-1), V.reshape(-1), S.reshape(-1)
    for task in prange(16 * groups * row_blocks * col_blocks):
        xi = task // (groups * row_blocks * col_blocks)
        g = (task // (row_blocks * col_blocks)) % groups
        b = (task // col_blocks) % row_blocks
        cb = task % col_blocks
        weight_tile(grads, (xi * K + g * Kg + b * WEIGHT_ROWS) * columns, columns,
                    inputs, (xi * C + g * Cg) * columns, (0, 0), 1, offsets, cb * WEIGHT_TAPS, columns // lanes,
                    sums, ((xi * groups + g) * Kg + b * WEIGHT_ROWS) * Cg + cb * WEIGHT_TAPS, Cg,
                    min(WEIGHT_ROWS, Kg - b * WEIGHT_ROWS), min(WEIGHT_TAPS, Cg - cb * WEIGHT_TAPS))
