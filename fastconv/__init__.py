"""fastconv: fast 2-D convolution on the CPU with Numba, PyTorch-compatible (NCHW).

Importing fastconv compiles nothing: each kernel compiles, or loads from
numba's on-disk cache, the first time it is called with a given dtype.
"""

from . import (
    _config,  # noqa: F401  (sets the thread policy before any kernel runs)
    lecture,
)
from .conv import conv2d, conv2d_grad_bias, conv2d_grad_input, conv2d_grad_weight

__version__ = "0.1.0"

__all__ = [
    "conv2d",
    "conv2d_grad_bias",
    "conv2d_grad_input",
    "conv2d_grad_weight",
    "lecture",
]
