"""fastconv on Dask (the optional extra ``pip install "fastconv[dask]"``).

* :func:`conv2d`: :func:`fastconv.conv2d` over a dask array (N, C, H, W), lazily, equal to the in-memory result.
* :func:`predict`, :func:`predict_proba`: a model over a dask array of images, lazily.
* :func:`fit`: data-parallel training on a ``distributed.Client``, the steps of :func:`fastconv.training.fit`.

The code is in :mod:`fastconv.distributed`; nothing in the core package imports either module.
"""

from .distributed.conv import conv2d
from .distributed.inference import predict, predict_proba
from .distributed.threads import follow_worker_threads
from .distributed.training import ClusterStepFailed, fit

__all__ = ["ClusterStepFailed", "conv2d", "fit", "follow_worker_threads", "predict", "predict_proba"]
