"""MaxPool2d over NCHW arrays, on compiled kernels."""

import numpy as np

from .._geometry import int_pair
from ..kernels.pool import max_pool_backward, max_pool_forward
from .layer import Layer


class MaxPool2d(Layer):
    """Max over (R, S) windows moved by ``stride`` (default: the window), no padding.

    Input (N, C, H, W) -> output (N, C, (H-R)//stride_h + 1, (W-S)//stride_w + 1),
    as torch.nn.MaxPool2d with its defaults.
    """

    def __init__(self, kernel_size, stride=None):
        super().__init__()
        self.kernel_size = int_pair(kernel_size, "kernel_size", 1)
        self.stride = self.kernel_size if stride is None else int_pair(stride, "stride", 1)

    def config(self):
        return dict(kernel_size=self.kernel_size, stride=self.stride)

    def forward(self, x):
        if x.ndim != 4:
            raise ValueError(f"MaxPool2d expects (N, C, H, W) input, got shape {x.shape}")
        N, C, H, W = x.shape
        (R, S), (sh, sw) = self.kernel_size, self.stride
        if R > H or S > W:
            raise ValueError(f"MaxPool2d window {R}x{S} is larger than the input {H}x{W}")
        x = np.ascontiguousarray(x)
        out = np.empty((N, C, (H - R) // sh + 1, (W - S) // sw + 1), dtype=x.dtype)
        argmax = np.empty(out.shape, dtype=np.int64)
        if out.size:
            max_pool_forward(x, out, argmax, R, S, sh, sw)
        self._argmax, self._input_shape = argmax, x.shape
        return out

    def backward(self, grad, need_input_grad=True):
        argmax = self._cached("_argmax")
        if not need_input_grad:
            return None
        grad_x = np.zeros(self._input_shape, dtype=grad.dtype)
        if grad.size:
            max_pool_backward(np.ascontiguousarray(grad), argmax, grad_x)
        return grad_x
