"""Pooling over NCHW arrays, as torch.nn.functional's max_pool2d (its defaults, no padding), avg_pool2d
and adaptive_avg_pool2d, with their input gradients.

Max pooling returns, beside the maxima, where each came from; its backward
pass routes each output gradient to that pixel. Average pooling is NumPy:
one strided pass per window tap (no per-sample work); adaptive average
pooling is a product with the (output, input) window matrices of each axis,
and a plain mean for the global (1, 1) output.
"""

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._geometry import (
    FloatArray,
    IntPair,
    Shape4,
    as_float_array,
    int_pair,
    optional_int_pair,
    positive_int,
    shape4,
)
from .engine import max_pool_backward, max_pool_forward


def pool_output_shape(input_shape: Shape4, kernel_size: tuple[int, int], stride: tuple[int, int]) -> Shape4:
    """(N, C, P, Q) of pooling (N, C, H, W) with (R, S) windows moved by ``stride``; ValueError if too small."""
    N, C, H, W = input_shape
    (R, S), (sh, sw) = kernel_size, stride
    if R > H or S > W:
        raise ValueError(f"pooling window {R}x{S} is larger than the input {H}x{W}")
    return (N, C, (H - R) // sh + 1, (W - S) // sw + 1)


def max_pool2d(
    x: ArrayLike, kernel_size: IntPair, stride: IntPair | None = None
) -> tuple[FloatArray, NDArray[np.int64]]:
    """Max over (R, S) windows moved by ``stride`` (default: the window).

    Parameters
    ----------
    x : array (N, C, H, W), float32 or float64
    kernel_size, stride : int or (int, int)

    Returns
    -------
    out : array (N, C, P, Q), P = (H - R) // stride_h + 1, Q likewise
    argmax : int64 array (N, C, P, Q), the flat index h*W + w of each maximum in its plane
    """
    x = as_float_array(x, "x", 4)
    kernel_size = int_pair(kernel_size, "kernel_size", 1)
    stride = kernel_size if stride is None else int_pair(stride, "stride", 1)
    shape = pool_output_shape(x.shape, kernel_size, stride)
    out = np.empty(shape, dtype=x.dtype)
    argmax = np.empty(shape, dtype=np.int64)
    return max_pool_forward(np.ascontiguousarray(x), out, argmax, kernel_size, stride)


def max_pool2d_grad_input(grad_output: ArrayLike, argmax: ArrayLike, input_shape: Shape4) -> FloatArray:
    """Gradient of :func:`max_pool2d` with respect to its input.

    Parameters
    ----------
    grad_output : array (N, C, P, Q)
    argmax : int64 array (N, C, P, Q), as :func:`max_pool2d` returned it
    input_shape : tuple (N, C, H, W)

    Returns
    -------
    grad_input : array (N, C, H, W)
    """
    grad_output = as_float_array(grad_output, "grad_output", 4)
    argmax = np.asarray(argmax)
    if argmax.dtype != np.int64:
        raise TypeError(f"argmax must be an int64 array, as max_pool2d returns it, got {argmax.dtype}")
    if argmax.shape != grad_output.shape:
        raise ValueError(f"grad_output must have the shape of argmax {argmax.shape}, got {grad_output.shape}")
    N, C, H, W = input_shape = shape4(input_shape, "input_shape")
    if grad_output.shape[:2] != (N, C):
        raise ValueError(f"grad_output must have shape (N, C, P, Q) = ({N}, {C}, ...), got {grad_output.shape}")
    if argmax.size and (argmax.min() < 0 or argmax.max() >= H * W):
        raise ValueError(f"argmax must hold indices into planes of {H}x{W}")
    return route_to_maxima(grad_output, argmax, input_shape)


def route_to_maxima(grad_output: FloatArray, argmax: NDArray[np.int64], input_shape: Shape4) -> FloatArray:
    """:func:`max_pool2d_grad_input` without its checks, for an argmax that max_pool2d made (MaxPool2d's)."""
    grad_x = np.empty(input_shape, dtype=grad_output.dtype)
    return max_pool_backward(np.ascontiguousarray(grad_output), np.ascontiguousarray(argmax), grad_x)


class AvgPoolGeometry(NamedTuple):
    """Input and output shapes, padded plane and divisor (P, Q) of one average pooling."""

    input_shape: Shape4
    output_shape: Shape4
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    padded_size: tuple[int, int]
    divisor: NDArray[np.float64]


def _avg_pool_axis(size, k, s, pad, ceil_mode, count_include_pad, axis):
    """Outputs along one axis and each window's count, by PyTorch's rule (avg_pool2d's CPU kernel)."""
    if pad > k // 2:
        raise ValueError(f"padding must be at most half of kernel_size, got padding {pad} and kernel size {k} ({axis})")
    out = (size + 2 * pad - k + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + pad:
        out -= 1  # the last window must start inside the input or its left padding
    if out < 1:
        raise ValueError(f"pooling window {k} is larger than the padded input {size + 2 * pad} ({axis})")
    starts = np.arange(out) * s - pad
    ends = np.minimum(starts + k, size + pad)
    counts = ends - starts if count_include_pad else np.minimum(ends, size) - np.maximum(starts, 0)
    return out, max((out - 1) * s + k, size + pad), counts


def avg_pool_geometry(
    input_shape: Shape4,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> AvgPoolGeometry:
    """Check the arguments of :func:`avg_pool2d` and work out its geometry."""
    N, C, H, W = shape4(input_shape, "input_shape")
    kernel_size = int_pair(kernel_size, "kernel_size", 1)
    stride = kernel_size if stride is None else int_pair(stride, "stride", 1)
    padding = int_pair(padding, "padding", 0)
    axes = [
        _avg_pool_axis(size, k, s, pad, bool(ceil_mode), bool(count_include_pad), axis)
        for size, k, s, pad, axis in zip((H, W), kernel_size, stride, padding, ("height", "width"))
    ]
    (P, Hp, counts_h), (Q, Wp, counts_w) = axes
    if divisor_override is None:
        divisor = np.outer(counts_h, counts_w).astype(np.float64)
    else:
        divisor = np.full((P, Q), positive_int(divisor_override, "divisor_override"), dtype=np.float64)
    return AvgPoolGeometry((N, C, H, W), (N, C, P, Q), kernel_size, stride, padding, (Hp, Wp), divisor)


def _taps(geom):
    """For each window tap (r, s), the strided slices of the padded plane it reads."""
    (_, _, P, Q), (R, S), (sh, sw) = geom.output_shape, geom.kernel_size, geom.stride
    for r in range(R):
        for s in range(S):
            yield slice(r, r + sh * (P - 1) + 1, sh), slice(s, s + sw * (Q - 1) + 1, sw)


def avg_pool2d(
    x: ArrayLike,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> FloatArray:
    """Mean over (R, S) windows, as torch.nn.functional.avg_pool2d.

    Parameters
    ----------
    x : array (N, C, H, W), float32 or float64
    kernel_size, stride : int or (int, int); stride defaults to kernel_size
    padding : int or (int, int), at most half the window; zeros on both sides
    ceil_mode : bool
        Round the output size up (a last, partial window that starts inside
        the input or its left padding).
    count_include_pad : bool
        Divide by the window's size within the padded input (True) or by its
        number of input pixels (False).
    divisor_override : int, optional
        Divide every sum by this instead.

    Returns
    -------
    out : array (N, C, P, Q), P = (H + 2*pad_h - R) // stride_h + 1 (rounded up with ceil_mode)
    """
    x = as_float_array(x, "x", 4)
    geom = avg_pool_geometry(x.shape, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
    N, C, H, W = x.shape
    (ph, pw), (Hp, Wp) = geom.padding, geom.padded_size
    if (Hp, Wp) == (H, W):
        padded = x
    else:
        padded = np.zeros((N, C, Hp, Wp), dtype=x.dtype)
        padded[:, :, ph : ph + H, pw : pw + W] = x
    out = np.zeros(geom.output_shape, dtype=x.dtype)
    for rows, cols in _taps(geom):
        out += padded[:, :, rows, cols]
    out /= geom.divisor.astype(x.dtype)
    return out


def avg_pool2d_grad_input(
    grad_output: ArrayLike,
    input_shape: Shape4,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> FloatArray:
    """Gradient of :func:`avg_pool2d` with respect to its input.

    Parameters
    ----------
    grad_output : array (N, C, P, Q)
    input_shape : tuple (N, C, H, W)
    kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override : as in :func:`avg_pool2d`

    Returns
    -------
    grad_input : array (N, C, H, W): each output's gradient over its divisor, spread over its window
    """
    grad_output = as_float_array(grad_output, "grad_output", 4)
    geom = avg_pool_geometry(input_shape, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
    if grad_output.shape != geom.output_shape:
        raise ValueError(f"grad_output must have shape {geom.output_shape} for this pooling, got {grad_output.shape}")
    N, C, H, W = geom.input_shape
    (ph, pw), (Hp, Wp) = geom.padding, geom.padded_size
    share = grad_output / geom.divisor.astype(grad_output.dtype)
    padded = np.zeros((N, C, Hp, Wp), dtype=grad_output.dtype)
    for rows, cols in _taps(geom):
        padded[:, :, rows, cols] += share
    if (Hp, Wp) == (H, W):
        return padded
    return np.ascontiguousarray(padded[:, :, ph : ph + H, pw : pw + W])


def _adaptive_windows(size, out):
    """(out, size) 0/1 matrix of PyTorch's adaptive windows [floor(i*size/out), ceil((i+1)*size/out)) and their counts."""
    i = np.arange(out)
    starts = (i * size) // out
    ends = -((-(i + 1) * size) // out)
    positions = np.arange(size)
    windows = (positions >= starts[:, None]) & (positions < ends[:, None])
    return windows, (ends - starts)


def adaptive_output_size(input_shape: Shape4, output_size: int | tuple[int | None, int | None]) -> Shape4:
    """(N, C, P, Q) of :func:`adaptive_avg_pool2d`; a None entry keeps the input's size."""
    N, C, H, W = shape4(input_shape, "input_shape")
    if H == 0 or W == 0:
        raise ValueError(f"adaptive pooling needs input planes of at least 1x1, got {H}x{W}")
    P, Q = optional_int_pair(output_size, "output_size")
    return (N, C, H if P is None else P, W if Q is None else Q)


def adaptive_avg_pool2d(x: ArrayLike, output_size: int | tuple[int | None, int | None]) -> FloatArray:
    """Mean over PyTorch's adaptive windows, as torch.nn.functional.adaptive_avg_pool2d.

    Output row i averages input rows floor(i*H/P) to ceil((i+1)*H/P) - 1,
    columns likewise; any output size works (windows overlap when P does not
    divide H). Output (1, 1) is global average pooling: a plain mean.

    Parameters
    ----------
    x : array (N, C, H, W), float32 or float64
    output_size : int or (int or None, int or None); None keeps that input size

    Returns
    -------
    out : array (N, C, P, Q)
    """
    x = as_float_array(x, "x", 4)
    N, C, P, Q = adaptive_output_size(x.shape, output_size)
    H, W = x.shape[2:]
    if (P, Q) == (1, 1):
        return x.mean(axis=(2, 3), keepdims=True, dtype=x.dtype)
    rows, count_h = _adaptive_windows(H, P)
    cols, count_w = _adaptive_windows(W, Q)
    sums = np.tensordot(x, cols.astype(x.dtype), axes=([3], [1]))  # (N, C, H, Q)
    sums = np.tensordot(rows.astype(x.dtype), sums, axes=([1], [2]))  # (P, N, C, Q)
    out = np.ascontiguousarray(sums.transpose(1, 2, 0, 3))
    out /= np.outer(count_h, count_w).astype(x.dtype)
    return out


def adaptive_avg_pool2d_grad_input(grad_output: ArrayLike, input_shape: Shape4) -> FloatArray:
    """Gradient of :func:`adaptive_avg_pool2d` with respect to its input.

    Parameters
    ----------
    grad_output : array (N, C, P, Q); (P, Q) is the output size
    input_shape : tuple (N, C, H, W)

    Returns
    -------
    grad_input : array (N, C, H, W)
    """
    grad_output = as_float_array(grad_output, "grad_output", 4)
    N, C, H, W = shape4(input_shape, "input_shape")
    if grad_output.shape[:2] != (N, C):
        raise ValueError(f"grad_output must have shape (N, C, P, Q) = ({N}, {C}, ...), got {grad_output.shape}")
    P, Q = grad_output.shape[2:]
    dtype = grad_output.dtype
    if (P, Q) == (1, 1):
        return np.broadcast_to(grad_output / dtype.type(H * W), (N, C, H, W)).copy()
    rows, count_h = _adaptive_windows(H, P)
    cols, count_w = _adaptive_windows(W, Q)
    share = grad_output / np.outer(count_h, count_w).astype(dtype)
    spread = np.tensordot(share, cols.astype(dtype), axes=([3], [0]))  # (N, C, P, W)
    spread = np.tensordot(rows.astype(dtype), spread, axes=([0], [2]))  # (H, N, C, W)
    return np.ascontiguousarray(spread.transpose(1, 2, 0, 3))
