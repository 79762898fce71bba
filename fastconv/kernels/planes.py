"""Zero-padded copies of image planes, for the kernels that read whole padded rows."""

from numba import njit, prange

from ._options import NJIT_OPTIONS, PARALLEL_OPTIONS
from ._simd import copy_run


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
