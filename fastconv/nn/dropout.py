"""Dropout: random zeroing with inverted scaling in training, the identity in evaluation."""

import numpy as np

from .._geometry import real_in
from .layer import Layer, as_generator


class Dropout(Layer):
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p), as torch.nn.Dropout.

    Any input shape; the output has the input's. In evaluation mode the
    layer passes its input through. The masks come from ``rng`` (a
    Generator, a seed or None), so a seeded model drops the same elements in
    every run; a loaded model draws from a fresh generator. (PyTorch's
    ``inplace`` is left out: inputs are never modified.)
    """

    def __init__(self, p=0.5, *, rng=None):
        super().__init__()
        self.p = real_in(p, "p", 0.0, 1.0)
        self.rng = as_generator(rng)

    def config(self):
        return dict(p=self.p)

    def _forward(self, x):
        self._scale = None
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            self._scale = np.zeros_like(x)
        else:
            keep = self.rng.random(x.shape, dtype=x.dtype) >= x.dtype.type(self.p)
            self._scale = keep * x.dtype.type(1.0 / (1.0 - self.p))
        return x * self._scale

    def _backward(self, grad, need_input_grad):
        if not need_input_grad:
            return None
        return grad if self._scale is None else grad * self._scale
