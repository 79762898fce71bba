"""Max pooling over NCHW arrays, as torch.nn.functional.max_pool2d with its defaults (no padding).

The forward pass returns, beside the maxima, where each came from; the
backward pass routes each output gradient to that pixel.
"""

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._geometry import FloatArray, IntPair, Shape4, as_float_array, int_pair
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
    if argmax.dtype != np.int64 or argmax.shape != grad_output.shape:
        raise ValueError(f"grad_output must have the shape of argmax {argmax.shape}, got {grad_output.shape}")
    N, C, H, W = input_shape
    if grad_output.shape[:2] != (N, C):
        raise ValueError(f"grad_output must have shape (N, C, P, Q) = ({N}, {C}, ...), got {grad_output.shape}")
    if argmax.size and (argmax.min() < 0 or argmax.max() >= H * W):
        raise ValueError(f"argmax must hold indices into planes of {H}x{W}")
    grad_x = np.zeros(input_shape, dtype=grad_output.dtype)
    return max_pool_backward(np.ascontiguousarray(grad_output), np.ascontiguousarray(argmax), grad_x)
