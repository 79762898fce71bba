"""The contract every layer follows: explicit forward and backward, no autograd."""

from abc import ABC, abstractmethod

import numpy as np

from .._geometry import as_float_array


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
    rebuilt. ``buffers`` holds state that is saved but not trained (e.g.
    BatchNorm2d's running statistics); ``training`` says whether the layer
    runs in training mode (the default) or evaluation mode, as set by
    ``train()`` and ``eval()``.

    Both check their argument here, once for every layer: ``x`` must be a
    float32/float64 array of ``input_ndim`` dimensions (any, if None) and
    ``grad`` must have the shape of the last output. Subclasses implement
    ``_forward`` and ``_backward`` on checked arrays.
    """

    input_ndim: int | None = None
    # Whether forward(x, rectify=True) applies a following ReLU in the layer's own output pass
    # (Sequential uses it).
    fuses_relu = False

    def __init__(self):
        self.params = {}
        self.grads = {}
        self.buffers = {}
        self.training = True
        self._output_shape = None

    def train(self, mode=True):
        """Training mode (or evaluation mode with mode=False); returns the layer."""
        self.training = bool(mode)
        return self

    def eval(self):
        """Evaluation mode: as ``train(False)``."""
        return self.train(False)

    def forward(self, x, *, rectify=False):
        """Output of the layer for input x (max(output, 0) with rectify); keeps what backward needs."""
        x = as_float_array(x, f"{type(self).__name__} input", self.input_ndim)
        if rectify and not self.fuses_relu:
            raise ValueError(f"{type(self).__name__} cannot fuse a ReLU into its output (rectify=True)")
        out = self._forward(x, rectify=True) if rectify else self._forward(x)
        self._output_shape = out.shape
        return out

    def backward(self, grad, need_input_grad=True):
        """dL/d(input) from dL/d(output) (None if not needed); fills self.grads."""
        if self._output_shape is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        grad = as_float_array(grad, f"{type(self).__name__}.backward grad")
        if grad.shape != self._output_shape:
            raise ValueError(
                f"{type(self).__name__}.backward: grad must have the shape of the last output "
                f"{self._output_shape}, got {grad.shape}"
            )
        return self._backward(grad, need_input_grad)

    @abstractmethod
    def _forward(self, x):
        """forward on a checked float array."""

    @abstractmethod
    def _backward(self, grad, need_input_grad):
        """backward on a grad of the last output's shape."""

    def config(self):
        """The constructor's arguments, as saved in a model file."""
        return {}

    @classmethod
    def parameter_shapes(cls, config):
        """{name: shape} of the parameters a layer built from ``config`` has, computed without building it."""
        return {}

    @classmethod
    def buffer_shapes(cls, config):
        """{name: shape} of the buffers a layer built from ``config`` has, computed without building it."""
        return {}

    def _he_initialise(self, shapes, rng):
        """He-initialised "weight" (fan-in: the product of its shape past the first axis), zero "bias"."""
        weight_shape = shapes["weight"]
        fan_in = int(np.prod(weight_shape[1:]))
        self.params["weight"] = (rng.standard_normal(weight_shape) * np.sqrt(2.0 / fan_in)).astype(self.dtype)
        if "bias" in shapes:
            self.params["bias"] = np.zeros(shapes["bias"], dtype=self.dtype)

    def __call__(self, x):
        return self.forward(x)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"
