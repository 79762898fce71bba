"""Linear (fully connected) and Flatten: the lecture's s = W vec(H) + b."""

import math

import numpy as np

from .._geometry import float_dtype, positive_int
from .layer import Layer, as_generator


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1*d2*...), vec() of each sample in C order."""

    def _forward(self, x):
        if x.ndim < 2:
            raise ValueError(f"Flatten expects input of shape (N, ...), got {x.shape}")
        self._shape = x.shape
        # Explicit size: -1 cannot be inferred for an empty batch.
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))

    def _backward(self, grad, need_input_grad):
        return grad.reshape(self._shape) if need_input_grad else None


class Linear(Layer):
    """y = x @ weight.T + bias, as torch.nn.Linear; He-initialised weights.

    Input (N, in_features) -> output (N, out_features). Parameters: ``weight``
    (out_features, in_features) and ``bias`` (out_features,).
    """

    def __init__(self, in_features, out_features, bias=True, *, dtype=np.float32, rng=None):
        super().__init__()
        shapes = self.parameter_shapes(dict(in_features=in_features, out_features=out_features, bias=bias))
        self.out_features, self.in_features = shapes["weight"]
        self.has_bias = "bias" in shapes
        self.dtype = float_dtype(dtype)
        self._he_initialise(shapes, as_generator(rng))

    @classmethod
    def parameter_shapes(cls, config):
        """{"weight": (out_features, in_features), "bias": (out_features,)}, from a checked config."""
        in_features = positive_int(config["in_features"], "in_features")
        out_features = positive_int(config["out_features"], "out_features")
        shapes = {"weight": (out_features, in_features)}
        if config.get("bias", True):
            shapes["bias"] = (out_features,)
        return shapes

    def config(self):
        return dict(
            in_features=self.in_features,
            out_features=self.out_features,
            bias=self.has_bias,
            dtype=self.dtype.name,
        )

    input_ndim = 2

    def _forward(self, x):
        if x.shape[1] != self.in_features:
            raise ValueError(f"Linear expects input of shape (N, {self.in_features}), got {x.shape}")
        self._x = x
        y = x @ self.params["weight"].T
        if "bias" in self.params:
            y += self.params["bias"]
        return y

    def _backward(self, grad, need_input_grad):
        x = self._x
        self.grads["weight"] = grad.T @ x
        if "bias" in self.params:
            self.grads["bias"] = grad.sum(axis=0)
        return grad @ self.params["weight"] if need_input_grad else None
