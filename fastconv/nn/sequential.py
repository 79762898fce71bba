"""Sequential: a stack of layers, with prediction and save/load."""

import json
from contextlib import contextmanager

import numpy as np

from .._atomic import write_atomically
from .activation import ReLU
from .conv import Conv1d, Conv2d, ConvTranspose2d
from .dropout import Dropout
from .layer import Layer
from .linear import Flatten, Linear
from .loss import softmax
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
FORMAT_VERSION = 1


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

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
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
        """Write architecture, parameters and buffers to ``path`` (.npz), atomically."""
        architecture = [{"type": type(layer).__name__, "config": layer.config()} for layer in self.layers]
        arrays = {"architecture": np.array(json.dumps({"format": FORMAT_VERSION, "layers": architecture}))}
        arrays.update({f"param:{k}": v for k, v in self.parameters().items()})
        arrays.update({f"buffer:{k}": v for k, v in self.buffers().items()})
        write_atomically(path, lambda f: np.savez(f, **arrays))


def load(path):
    """Rebuild a :class:`Sequential` saved with :meth:`Sequential.save`, bit-exact."""
    try:
        with np.load(path, allow_pickle=False) as data:
            spec = json.loads(str(data["architecture"]))
            arrays = {k[len("param:") :]: data[k] for k in data.files if k.startswith("param:")}
            buffer_arrays = {k[len("buffer:") :]: data[k] for k in data.files if k.startswith("buffer:")}
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"{path} is not a fastconv model file: {exc}") from None
    if spec.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path} has model format {spec.get('format')!r}, expected {FORMAT_VERSION}")
    layers = []
    for entry in spec["layers"]:
        config = dict(entry["config"])
        for key in ("kernel_size", "stride", "padding", "dilation"):
            if isinstance(config.get(key), list):
                config[key] = tuple(config[key])
        layers.append(LAYER_TYPES[entry["type"]](**config))
    model = Sequential(*layers)
    params = model.parameters()
    if set(params) != set(arrays):
        raise ValueError(f"{path}: parameters {sorted(arrays)} do not match the architecture's {sorted(params)}")
    for name, value in arrays.items():
        if value.shape != params[name].shape:
            raise ValueError(f"{path}: parameter {name} has shape {value.shape}, expected {params[name].shape}")
        params[name][...] = value
    buffers = model.buffers()
    if set(buffers) != set(buffer_arrays):
        raise ValueError(f"{path}: buffers {sorted(buffer_arrays)} do not match the architecture's {sorted(buffers)}")
    for name, value in buffer_arrays.items():
        if value.shape != buffers[name].shape:
            raise ValueError(f"{path}: buffer {name} has shape {value.shape}, expected {buffers[name].shape}")
        buffers[name][...] = value
    return model
