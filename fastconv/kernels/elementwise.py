"""Per-channel and elementwise passes over NCHW arrays: batch normalisation, bias and ReLU.

Each is one sweep over contiguous planes (vectorised), in parallel over
channels (reductions) or (n, c) planes (elementwise). Reductions accumulate
in float64; elementwise passes compute in the array's dtype with per-channel
coefficients the caller computed in float64 and cast. A ReLU that follows a
layer can be applied in its output pass (``rectify``): one sweep instead of
two. (Applying the ReLU's gradient inside BatchNorm2d's gradient passes was
measured too, and was 10-15% slower than the two passes.) Zeros are written
as the dtype's own zero: an int 0 in a ``v if c else 0`` made the loop
promote and not vectorise (ReLU 3.5x slower).
"""

from numba import njit, prange

from ._options import NJIT_OPTIONS, PARALLEL_OPTIONS


@njit(**NJIT_OPTIONS, inline="always")
def _rectified(v, zero):
    """max(v, 0) that keeps NaN; ``zero`` of v's dtype (an int 0 would make the loops promote)."""
    return v if not v <= 0 else zero


@njit(**PARALLEL_OPTIONS)
def channel_statistics(x, mean, centred_squares):
    """mean[c] of x (N, C, H, W) over (n, h, w), and the sum of (x - mean[c])^2; both (C,) float64."""
    N, C, H, W = x.shape
    planes = x.reshape(N, C, H * W)
    count = N * H * W
    for c in prange(C):
        total = 0.0
        for n in range(N):
            plane = planes[n, c]
            for i in range(H * W):
                total += plane[i]
        m = total / count
        squares = 0.0
        for n in range(N):
            plane = planes[n, c]
            for i in range(H * W):
                d = plane[i] - m
                squares += d * d
        mean[c] = m
        centred_squares[c] = squares


@njit(**PARALLEL_OPTIONS)
def scale_and_shift(x, scale, shift, out, rectify):
    """out = x * scale[c] + shift[c], then max(., 0) if ``rectify``; x and out (N, C, H, W), scale and shift (C,).

    out may be x (in place). NaN stays NaN.
    """
    N, C, H, W = x.shape
    x_planes = x.reshape(N * C, H * W)
    out_planes = out.reshape(N * C, H * W)
    zero = x.dtype.type(0)
    for nc in prange(N * C):
        c = nc % C
        a, b = scale[c], shift[c]
        xp, op = x_planes[nc], out_planes[nc]
        if rectify:
            for i in range(H * W):
                v = xp[i] * a + b
                op[i] = _rectified(v, zero)
        else:
            for i in range(H * W):
                op[i] = xp[i] * a + b


@njit(**PARALLEL_OPTIONS)
def gradient_sums(grad, x, mean, grad_sum, centred_grad_sum):
    """Over (n, h, w): grad_sum[c] = sum of grad, centred_grad_sum[c] = sum of grad * (x - mean[c]).

    grad and x (N, C, H, W); mean (C,) float64; the sums (C,) float64.
    """
    N, C, H, W = x.shape
    grad_planes = grad.reshape(N, C, H * W)
    x_planes = x.reshape(N, C, H * W)
    for c in prange(C):
        m = mean[c]
        total, centred = 0.0, 0.0
        for n in range(N):
            gp, xp = grad_planes[n, c], x_planes[n, c]
            for i in range(H * W):
                g = gp[i]
                total += g
                centred += g * (xp[i] - m)
        grad_sum[c] = total
        centred_grad_sum[c] = centred


@njit(**PARALLEL_OPTIONS)
def normalisation_grad_input(grad, x, grad_scale, centre, centred_scale, offset, out):
    """out = grad_scale[c] * grad + centred_scale[c] * (x - centre[c]) + offset[c].

    grad, x and out (N, C, H, W); the coefficients (C,) of their dtype.
    """
    N, C, H, W = x.shape
    grad_planes = grad.reshape(N * C, H * W)
    x_planes = x.reshape(N * C, H * W)
    out_planes = out.reshape(N * C, H * W)
    for nc in prange(N * C):
        c = nc % C
        a, m, b, d = grad_scale[c], centre[c], centred_scale[c], offset[c]
        gp, xp, op = grad_planes[nc], x_planes[nc], out_planes[nc]
        for i in range(H * W):
            op[i] = a * gp[i] + b * (xp[i] - m) + d


@njit(**PARALLEL_OPTIONS)
def relu(x, out):
    """out = max(x, 0) for x and out of the same shape, flattened to (rows, columns); NaN stays NaN."""
    rows, columns = x.shape
    zero = x.dtype.type(0)
    for row in prange(rows):
        xr, orow = x[row], out[row]
        for i in range(columns):
            v = xr[i]
            orow[i] = _rectified(v, zero)


@njit(**PARALLEL_OPTIONS)
def relu_grad_input(grad, out, grad_x):
    """grad_x = grad where the ReLU's output ``out`` is positive, else 0; all (rows, columns)."""
    rows, columns = grad.shape
    zero = grad.dtype.type(0)
    for row in prange(rows):
        gr, orow, xr = grad[row], out[row], grad_x[row]
        for i in range(columns):
            xr[i] = gr[i] if orow[i] > 0 else zero


@njit(**PARALLEL_OPTIONS)
def add_bias(out, bias, rectify):
    """out[n, k] += bias[k] in place, then max(., 0) if ``rectify``; out (N, K, P*Q), bias (K,) of its dtype."""
    N, K, pixels = out.shape
    zero = out.dtype.type(0)
    for nk in prange(N * K):
        n, k = nk // K, nk % K
        row, b = out[n, k], bias[k]
        if rectify:
            for i in range(pixels):
                v = row[i] + b
                row[i] = _rectified(v, zero)
        else:
            for i in range(pixels):
                row[i] += b
