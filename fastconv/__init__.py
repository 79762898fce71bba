"""fastconv: fast 2-D convolution on the CPU with Numba, PyTorch-compatible (NCHW).

Importing fastconv compiles nothing: each kernel compiles, or loads from
numba's on-disk cache, the first time it is called with a given dtype.

* :mod:`fastconv.conv`: ``conv2d`` and its gradients; :mod:`fastconv.pool`: max, average and
  adaptive average pooling.
* :mod:`fastconv.lecture`: the lecture's explicit matrices.
* :mod:`fastconv.tuning`: ``tune``/``tune_model`` measure the methods on this machine for ``auto``.
* :mod:`fastconv.nn`: layers, loss, ``Sequential``, gradient checks.
* :mod:`fastconv.training`: ``fit``, ``evaluate``, optimisers, data sets, plots.
* :mod:`fastconv.bench`, :mod:`fastconv.cli`: the benchmark and the ``fastconv`` command.
* :mod:`fastconv.engine` and :mod:`fastconv.kernels`: the method drivers and compiled loops behind them.
"""

from . import _thread_policy  # noqa: F401, I001  (first: sets the thread policy before numpy's BLAS loads)
from . import lecture
from .conv import conv2d, conv2d_grad_bias, conv2d_grad_input, conv2d_grad_weight
from ._version import __version__
from .tuning import tune, tune_model

__all__ = [
    "__version__",
    "conv2d",
    "conv2d_grad_bias",
    "conv2d_grad_input",
    "conv2d_grad_weight",
    "lecture",
    "tune",
    "tune_model",
]
