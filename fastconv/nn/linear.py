"""Linear (fully connected) and Flatten: the lecture's s = W vec(H) + b."""

import math

import numpy as np

from .._geometry import float_dtype, positive_int
from .layer import Layer, as_generator


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1*d2*...), vec() of each sample in C order."""

    def forward(self, x):
        self._shape = x.shape
        # Explicit size: -1 cannot be inferred for an empty batch.
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))

    def backward(self, grad, need_input_grad=True):
        return grad.reshape(self._cached("_shape")) if need_input_grad else None


class Linear(Layer):
    """y = x @ weight.T + bias, as torch.nn.Linear; He-initialised weights.

    Input (N, in_features) -> output (N, out_features). Parameters: ``weight``
    (out_features, in_features) and ``bias`` (out_features,).
    """

    def __init__(self, in_features, out_features, bias=True, *, dtype=np.float32, rng=None):
        super().__init__()
        self.in_features = positive_int(in_features, "in_features")
        self.out_features = positive_int(out_features, "out_features")
        self.dtype = float_dtype(dtype)
        rng = as_generator(rng)
        scale = np.sqrt(2.0 / self.in_features)
        self.params["weight"] = (rng.standard_normal((self.out_features, self.in_features)) * scale).astype(self.dtype)
        if bias:
            self.params["bias"] = np.zeros(self.out_features, dtype=self.dtype)

    def config(self):
        return dict(
            in_features=self.in_features,
            out_features=self.out_features,
            bias="bias" in self.params,
            dtype=self.dtype.name,
        )

    def forward(self, x):
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"Linear expects input of shape (N, {self.in_features}), got {x.shape}")
        self._x = x
        y = x @ self.params["weight"].T
        if "bias" in self.params:
            y += self.params["bias"]
        return y

    def backward(self, grad, need_input_grad=True):
        x = self._cached("_x")
        self.grads["weight"] = grad.T @ x
        if "bias" in self.params:
            self.grads["bias"] = grad.sum(axis=0)
        return grad @ self.params["weight"] if need_input_grad else None
