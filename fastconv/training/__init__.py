"""Training a ConvNet of :mod:`fastconv.nn` layers: the loop, optimisers and schedules, data, plots.

* :mod:`.loop`: :func:`fit` and :func:`evaluate`.
* :mod:`.optim`: SGD with momentum, Adam, AdamW, learning-rate schedules, :class:`TrainingDiverged`.
* :mod:`.data`: the embedded digits and loaders for MNIST and CIFAR-10 files.
* :mod:`.plots`: learning curves and the confusion matrix as PNG files.
"""

from .loop import evaluate, fit
from .optim import TrainingDiverged

__all__ = ["TrainingDiverged", "evaluate", "fit"]
