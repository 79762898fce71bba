"""im2col and its adjoint col2im, for a chunk of images and one channel group.

The column matrix of images ``n0 .. n0+nb`` and channels ``c0 .. c0+Cg`` has
shape (Cg*R*S, nb*P*Q)::

    cols[(c*R + r)*S + s, (i*P + p)*Q + q] = x[n0+i, c0+c, p*stride_h - pad_top + r*dilation_h,
                                                          q*stride_w - pad_left + s*dilation_w]

(zero where that falls in the padding). For one image, one group, stride 1 and
no padding this is the transpose of the lecture's M_X^im, with filters
vectorised in C order over (c, r, s): ``vec(S_k) = cols.T @ weight[k].ravel()``.
Rows are filter taps and columns output pixels, so a forward pass is the single
GEMM ``weight.reshape(K, -1) @ cols`` with the batch folded into the columns.
"""

from numba import njit, prange

from ._options import PARALLEL_OPTIONS
from ._simd import add_strided, copy_run, copy_strided
from ._window import valid_range

TASK_PIXELS = 256  # im2col: output pixels one task fills per tap row, at most (or one image, when larger)


@njit(**PARALLEL_OPTIONS)
def im2col(x, cols, n0, c0, R, S, P, Q, stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w):
    """Fill cols (Cg*R*S, nb*P*Q) from x (N, C, H, W); see the module docstring."""
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    taps, width = cols.shape
    nb = width // (P * Q)
    flat_x, flat_cols = x.reshape(-1), cols.reshape(-1)
    zero = cols.dtype.type(0)
    # A task fills one tap row for a run of whole images of at most TASK_PIXELS output pixels (or one); tap rows
    # outer, images inner, so neighbouring tasks write neighbouring runs of one row of cols and a cache
    # line is written whole while cached (image-major order wrote lines piecewise, far apart: 4x256x7x7
    # 3x3 float32 columns 0.52 ms, 0.34 in this order), and small planes share a task's index work
    # (8x512x4x4 1.05 -> 0.76 ms).
    per_task = max(1, TASK_PIXELS // (P * Q))
    runs = (nb + per_task - 1) // per_task
    for task in prange(taps * runs):
        row = task // runs
        first_image = (task - row * runs) * per_task
        c = row // (R * S)
        r = (row // S) % R
        s = row % S
        row_off = r * dilation_h - pad_top
        col_off = s * dilation_w - pad_left
        p_lo, p_hi = valid_range(row_off, stride_h, H, P)
        q_lo, q_hi = valid_range(col_off, stride_w, W, Q)
        for i in range(first_image, min(first_image + per_task, nb)):
            image = ((n0 + i) * C + c0 + c) * H * W
            for p in range(P):
                start = row * width + (i * P + p) * Q  # flat index of cols[row, (i*P + p)*Q]
                if p < p_lo or p >= p_hi:
                    flat_cols[start : start + Q] = zero
                    continue
                for q in range(q_lo):
                    flat_cols[start + q] = zero
                first = image + (p * stride_h + row_off) * W + q_lo * stride_w + col_off
                if stride_w == 1:
                    copy_run(flat_cols, start + q_lo, flat_x, first, q_hi - q_lo)
                else:
                    copy_strided(flat_cols, start + q_lo, 1, flat_x, first, stride_w, q_hi - q_lo)
                for q in range(q_hi, Q):
                    flat_cols[start + q] = zero


@njit(**PARALLEL_OPTIONS)
def col2im(cols, grad_x, n0, c0, R, S, P, Q, stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w):
    """Adjoint of :func:`im2col`: sum every column entry back onto its input pixel.

    cols (Cg*R*S, nb*P*Q); writes (overwrites) grad_x[n0:n0+nb, c0:c0+Cg] of
    grad_x (N, C, H, W). One (image, channel) plane per iteration, so entries
    that overlap (a pixel seen by several taps) are summed without races.
    """
    C, H, W = grad_x.shape[1], grad_x.shape[2], grad_x.shape[3]
    taps, width = cols.shape
    Cg = taps // (R * S)
    nb = width // (P * Q)
    flat_cols, flat_x = cols.reshape(-1), grad_x.reshape(-1)
    # Channels outer, images inner: neighbouring iterations read neighbouring runs of the same rows of
    # cols (the 32x64x28x28 3x3 float32 col2im 4.8 -> 2.4 ms against image-major order).
    for ic in prange(Cg * nb):
        c = ic // nb
        i = ic - c * nb
        base = i * P * Q
        plane = ((n0 + i) * C + c0 + c) * H * W
        flat_x[plane : plane + H * W] = 0
        for r in range(R):
            row_off = r * dilation_h - pad_top
            p_lo, p_hi = valid_range(row_off, stride_h, H, P)
            for s in range(S):
                col_off = s * dilation_w - pad_left
                q_lo, q_hi = valid_range(col_off, stride_w, W, Q)
                count = q_hi - q_lo
                row = (c * R + r) * S + s
                for p in range(p_lo, p_hi):
                    src = row * width + base + p * Q + q_lo
                    dst = plane + (p * stride_h + row_off) * W + q_lo * stride_w + col_off
                    if stride_w == 1:
                        # Contiguous on both sides: a loop the compiler vectorises.
                        target, source = flat_x[dst : dst + count], flat_cols[src : src + count]
                        for j in range(count):
                            target[j] += source[j]
                    else:
                        add_strided(flat_x, dst, stride_w, flat_cols, src, 1, count)
