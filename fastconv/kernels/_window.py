"""Which output positions see a given filter tap inside the (unpadded) input, and which filter rows a
range of output rows sees it with."""

import numpy as np
from numba import njit

from ._options import NJIT_OPTIONS


@njit(inline="always", **NJIT_OPTIONS)
def valid_range(offset, stride, size, n_out):
    """Output indices ``o`` in ``[lo, hi)`` with ``0 <= o*stride + offset < size``.

    ``offset`` is ``tap*dilation - pad_before``. Positions outside that range
    read the zero padding, so loops skip them instead of materialising padding.
    """
    if offset >= 0:
        lo = 0
    else:
        lo = (-offset + stride - 1) // stride
    last = size - 1 - offset
    if last < 0:
        return 0, 0
    hi = min(last // stride + 1, n_out)
    return min(lo, hi), hi


@njit(**NJIT_OPTIONS)
def tile_filter_rows(tiles, per_tile, per_row, limit, stride_h, top, h, R, dilation_h, planes):
    """bounds (tiles, 2): the filter rows [lo, hi) that tile t needs, the others reading padding only.

    Tile t covers items t*per_tile .. min(t*per_tile + per_tile, planes*limit) - 1
    of ``planes`` planes of ``limit`` items each, in output rows of ``per_row``
    items (pixels or vectors); output row p reads padded rows p*stride_h +
    r*dilation_h, of which rows top..top+h-1 hold the image. A tile that spans
    two planes needs the rows of every output row. Computed once per call, so
    that the tiles pay no division.
    """
    bounds = np.empty((tiles, 2), dtype=np.intp)
    total = planes * limit
    for t in range(tiles):
        first = min(t * per_tile, total - 1)
        last = min(t * per_tile + per_tile, total) - 1
        plane = first // limit
        if last // limit != plane:
            first, last = plane * limit, plane * limit + limit - 1
        first_row = (first - plane * limit) // per_row * stride_h
        last_row = (last - plane * limit) // per_row * stride_h
        lo = max(0, -((last_row - top) // dilation_h))  # ceil((top - last_row) / dilation_h)
        hi = min(R, (top + h - 1 - first_row) // dilation_h + 1)
        bounds[t, 0], bounds[t, 1] = lo, max(lo, hi)
    return bounds


@njit(inline="always", **NJIT_OPTIONS)
def row_runs(lo, hi, channels, R, S):
    """Filter rows lo..hi-1 of every channel as runs of taps (see ``_simd.TAP_RUNS``), taps (c, r, s) in
    C order."""
    return (lo * S, (hi - lo) * S, channels, R * S)
