"""ReLU: the lecture's H = max(0, S)."""

import numpy as np

from .layer import Layer


class ReLU(Layer):
    """Elementwise max(0, x); any shape."""

    def _forward(self, x):
        self._positive = x > 0
        return np.maximum(x, 0, dtype=x.dtype)

    def _backward(self, grad, need_input_grad):
        # The lecture's diag(Ind(vec(S) > 0)).
        return grad * self._positive if need_input_grad else None
