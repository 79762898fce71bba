"""The contract every layer follows: explicit forward and backward, no autograd."""

from abc import ABC, abstractmethod

import numpy as np


def as_generator(rng):
    """A NumPy Generator from a Generator, an int seed or None."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


class Layer(ABC):
    """Base class of the layers in :mod:`fastconv.nn`.

    ``forward(x)`` computes the output and keeps what ``backward`` needs;
    ``backward(grad)`` takes dL/d(output), stores dL/d(parameter) in
    ``self.grads`` (same keys as ``self.params``) and returns dL/d(input).
    ``config()`` gives the constructor arguments, so a saved model can be
    rebuilt.
    """

    def __init__(self):
        self.params = {}
        self.grads = {}

    @abstractmethod
    def forward(self, x):
        """Output of the layer for input x; keeps what backward needs."""

    @abstractmethod
    def backward(self, grad, need_input_grad=True):
        """dL/d(input) from dL/d(output) (None if not needed); fills self.grads."""

    def config(self):
        return {}

    def __call__(self, x):
        return self.forward(x)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"

    def _cached(self, name):
        value = getattr(self, name, None)
        if value is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return value
