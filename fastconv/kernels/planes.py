"""Zero-padded copies of image planes, for the kernels that read whole padded rows, and the stride
phases of padded planes (strided layers computed at stride 1)."""

from numba import njit, prange

from ._options import NJIT_OPTIONS, PARALLEL_OPTIONS
from ._simd import copy_run, copy_strided, pairs_apart, pairs_together
from ._window import valid_range


@njit(**NJIT_OPTIONS)
def embed_plane(source, start, h, w, flat, base, top, left, height, width):
    """The (h, w) plane source[start:start + h*w] placed at (top, left) in the zero (height, width) plane at flat[base].

    Negative offsets crop.
    """
    r_src, c_src = max(0, -top), max(0, -left)
    r_dst, c_dst = max(0, top), max(0, left)
    rows = max(0, min(h - r_src, height - r_dst))
    cols = max(0, min(w - c_src, width - c_dst))
    if rows < height or cols < width:
        flat[base : base + height * width] = 0
    if cols == w and cols == width:
        copy_run(flat, base + r_dst * width, source, start + r_src * w, rows * w)
    elif cols > 0:
        for i in range(rows):
            copy_run(flat, base + (r_dst + i) * width + c_dst, source, start + (r_src + i) * w + c_src, cols)


# Inlined, so that in the kernels that call it its prange is part of their own parallel code,
# as the loop it replaced there was (rather than a separately compiled parallel function called from one).
@njit(inline="always", **PARALLEL_OPTIONS)
def embed_planes(source, first, count, h, w, flat, top, left, height, width):
    """Planes first..first+count-1 of the (h, w) planes in ``source`` placed at (top, left) in zero (height, width) planes.

    source: flat (h, w) planes one after another (an NCHW array's data);
    flat (>= count*height*width): the padded planes one after another, then
    zeros to the end.
    """
    for i in prange(count):
        embed_plane(source, (first + i) * h * w, h, w, flat, i * height * width, top, left, height, width)
    flat[count * height * width :] = 0


@njit(inline="always", **NJIT_OPTIONS)
def split_plane(source, start, H, W, target, base, stride_h, stride_w, top, left, Hq, Wq):
    """The (H, W) plane at source[start] split into its stride phases at target[base], zero outside.

    Phase (a, b), of (Hq, Wq), starts at target[base + (a*stride_w + b)*Hq*Wq] and holds
    ``phase[i, j] = plane[i*stride_h + a - top, j*stride_w + b - left]``.
    """
    plane = Hq * Wq
    for a in range(stride_h):
        i_lo, i_hi = valid_range(a - top, stride_h, H, Hq)
        phases_of_a = base + a * stride_w * plane
        target[phases_of_a : phases_of_a + stride_w * plane] = 0
        for i in range(i_lo, i_hi):
            row = start + (i * stride_h + a - top) * W
            if stride_w == 1:
                j_lo, j_hi = valid_range(-left, 1, W, Wq)
                copy_run(target, phases_of_a + i * Wq + j_lo, source, row + j_lo - left, j_hi - j_lo)
                continue
            if stride_w == 2:
                _split_row_in_two(source, row, W, target, phases_of_a + i * Wq, plane, left, Wq)
                continue
            for b in range(stride_w):
                j_lo, j_hi = valid_range(b - left, stride_w, W, Wq)
                copy_strided(
                    target,
                    phases_of_a + b * plane + i * Wq + j_lo,
                    1,
                    source,
                    row + j_lo * stride_w + b - left,
                    stride_w,
                    j_hi - j_lo,
                )


@njit(inline="always", **NJIT_OPTIONS)
def _split_row_in_two(source, row, W, target, even_row, plane, left, Wq):
    """The W columns at source[row] into the rows of column phases 0 (at target[even_row]) and 1 (a
    plane further), Wq columns each: column c to phase (c + left) % 2, column (c + left) // 2."""
    first, j0, pairs, last = _column_pairs(W, left, Wq)
    pairs_apart(source, row + first, pairs, target, even_row + j0, even_row + plane + j0)
    for c in range(min(first, W)):
        _place_column(source, row, c, target, even_row, plane, left, Wq)
    for c in range(first + 2 * pairs, last):
        _place_column(source, row, c, target, even_row, plane, left, Wq)


@njit(inline="always", **NJIT_OPTIONS)
def _column_pairs(W, left, Wq):
    """(first, j0, pairs, last): columns first, first + 1, ... of a W-column row pair up as (phase 0,
    phase 1) columns j0, j0 + 1, ... of Wq-column phases (offset ``left``); the columns before
    ``first`` and from first + 2*pairs up to ``last`` fall in a phase one by one, those from ``last`` in none."""
    first = left % 2
    j0 = (first + left) // 2
    if j0 < 0:  # columns left of the phases (negative left): skip their pairs
        first, j0 = first - 2 * j0, 0
    pairs = max(0, min((W - first) // 2, Wq - j0))
    return first, j0, pairs, max(0, min(W, 2 * Wq - left))


@njit(inline="always", **NJIT_OPTIONS)
def _place_column(source, row, c, target, even_row, plane, left, Wq):
    j = (c + left) // 2
    if 0 <= j < Wq:
        target[even_row + (c + left) % 2 * plane + j] = source[row + c]


@njit(**PARALLEL_OPTIONS)
def split_phases(x, phases, stride_h, stride_w, top, left):
    """phases[n, (c*sh + a)*sw + b, i, j] = x[n, c, i*sh + a - top, j*sw + b - left], zero outside x.

    x (N, C, H, W); phases (N, C*sh*sw, Hq, Wq), overwritten: the padded
    input split into its stride phases (see ``fastconv/engine/phases.py``).
    One (image, channel) per task.
    """
    N, C, H, W = x.shape
    Hq, Wq = phases.shape[2], phases.shape[3]
    source, target = x.reshape(-1), phases.reshape(-1)
    for nc in prange(N * C):
        split_plane(
            source, nc * H * W, H, W, target, nc * stride_h * stride_w * Hq * Wq, stride_h, stride_w, top, left, Hq, Wq
        )


@njit(**PARALLEL_OPTIONS)
def join_phases(phases, x, stride_h, stride_w, top, left):
    """The inverse of :func:`split_phases`: x[n, c, h, w] from the phase holding it (0 where none does).

    phases (N, C*sh*sw, Hq, Wq); x (N, C, H, W), overwritten.
    """
    N, C, H, W = x.shape
    Hq, Wq = phases.shape[2], phases.shape[3]
    source, target = phases.reshape(-1), x.reshape(-1)
    for nc in prange(N * C):
        first = nc * stride_h * stride_w * Hq * Wq
        join_plane(source, first, Hq * Wq, Wq, target, nc * H * W, stride_h, stride_w, top, left, H, W, Hq, Wq)


@njit(inline="always", **NJIT_OPTIONS)
def join_plane(source, base, plane, pitch, target, start, stride_h, stride_w, top, left, H, W, Hq, Wq):
    """The inverse of :func:`split_plane`: the (H, W) plane at target[start] from its (Hq, Wq) stride
    phases at source[base], ``plane`` elements apart, rows ``pitch`` apart; 0 where none holds a pixel."""
    target[start : start + H * W] = 0
    for a in range(stride_h):
        i_lo, i_hi = valid_range(a - top, stride_h, H, Hq)
        phases_of_a = base + a * stride_w * plane
        for i in range(i_lo, i_hi):
            row = start + (i * stride_h + a - top) * W
            if stride_w == 2:
                _join_row_from_two(source, phases_of_a + i * pitch, plane, left, Wq, target, row, W)
                continue
            for b in range(stride_w):
                j_lo, j_hi = valid_range(b - left, stride_w, W, Wq)
                first = j_lo * stride_w + b - left
                copy_strided(
                    target, row + first, stride_w, source, phases_of_a + b * plane + i * pitch + j_lo, 1, j_hi - j_lo
                )


@njit(inline="always", **NJIT_OPTIONS)
def _join_row_from_two(source, even_row, plane, left, Wq, target, row, W):
    """The inverse of :func:`_split_row_in_two`: the W columns at target[row] from the two phase rows."""
    first, j0, pairs, last = _column_pairs(W, left, Wq)
    pairs_together(source, even_row + j0, even_row + plane + j0, pairs, target, row + first)
    for c in range(min(first, W)):
        _take_column(source, even_row, plane, left, Wq, target, row, c)
    for c in range(first + 2 * pairs, last):
        _take_column(source, even_row, plane, left, Wq, target, row, c)


@njit(inline="always", **NJIT_OPTIONS)
def _take_column(source, even_row, plane, left, Wq, target, row, c):
    j = (c + left) // 2
    if 0 <= j < Wq:
        target[row + c] = source[even_row + (c + left) % 2 * plane + j]
