"""Layers with explicit forward and backward, a loss, and a model container.

Names and argument orders follow torch.nn.
"""

from .activation import ReLU
from .conv import Conv1d, Conv2d, ConvTranspose2d
from .dropout import Dropout
from .layer import Layer
from .linear import Flatten, Linear
from .loss import SoftmaxCrossEntropy, softmax
from .normalization import BatchNorm2d
from .pool import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from .sequential import Sequential, load

__all__ = [
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "BatchNorm2d",
    "Conv1d",
    "Conv2d",
    "ConvTranspose2d",
    "Dropout",
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
