"""ReLU: the lecture's H = max(0, S)."""

import numpy as np

from ..engine import relu, relu_grad_input
from .layer import Layer


class ReLU(Layer):
    """Elementwise max(0, x); any shape.

    Keeps its output (not a copy) for backward: changing the returned array
    in place before backward changes the gradient.
    """

    def _forward(self, x):
        out = relu(np.ascontiguousarray(x), np.empty(x.shape, dtype=x.dtype))
        self._output = out
        return out

    def adopt(self, out):
        """Take ``out``, already max(., 0) by the layer before (a fused ReLU), as this layer's output."""
        self._output, self._output_shape = out, out.shape
        return out

    def _backward(self, grad, need_input_grad):
        if not need_input_grad:
            return None
        # The lecture's diag(Ind(vec(S) > 0)), read from the output: positive exactly where the input is.
        grad = np.ascontiguousarray(grad, dtype=self._output.dtype)
        return relu_grad_input(grad, self._output, np.empty_like(self._output))
