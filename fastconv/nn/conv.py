"""Conv2d: the lecture's convolution layer S = X * F + b, on fastconv's kernels."""

import numpy as np

from .. import conv as F
from .._geometry import (
    check_groups,
    check_method,
    check_method_applies,
    conv_options,
    float_dtype,
    int_pair,
    positive_int,
)
from .layer import Layer, as_generator


class Conv2d(Layer):
    """2-D convolution layer with PyTorch's arguments; He-initialised weights.

    Input (N, in_channels, H, W) -> output (N, out_channels, P, Q).
    Parameters: ``weight`` (out_channels, in_channels/groups, R, S) and
    ``bias`` (out_channels,). ``method`` picks the kernels of every pass.
    """

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups=1,
        bias=True,
        method="auto",
        *,
        dtype=np.float32,
        rng=None,
    ):
        super().__init__()
        in_channels = positive_int(in_channels, "in_channels")
        out_channels = positive_int(out_channels, "out_channels")
        R, S = int_pair(kernel_size, "kernel_size", 1)
        self.options = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
        weight_shape = (out_channels, in_channels // check_groups(groups), R, S)
        stride_pair, dilation_pair, _ = conv_options(
            in_channels, weight_shape, input_name="in_channels", weight_name="out_channels/kernel_size", **self.options
        )
        self.method = check_method(method)
        check_method_applies(self.method, (R, S), stride_pair, dilation_pair)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = (R, S)
        self.dtype = float_dtype(dtype)
        fan_in = weight_shape[1] * R * S
        rng = as_generator(rng)
        self.params["weight"] = (rng.standard_normal(weight_shape) * np.sqrt(2.0 / fan_in)).astype(self.dtype)
        if bias:
            self.params["bias"] = np.zeros(out_channels, dtype=self.dtype)

    def config(self):
        return dict(
            in_channels=self.in_channels,
            out_channels=self.out_channels,
            kernel_size=self.kernel_size,
            **self.options,
            bias="bias" in self.params,
            method=self.method,
            dtype=self.dtype.name,
        )

    input_ndim = 4

    def _forward(self, x):
        self._x = x
        return F.conv2d(x, self.params["weight"], self.params.get("bias"), method=self.method, **self.options)

    def _backward(self, grad, need_input_grad):
        x = self._x
        weight = self.params["weight"]
        self.grads["weight"] = F.conv2d_grad_weight(grad, x, weight.shape, method=self.method, **self.options)
        if "bias" in self.params:
            self.grads["bias"] = F.conv2d_grad_bias(grad)
        if not need_input_grad:
            return None
        return F.conv2d_grad_input(grad, weight, x.shape, method=self.method, **self.options)
