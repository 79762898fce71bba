"""Max pooling over (R, S) windows with a stride, no padding, for NCHW arrays.

Both passes take the (n, c) planes in ``blocks`` runs, one run per parallel
task (the engine picks a few per thread).
"""

from numba import njit, prange

from ._options import NJIT_OPTIONS, PARALLEL_OPTIONS


@njit(**NJIT_OPTIONS, inline="always")
def _window_max(xp, corner, R, S, W):
    """(max, flat index) of the window at ``corner`` of plane xp (H*W,), for a plane without NaN."""
    best, at = xp[corner], corner
    for r in range(R):
        for s in range(S):
            i = corner + r * W + s
            v = xp[i]
            take = v > best
            best = v if take else best
            at = i if take else at
    return best, at


@njit(**NJIT_OPTIONS, inline="always")
def _window_max_or_nan(xp, corner, R, S, W):
    """As :func:`_window_max`, with PyTorch's NaN rule (the last NaN wins); a NaN test per value costs 4x."""
    best, at = xp[corner], corner
    for r in range(R):
        for s in range(S):
            i = corner + r * W + s
            v = xp[i]
            if v > best or v != v:
                best = v
                at = i
    return best, at


@njit(**PARALLEL_OPTIONS)
def max_pool_forward(x, out, argmax, R, S, stride_h, stride_w, blocks):
    """out[n, c, p, q] = max of x[n, c] over its window; argmax holds h*W + w of that max.

    x (N, C, H, W); out and argmax (N, C, P, Q), overwritten; the planes
    split into ``blocks`` tasks. PyTorch's rule: the first of equal maxima
    in row-major window order wins, and a NaN is the max (the last NaN).
    Planes holding a NaN take the slower loop that tests for it.
    """
    N, C, H, W = x.shape
    P, Q = out.shape[2], out.shape[3]
    planes = N * C
    x_planes = x.reshape(planes, H * W)
    out_planes = out.reshape(planes, P * Q)
    at_planes = argmax.reshape(planes, P * Q)
    for block in prange(blocks):
        for plane in range(block * planes // blocks, (block + 1) * planes // blocks):
            xp, op, ap = x_planes[plane], out_planes[plane], at_planes[plane]
            nans = 0
            for i in range(H * W):
                nans += xp[i] != xp[i]
            if nans:
                for p in range(P):
                    for q in range(Q):
                        corner = p * stride_h * W + q * stride_w
                        op[p * Q + q], ap[p * Q + q] = _window_max_or_nan(xp, corner, R, S, W)
            else:
                for p in range(P):
                    for q in range(Q):
                        corner = p * stride_h * W + q * stride_w
                        op[p * Q + q], ap[p * Q + q] = _window_max(xp, corner, R, S, W)


@njit(**PARALLEL_OPTIONS)
def max_pool_backward(grad_out, argmax, grad_x, blocks):
    """Route each output gradient to the input pixel that was the max.

    grad_out and argmax (N, C, P, Q); grad_x (N, C, H, W), overwritten
    (zeros but at the maxima). ``blocks`` tasks of whole planes, so
    overlapping windows add up without races.
    """
    N, C, H, W = grad_x.shape
    P, Q = grad_out.shape[2], grad_out.shape[3]
    planes = N * C
    grad_planes = grad_out.reshape(planes, P * Q)
    at_planes = argmax.reshape(planes, P * Q)
    x_planes = grad_x.reshape(planes, H * W)
    for block in prange(blocks):
        for plane in range(block * planes // blocks, (block + 1) * planes // blocks):
            gx, g, at = x_planes[plane], grad_planes[plane], at_planes[plane]
            gx[:] = 0
            for i in range(P * Q):
                gx[at[i]] += g[i]
