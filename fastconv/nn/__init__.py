"""Layers with explicit forward and backward, a loss, and a model container.

Names and argument orders follow torch.nn.
"""

from .activation import ReLU
from .conv import Conv2d
from .layer import Layer
from .linear import Flatten, Linear
from .loss import SoftmaxCrossEntropy, softmax
from .pool import MaxPool2d
from .sequential import Sequential, load

__all__ = [
    "Conv2d",
    "Flatten",
    "Layer",
    "Linear",
    "MaxPool2d",
    "ReLU",
    "Sequential",
    "SoftmaxCrossEntropy",
    "load",
    "softmax",
]
