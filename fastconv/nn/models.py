"""Built-in architectures by name: the ones `fastconv train --model NAME` builds.

Every builder takes ``(input_shape, classes, *, method, dtype, seed)``:
input_shape is one sample's (C, H, W) ((C, L) for the 1-D net), ``seed``
seeds the initial weights (and dropout), ``method`` the convolution kernels.
"""

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .activation import ReLU
from .conv import Conv1d, Conv2d
from .default_model import default_convnet
from .layer import as_generator
from .linear import Flatten, Linear
from .normalization import BatchNorm2d
from .pool import AdaptiveAvgPool2d, MaxPool2d
from .sequential import Sequential


def _image_size(input_shape, name, minimum):
    """(C, H, W) of an image input at least minimum x minimum, or a ValueError naming the model."""
    if len(input_shape) != 3:
        raise ValueError(f"model {name!r} takes images (C, H, W), got input shape {tuple(input_shape)}")
    C, H, W = input_shape
    if H < minimum or W < minimum:
        raise ValueError(f"model {name!r} needs inputs of at least {minimum}x{minimum}, got {H}x{W}")
    return C, H, W


def mnist_convnet(input_shape, classes, *, method="auto", dtype=np.float32, seed=None):
    """Conv5x5(16) ReLU MaxPool2 -> Conv3x3(32, padding 1) ReLU MaxPool2 -> Flatten -> Linear(classes).

    The MNIST-sized net of issue 13 (28x28 inputs: 24 -> 12 -> 12 -> 6, so
    Linear(32*6*6, classes)); inputs of at least 8x8.
    """
    C, H, W = _image_size(input_shape, "mnist", 8)
    rng = as_generator(seed)
    flat = 32 * ((H - 4) // 2 // 2) * ((W - 4) // 2 // 2)
    return Sequential(
        Conv2d(C, 16, 5, method=method, dtype=dtype, rng=rng),
        ReLU(),
        MaxPool2d(2),
        Conv2d(16, 32, 3, padding=1, method=method, dtype=dtype, rng=rng),
        ReLU(),
        MaxPool2d(2),
        Flatten(),
        Linear(flat, classes, dtype=dtype, rng=rng),
    )


def cifar_convnet(input_shape, classes, *, method="auto", dtype=np.float32, seed=None):
    """Three blocks Conv3x3 (no bias) BatchNorm ReLU, width 32, 64, 128, max-pooling after the first two,
    then global average pooling -> Flatten -> Linear(128, classes).

    The CIFAR-sized net of issue 13 (32x32 inputs: 32 -> 16 -> 8 -> 1);
    inputs of at least 4x4.
    """
    C, _, _ = _image_size(input_shape, "cifar", 4)
    rng = as_generator(seed)
    layers = []
    for i, (c_in, c_out) in enumerate(((C, 32), (32, 64), (64, 128))):
        layers += [
            Conv2d(c_in, c_out, 3, padding=1, bias=False, method=method, dtype=dtype, rng=rng),
            BatchNorm2d(c_out, dtype=dtype),
            ReLU(),
        ]
        if i < 2:
            layers.append(MaxPool2d(2))
    return Sequential(*layers, AdaptiveAvgPool2d(1), Flatten(), Linear(128, classes, dtype=dtype, rng=rng))


def names_conv1d(input_shape, classes, *, method="auto", dtype=np.float32, seed=None):
    """Conv1d3(64, padding 1) ReLU -> Conv1d3(64, padding 1) ReLU -> Flatten -> Linear(classes).

    For one-hot sequences (C, L), e.g. names as (alphabet, letters); not for
    the image data sets.
    """
    if len(input_shape) != 2:
        raise ValueError(f"model 'names1d' takes one-hot sequences (C, L), got input shape {tuple(input_shape)}")
    C, L = input_shape
    rng = as_generator(seed)
    return Sequential(
        Conv1d(C, 64, 3, padding=1, method=method, dtype=dtype, rng=rng),
        ReLU(),
        Conv1d(64, 64, 3, padding=1, method=method, dtype=dtype, rng=rng),
        ReLU(),
        Flatten(),
        Linear(64 * L, classes, dtype=dtype, rng=rng),
    )


class Architecture(NamedTuple):
    build: Callable[..., Sequential]
    description: str


MODELS = {
    "default": Architecture(default_convnet, "conv3x3(16)-relu-pool x2, linear: the digits ConvNet"),
    "mnist": Architecture(mnist_convnet, "conv5x5(16)-relu-pool, conv3x3(32)-relu-pool, linear"),
    "cifar": Architecture(cifar_convnet, "3 blocks conv3x3-batchnorm-relu (32, 64, 128), global average pool, linear"),
    "names1d": Architecture(names_conv1d, "conv1d x2 on one-hot sequences (C, L), linear; not for images"),
}


def build_model(name, input_shape, classes, *, method="auto", dtype=np.float32, seed=None):
    """The built-in architecture ``name`` (a key of :data:`MODELS`) for these inputs and classes."""
    if name not in MODELS:
        raise ValueError(f"model must be one of {tuple(MODELS)}, got {name!r}")
    return MODELS[name].build(tuple(input_shape), classes, method=method, dtype=dtype, seed=seed)
