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
        self.options = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
        shapes = self.parameter_shapes(
            dict(in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size, groups=groups, bias=bias)
        )
        self.out_channels, self.in_channels = shapes["weight"][0], int(in_channels)
        self.kernel_size, self.has_bias = shapes["weight"][2:], "bias" in shapes
        stride_pair, dilation_pair, _ = conv_options(
            self.in_channels,
            shapes["weight"],
            input_name="in_channels",
            weight_name="out_channels/kernel_size",
            **self.options,
        )
        self.method = check_method(method)
        check_method_applies(self.method, self.kernel_size, stride_pair, dilation_pair)
        self.dtype = float_dtype(dtype)
        self._he_initialise(shapes, as_generator(rng))

    @classmethod
    def parameter_shapes(cls, config):
        """{"weight": (out_channels, in_channels/groups, R, S), "bias": (out_channels,)}, from a checked config."""
        in_channels = positive_int(config["in_channels"], "in_channels")
        out_channels = positive_int(config["out_channels"], "out_channels")
        R, S = int_pair(config["kernel_size"], "kernel_size", 1)
        shapes = {"weight": (out_channels, in_channels // check_groups(config.get("groups", 1)), R, S)}
        if config.get("bias", True):
            shapes["bias"] = (out_channels,)
        return shapes

    def config(self):
        return dict(
            in_channels=self.in_channels,
            out_channels=self.out_channels,
            kernel_size=self.kernel_size,
            **self.options,
            bias=self.has_bias,
            method=self.method,
            dtype=self.dtype.name,
        )

    input_ndim = 4

    def _forward(self, x):
        if x.shape[1] != self.in_channels:
            raise ValueError(f"Conv2d expects input of shape (N, {self.in_channels}, H, W), got {x.shape}")
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
