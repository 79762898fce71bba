"""Zero-padded copies of image planes, for the kernels that read whole padded rows, and the stride
phases of padded planes (strided layers computed at stride 1)."""

from numba import njit, prange

from ._options import NJIT_OPTIONS, PARALLEL_OPTIONS
from ._simd import copy_run, copy_strided
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
    for a in range(stride_h):
        i_lo, i_hi = valid_range(a - top, stride_h, H, Hq)
        for b in range(stride_w):
            j_lo, j_hi = valid_range(b - left, stride_w, W, Wq)
            phase = base + (a * stride_w + b) * Hq * Wq
            target[phase : phase + Hq * Wq] = 0
            for i in range(i_lo, i_hi):
                row = start + (i * stride_h + a - top) * W + j_lo * stride_w + b - left
                copy_strided(target, phase + i * Wq + j_lo, 1, source, row, stride_w, j_hi - j_lo)


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
        target[nc * H * W : (nc + 1) * H * W] = 0
        for a in range(stride_h):
            i_lo, i_hi = valid_range(a - top, stride_h, H, Hq)
            for b in range(stride_w):
                j_lo, j_hi = valid_range(b - left, stride_w, W, Wq)
                plane = ((nc * stride_h + a) * stride_w + b) * Hq * Wq
                for i in range(i_lo, i_hi):
                    row = nc * H * W + (i * stride_h + a - top) * W
                    first = j_lo * stride_w + b - left
                    copy_strided(target, row + first, stride_w, source, plane + i * Wq + j_lo, 1, j_hi - j_lo)
