"""Convolution layers on fastconv's kernels: Conv2d (the lecture's S = X * F + b), Conv1d and ConvTranspose2d."""

import numpy as np

from .. import conv as F
from .._geometry import (
    check_groups,
    check_method,
    check_method_applies,
    conv_options,
    float_dtype,
    int_pair,
    output_padding_pair,
    positive_int,
    single_int,
)
from ..engine import add_bias, relu
from .layer import Layer, as_generator


def _python_ints(value):
    """A checked int or sequence of ints as Python int(s)."""
    return tuple(int(v) for v in value) if isinstance(value, tuple | list) else int(value)


class _ConvLayer(Layer):
    """What the convolution layers share: checked arguments, He-initialised weight, zero bias."""

    input_ndim = 4
    transposed = False  # True: the weight is the one of the convolution whose input gradient the layer computes

    @classmethod
    def _shapes(cls, in_channels, out_channels, kernel_size, groups, bias):
        """{"weight": 4-D shape, "bias": (out_channels,)} from checked arguments.

        The weight is the one of the convolution the layer computes (or, for
        a transposed layer, of the convolution whose input gradient it is):
        (out_channels, in_channels/groups, R, S), or (in_channels,
        out_channels/groups, R, S) when ``transposed``, as in PyTorch.
        """
        in_channels = positive_int(in_channels, "in_channels")
        out_channels = positive_int(out_channels, "out_channels")
        R, S = int_pair(kernel_size, "kernel_size", 1)
        conv_in, conv_out = (out_channels, in_channels) if cls.transposed else (in_channels, out_channels)
        shapes = {"weight": (conv_out, conv_in // check_groups(groups), R, S)}
        if bias:
            shapes["bias"] = (out_channels,)
        return shapes

    @classmethod
    def parameter_shapes(cls, config):
        return cls._shapes(
            config["in_channels"],
            config["out_channels"],
            config["kernel_size"],
            config.get("groups", 1),
            config.get("bias", True),
        )

    def _setup(self, in_channels, out_channels, kernel_size, options, bias, method, dtype, rng):
        """Check the arguments, create ``weight`` and ``bias``; return (stride, dilation) as pairs."""
        shapes = self._shapes(in_channels, out_channels, kernel_size, options["groups"], bias)
        weight_shape = shapes["weight"]
        conv_in = int(out_channels) if self.transposed else int(in_channels)
        names = (
            ("out_channels", "in_channels/kernel_size")
            if self.transposed
            else ("in_channels", "out_channels/kernel_size")
        )
        stride, dilation, _ = conv_options(conv_in, weight_shape, input_name=names[0], weight_name=names[1], **options)
        self.method = check_method(method)
        check_method_applies(self.method, weight_shape[2:], stride, dilation)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = weight_shape[2:]
        # as saved in a model file: Python ints (NumPy integers are not JSON), "same"/"valid" as given
        self.options = {k: v if isinstance(v, str) else _python_ints(v) for k, v in options.items()}
        self.dtype = float_dtype(dtype)
        # He initialisation; fan-in from the weight's dimension 1, as PyTorch computes it.
        self._he_initialise(shapes, as_generator(rng))
        return stride, dilation

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


class Conv2d(_ConvLayer):
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
        options = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
        self._setup(in_channels, out_channels, kernel_size, options, bias, method, dtype, rng)

    def _weight4(self):
        """The weight as (K, C/groups, R, S)."""
        return self.params["weight"]

    fuses_relu = True

    def _forward(self, x, rectify=False):
        if x.shape[1] != self.in_channels:
            raise ValueError(f"{type(self).__name__} expects {self.in_channels} input channels, got input {x.shape}")
        self._x = x
        bias = self.params.get("bias")
        if not rectify:
            return F.conv2d(x, self._weight4(), bias, method=self.method, **self.options)
        # Bias and ReLU in one pass over the output.
        out = F.conv2d(x, self._weight4(), method=self.method, **self.options)
        if bias is None:
            return relu(out, out)
        return add_bias(out, np.ascontiguousarray(bias, dtype=out.dtype), rectify=True)

    def _backward(self, grad, need_input_grad):
        x, weight = self._x, self._weight4()
        grad_weight = F.conv2d_grad_weight(grad, x, weight.shape, method=self.method, **self.options)
        self.grads["weight"] = grad_weight.reshape(self.params["weight"].shape)
        if "bias" in self.params:
            self.grads["bias"] = F.conv2d_grad_bias(grad)
        if not need_input_grad:
            return None
        return F.conv2d_grad_input(grad, weight, x.shape, method=self.method, **self.options)


class Conv1d(Conv2d):
    """1-D convolution layer, as torch.nn.Conv1d, on the 2-D kernels: (N, C, L) is computed as (N, C, 1, L).

    Input (N, in_channels, L) -> output (N, out_channels, L_out),
    ``L_out = (L + 2*padding - dilation*(kernel_size-1) - 1) // stride + 1``.
    Parameters: ``weight`` (out_channels, in_channels/groups, kernel_size)
    and ``bias`` (out_channels,). Sizes are ints (or 1-tuples); padding may
    also be "valid" or "same".
    """

    input_ndim = 3

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
        k = single_int(kernel_size, "kernel_size", 1)
        s = single_int(stride, "stride", 1)
        d = single_int(dilation, "dilation", 1)
        p = padding if isinstance(padding, str) else single_int(padding, "padding", 0)
        super().__init__(
            in_channels,
            out_channels,
            (1, k),
            (1, s),
            p if isinstance(p, str) else (0, p),
            (1, d),
            groups,
            bias,
            method,
            dtype=dtype,
            rng=rng,
        )
        K, Cg, _, _ = self.params["weight"].shape
        self.params["weight"] = self.params["weight"].reshape(K, Cg, k)
        self.kernel_size = (k,)
        self._options_1d = dict(
            stride=(s,), padding=p if isinstance(p, str) else (p,), dilation=(d,), groups=int(groups)
        )

    @classmethod
    def parameter_shapes(cls, config):
        k = single_int(config["kernel_size"], "kernel_size", 1)
        shapes = super().parameter_shapes(dict(config, kernel_size=(1, k)))
        K, Cg, _, _ = shapes["weight"]
        return dict(shapes, weight=(K, Cg, k))

    def config(self):
        return dict(super().config(), kernel_size=self.kernel_size, **self._options_1d)

    def _weight4(self):
        return self.params["weight"][:, :, None, :]

    def _forward(self, x, rectify=False):
        return super()._forward(x[:, :, None, :], rectify)[:, :, 0, :]

    def _backward(self, grad, need_input_grad):
        grad_input = super()._backward(grad[:, :, None, :], need_input_grad)
        return None if grad_input is None else grad_input[:, :, 0, :]


class ConvTranspose2d(_ConvLayer):
    """Transposed 2-D convolution, as torch.nn.ConvTranspose2d: the input gradient of a Conv2d.

    Input (N, in_channels, H, W) -> output (N, out_channels, H_out, W_out),
    ``H_out = (H-1)*stride - 2*padding + dilation*(R-1) + output_padding + 1``.
    Parameters: ``weight`` (in_channels, out_channels/groups, R, S) and
    ``bias`` (out_channels,). The forward pass is
    :func:`fastconv.conv2d_grad_input` of the convolution with this weight
    (out_channels -> in_channels), the input gradient is
    :func:`fastconv.conv2d`, the weight gradient
    :func:`fastconv.conv2d_grad_weight` with input and output gradient
    swapped. output_padding (< stride or < dilation) adds rows and columns
    at the bottom and right.
    """

    transposed = True

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        output_padding=0,
        groups=1,
        bias=True,
        dilation=1,
        method="auto",
        *,
        dtype=np.float32,
        rng=None,
    ):
        super().__init__()
        options = dict(stride=stride, padding=int_pair(padding, "padding", 0), dilation=dilation, groups=groups)
        stride, dilation = self._setup(in_channels, out_channels, kernel_size, options, bias, method, dtype, rng)
        self.output_padding = output_padding_pair(output_padding, stride, dilation)
        self._pairs = (stride, options["padding"], dilation)

    def config(self):
        config = super().config()
        return dict(
            {k: config[k] for k in ("in_channels", "out_channels", "kernel_size", "stride", "padding")},
            output_padding=self.output_padding,
            **{k: config[k] for k in ("groups", "bias", "dilation", "method", "dtype")},
        )

    def output_shape(self, input_shape):
        """(N, out_channels, H_out, W_out) for an input of shape (N, in_channels, H, W)."""
        N, _, H, W = input_shape
        (sh, sw), (ph, pw), (dh, dw) = self._pairs
        (R, S), (oh, ow) = self.kernel_size, self.output_padding
        H_out = (H - 1) * sh - 2 * ph + dh * (R - 1) + oh + 1
        W_out = (W - 1) * sw - 2 * pw + dw * (S - 1) + ow + 1
        if H_out < 1 or W_out < 1:
            raise ValueError(f"ConvTranspose2d: an input of {H}x{W} gives an empty output ({H_out}x{W_out})")
        return (N, self.out_channels, H_out, W_out)

    def _forward(self, x):
        if x.shape[1] != self.in_channels:
            raise ValueError(f"ConvTranspose2d expects input of shape (N, {self.in_channels}, H, W), got {x.shape}")
        shape = self.output_shape(x.shape)
        weight = self.params["weight"]
        # The convolution of an (H_out, W_out) image gives H + output_padding // stride rows (likewise
        # columns): rows that only output_padding >= stride adds, whose gradient is zero.
        (sh, sw), (oh, ow) = self._pairs[0], self.output_padding
        self._input_hw = x.shape[2:]
        if oh >= sh or ow >= sw:
            N, C, H, W = x.shape
            padded = np.zeros((N, C, H + oh // sh, W + ow // sw), dtype=x.dtype)
            padded[:, :, :H, :W] = x
            x = padded
        self._x = x
        out = F.conv2d_grad_input(x, weight, shape, method=self.method, **self.options)
        if "bias" in self.params:
            out += self.params["bias"].astype(out.dtype, copy=False).reshape(1, -1, 1, 1)
        return out

    def _backward(self, grad, need_input_grad):
        x, weight = self._x, self.params["weight"]
        self.grads["weight"] = F.conv2d_grad_weight(x, grad, weight.shape, method=self.method, **self.options)
        if "bias" in self.params:
            self.grads["bias"] = F.conv2d_grad_bias(grad)
        if not need_input_grad:
            return None
        grad_input = F.conv2d(grad, weight, method=self.method, **self.options)
        H, W = self._input_hw
        return grad_input if grad_input.shape[2:] == (H, W) else np.ascontiguousarray(grad_input[:, :, :H, :W])
