"""MaxPool2d over NCHW arrays, on :mod:`fastconv.pool`."""

from .. import pool as F
from .._geometry import int_pair
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

    input_ndim = 4

    def _forward(self, x):
        out, self._argmax = F.max_pool2d(x, self.kernel_size, self.stride)
        self._input_shape = x.shape
        return out

    def _backward(self, grad, need_input_grad):
        if not need_input_grad:
            return None
        return F.max_pool2d_grad_input(grad, self._argmax, self._input_shape)
