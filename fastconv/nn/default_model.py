"""The ConvNet `fastconv train` builds: two conv blocks and a linear classifier."""

import numpy as np

from .activation import ReLU
from .conv import Conv2d
from .layer import as_generator
from .linear import Flatten, Linear
from .pool import MaxPool2d
from .sequential import Sequential


def default_convnet(input_shape, classes, *, width=16, method="auto", dtype=np.float32, seed=None):
    """Conv3x3(width) ReLU MaxPool2 -> Conv3x3(2*width) ReLU MaxPool2 -> Flatten -> Linear(classes).

    The lecture's conv -> ReLU -> fully connected -> (softmax in the loss),
    with one more conv block and pooling. input_shape is (C, H, W), H and W
    at least 4.
    """
    C, H, W = input_shape
    if H < 4 or W < 4:
        raise ValueError(f"default_convnet needs inputs of at least 4x4, got {H}x{W}")
    rng = as_generator(seed)
    flat = 2 * width * (H // 2 // 2) * (W // 2 // 2)
    return Sequential(
        Conv2d(C, width, 3, padding=1, method=method, dtype=dtype, rng=rng),
        ReLU(),
        MaxPool2d(2),
        Conv2d(width, 2 * width, 3, padding=1, method=method, dtype=dtype, rng=rng),
        ReLU(),
        MaxPool2d(2),
        Flatten(),
        Linear(flat, classes, dtype=dtype, rng=rng),
    )
