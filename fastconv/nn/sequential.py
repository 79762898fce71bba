"""Sequential: a stack of layers, with prediction and save/load."""

from contextlib import contextmanager

import numpy as np

from .activation import ReLU
from .conv import Conv1d, Conv2d, ConvTranspose2d
from .dropout import Dropout
from .layer import Layer
from .linear import Flatten, Linear
from .loss import softmax
from .model_file import load_layers, save_model
from .normalization import BatchNorm2d
from .pool import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

LAYER_TYPES = {
    cls.__name__: cls
    for cls in (
        Conv2d,
        ReLU,
        MaxPool2d,
        Flatten,
        Linear,
        Conv1d,
        ConvTranspose2d,
        BatchNorm2d,
        Dropout,
        AvgPool2d,
        AdaptiveAvgPool2d,
    )
}


class Sequential:
    """Layers applied in order: ``Sequential(Conv2d(...), ReLU(), ...)``.

    Parameters and buffers are named ``"{index}.{name}"`` as in PyTorch's
    state_dict, e.g. ``"0.weight"``. ``train()`` and ``eval()`` switch every
    layer's mode.
    """

    def __init__(self, *layers):
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layer {i} must be a fastconv.nn layer, got {type(layer).__name__}")
        self.layers = list(layers)

    def __repr__(self):
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"Sequential(\n  {inner}\n)"

    def _relu_fused_after(self, i):
        """Whether layer i computes the ReLU that follows it in its own output pass."""
        layers = self.layers
        return i + 1 < len(layers) and type(layers[i + 1]) is ReLU and layers[i].fuses_relu

    def forward(self, x):
        """The layers' output for x. A ReLU after a layer that can fuse it (Conv2d, Conv1d,
        BatchNorm2d) is applied in that layer's output pass: the same result, one sweep fewer."""
        i = 0
        while i < len(self.layers):
            if self._relu_fused_after(i):
                x = self.layers[i + 1].adopt(self.layers[i].forward(x, rectify=True))
                i += 2
            else:
                x = self.layers[i].forward(x)
                i += 1
        return x

    __call__ = forward

    def backward(self, grad, need_input_grad=True):
        """Back-propagate dL/d(output); return dL/d(input), or None (the first layer's is then skipped)."""
        for i in range(len(self.layers) - 1, -1, -1):
            grad = self.layers[i].backward(grad, need_input_grad=need_input_grad or i > 0)
        return grad

    def train(self, mode=True):
        """Training mode for every layer (evaluation mode with mode=False); returns the model."""
        for layer in self.layers:
            layer.train(mode)
        return self

    def eval(self):
        """Evaluation mode for every layer: as ``train(False)``."""
        return self.train(False)

    @contextmanager
    def evaluation_mode(self):
        """``with model.evaluation_mode():`` runs the block in evaluation mode, then restores every layer's mode."""
        modes = [layer.training for layer in self.layers]
        self.eval()
        try:
            yield self
        finally:
            for layer, mode in zip(self.layers, modes):
                layer.train(mode)

    @property
    def training(self):
        """True when every layer is in training mode."""
        return all(layer.training for layer in self.layers)

    def parameters(self):
        """{"index.name": array}; the arrays themselves, so updates in place train the model."""
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.params.items()}

    def gradients(self):
        """{"index.name": array} from the last backward."""
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.grads.items()}

    def buffers(self):
        """{"index.name": array} of saved, untrained state (BatchNorm2d's running statistics)."""
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.buffers.items()}

    @property
    def dtype(self):
        params = self.parameters()
        return next(iter(params.values())).dtype if params else np.dtype(np.float64)

    def predict_proba(self, x, batch_size=512):
        """Class probabilities (N, classes), computed in batches in evaluation mode (the mode is restored)."""
        x = np.asarray(x, dtype=self.dtype)
        with self.evaluation_mode():
            chunks = [softmax(self.forward(x[i : i + batch_size])) for i in range(0, len(x), batch_size)]
        return np.concatenate(chunks) if chunks else np.zeros((0, 0), dtype=self.dtype)

    def predict(self, x, batch_size=512):
        """Most probable class (N,)."""
        return self.predict_proba(x, batch_size).argmax(axis=1)

    def save(self, path):
        """Write architecture, parameters and buffers to ``path`` (.npz), atomically (format: :mod:`.model_file`)."""
        save_model(self, path)


def load(path):
    """Rebuild a :class:`Sequential` saved with :meth:`Sequential.save`, bit-exact.

    The file is checked before anything is built (see :mod:`.model_file`);
    any flaw is a ValueError naming the file.
    """
    return Sequential(*load_layers(path, LAYER_TYPES))
