"""Pooling layers over NCHW arrays, on :mod:`fastconv.pool`: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d."""

from .. import pool as F
from .._geometry import int_pair, optional_int_pair, positive_int
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
        return F.route_to_maxima(grad, self._argmax, self._input_shape)


class AvgPool2d(Layer):
    """Mean over (R, S) windows, as torch.nn.AvgPool2d (same arguments and defaults).

    Input (N, C, H, W) -> output (N, C, P, Q) with
    ``P = (H + 2*padding_h - R) // stride_h + 1`` (rounded up with
    ceil_mode); see :func:`fastconv.pool.avg_pool2d` for the divisor rules.
    """

    input_ndim = 4

    def __init__(
        self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None
    ):
        super().__init__()
        self.kernel_size = int_pair(kernel_size, "kernel_size", 1)
        self.stride = self.kernel_size if stride is None else int_pair(stride, "stride", 1)
        self.padding = int_pair(padding, "padding", 0)
        self.ceil_mode, self.count_include_pad = bool(ceil_mode), bool(count_include_pad)
        self.divisor_override = None if divisor_override is None else positive_int(divisor_override, "divisor_override")
        # Padding larger than half the window is refused now rather than at the first forward.
        F.avg_pool_geometry((1, 1, *self.kernel_size), **self._options())

    def _options(self):
        return dict(
            kernel_size=self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            ceil_mode=self.ceil_mode,
            count_include_pad=self.count_include_pad,
            divisor_override=self.divisor_override,
        )

    def config(self):
        return self._options()

    def _forward(self, x):
        self._input_shape = x.shape
        return F.avg_pool2d(x, **self._options())

    def _backward(self, grad, need_input_grad):
        if not need_input_grad:
            return None
        return F.avg_pool2d_grad_input(grad, self._input_shape, **self._options())


class AdaptiveAvgPool2d(Layer):
    """Mean over PyTorch's adaptive windows to a fixed output size, as torch.nn.AdaptiveAvgPool2d.

    Input (N, C, H, W) -> output (N, C, P, Q) for output_size (P, Q) (an int
    for both; None keeps that input size). ``AdaptiveAvgPool2d(1)`` is global
    average pooling, computed as a plain mean; follow it with ``Flatten()``
    to feed a Linear layer with (N, C).
    """

    input_ndim = 4

    def __init__(self, output_size):
        super().__init__()
        P, Q = optional_int_pair(output_size, "output_size")
        self.output_size = P if P == Q and P is not None else (P, Q)

    def config(self):
        return dict(output_size=self.output_size)

    def _forward(self, x):
        self._input_shape = x.shape
        return F.adaptive_avg_pool2d(x, self.output_size)

    def _backward(self, grad, need_input_grad):
        if not need_input_grad:
            return None
        return F.adaptive_avg_pool2d_grad_input(grad, self._input_shape)
