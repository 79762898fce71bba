"""Batch inference over a dask array: the model is one node of the graph, each block a batch of images."""

import copy

import dask
import dask.array as da
import numpy as np

from ..nn.loss import softmax
from ..nn.sequential import Sequential
from .threads import follow_worker_threads


def _scores_block(block, model, batch_size, proba):
    """Scores or probabilities (n, classes) of a block of images (n, ...), batch_size at a time."""
    follow_worker_threads()
    # A copy: layers keep their last input, and several threads of a worker may run blocks at once.
    model = copy.deepcopy(model)
    block = np.asarray(block, dtype=model.dtype)
    out = [model.forward(block[i : i + batch_size]) for i in range(0, len(block), batch_size)]
    scores = np.concatenate(out) if out else model.forward(block)
    return softmax(scores) if proba else scores


def model_scores(model: Sequential, x: da.Array, *, batch_size: int = 512, proba: bool = False) -> da.Array:
    """The model's scores (or probabilities) of each image of x as a lazy dask array (N, classes).

    Checks the model against x's shape (a forward pass over an empty batch,
    which runs no kernel) before building the graph.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a fastconv.nn.Sequential, got {type(model).__name__}")
    if not isinstance(x, da.Array):
        raise TypeError(f"x must be a dask array (N, ...), got {type(x).__name__}; use model.predict in memory")
    if x.ndim < 2 or any(np.isnan(s) for s in x.shape[1:]):
        raise ValueError(f"x must be (N, ...) with known sample shape, got shape {x.shape}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    if not np.issubdtype(x.dtype, np.number):
        raise TypeError(f"x must hold numbers, got dtype {x.dtype}")
    model = copy.deepcopy(model)  # later changes to the caller's model do not reach the graph
    empty = model.forward(np.zeros((0, *x.shape[1:]), dtype=model.dtype))
    if empty.ndim != 2:
        raise ValueError(f"model must give scores (N, classes) for x of shape {x.shape}, gives {empty.shape}")
    x = x.rechunk({axis: -1 for axis in range(1, x.ndim)})
    return da.map_blocks(
        _scores_block,
        x,
        dask.delayed(model, pure=True),
        batch_size,
        proba,
        drop_axis=list(range(2, x.ndim)),
        chunks=(x.chunks[0], (empty.shape[1],)),
        dtype=model.dtype,
        meta=np.empty((0, 0), dtype=model.dtype),
        name="fastconv-scores-" + dask.base.tokenize(x, model, batch_size, proba),
    )


def predict_proba(model: Sequential, x: da.Array, *, batch_size: int = 512) -> da.Array:
    """Class probabilities (N, classes) of the images x (N, C, H, W), lazily, as ``model.predict_proba``.

    The model is one node of the graph: each worker receives it once, however
    many blocks it computes. Blocks are x's chunks along N (chunks along the
    other axes are joined); each runs ``batch_size`` images at a time.
    """
    return model_scores(model, x, batch_size=batch_size, proba=True)


def predict(model: Sequential, x: da.Array, *, batch_size: int = 512) -> da.Array:
    """Most probable class (N,) of each image of x, lazily, as ``model.predict``."""
    return predict_proba(model, x, batch_size=batch_size).argmax(axis=1)
