"""Data-parallel training on a Dask cluster: :func:`fastconv.training.fit`'s steps, gradients from the workers.

The images are persisted on the workers, chunked along N, and never travel to
the driver; the labels (one int per image) are gathered to the driver, which
draws each epoch's order exactly as ``fit`` does. For each step the driver
submits one task per worker, which carries the parameters and computes the
gradient of the samples of the global batch that the worker holds, a
tree of pairwise sums on the workers adds the gradients up, and the driver
applies the one update to its model with ``fit``'s own loop
(:func:`fastconv.training.loop.train_steps`), all or nothing. A step whose
tasks are lost with a worker is tried again; when it cannot finish, the error
says so and the model holds the parameters after the last finished step.
"""

import copy
import itertools
import threading
import weakref
from collections.abc import Callable
from typing import Any

import dask.array as da
import numpy as np
from dask.core import flatten
from distributed import Client, Future, wait
from distributed.client import FutureCancelledError, futures_of
from distributed.comm import CommClosedError
from distributed.scheduler import KilledWorker
from numpy.typing import ArrayLike, NDArray

from ..nn.loss import SoftmaxCrossEntropy
from ..nn.sequential import Sequential
from ..training.loop import batch_gradients, check_options, score_report, train_steps
from .inference import model_scores
from .threads import follow_worker_threads

# What a lost worker or connection raises on the driver: the step is tried again.
CLUSTER_ERRORS = (KilledWorker, FutureCancelledError, CommClosedError, OSError, TimeoutError)

_replicas = threading.local()


class ClusterStepFailed(RuntimeError):
    """A step could not finish on the cluster; the model holds the parameters after the last finished step."""


def _replica(template):
    """This thread's working copy of the (model, loss) a worker holds: layers keep their activations."""
    cache = getattr(_replicas, "cache", None)
    if cache is None:
        cache = _replicas.cache = weakref.WeakKeyDictionary()
    if template not in cache:
        cache[template] = copy.deepcopy(template.value)
    return cache[template]


class _Template:
    """The (model, loss) pair sent to each worker once per fit (a class: weak references, no hashing)."""

    def __init__(self, value):
        self.value = value


def share_gradients(template, params, scale, labels, picks, *chunks):
    """One worker's part of a step: (loss, correct, grads) of its samples, weighted as in the global batch.

    ``picks[i]`` are the rows of ``chunks[i]`` (n_i, C, H, W) in the batch,
    ``labels`` their labels in the same order, ``scale`` the share's weight
    in the global batch's mean (its normaliser over the batch's).
    """
    follow_worker_threads()
    model, loss = _replica(template)
    for name, value in model.parameters().items():
        value[...] = params[name]
    x = np.concatenate([chunk[pick] for chunk, pick in zip(chunks, picks)])
    batch_loss, correct, grads = batch_gradients(model, loss, x, labels)
    return batch_loss * scale, correct, {name: g * g.dtype.type(scale) for name, g in grads.items()}


def add_shares(a, b):
    """The sum of two (loss, correct, grads) triples."""
    return a[0] + b[0], a[1] + b[1], {name: a[2][name] + b[2][name] for name in a[2]}


def tree_sum(client: Client, shares: list[Future]) -> Future:
    """One future of the sum of ``shares``, added pairwise on the workers (depth log2 of their number)."""
    while len(shares) > 1:
        pairs = [client.submit(add_shares, a, b, pure=False) for a, b in zip(shares[::2], shares[1::2])]
        shares = pairs + shares[len(pairs) * 2 :]
    return shares[0]


def _check_arrays(model, x, y, name):
    """x as a dask array of the model's dtype and y as a dask or NumPy array, shapes checked (no task runs)."""
    if not isinstance(x, da.Array):
        x = np.asarray(x)
    y = y if isinstance(y, da.Array) else np.asarray(y)
    if x.ndim < 2 or y.ndim != 1 or x.shape[0] != y.shape[0] or any(np.isnan(s) for s in x.shape + y.shape):
        raise ValueError(f"{name}: x must be (N, ...) and y (N,) of known sizes, got {x.shape} and {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{name}: labels y must be integers, got {y.dtype}")
    if not np.issubdtype(x.dtype, np.number):
        raise TypeError(f"{name}: x must hold numbers, got dtype {x.dtype}")
    return x, y


class ClusterData:
    """Images persisted on the workers in chunks along N, labels on the driver.

    Parameters
    ----------
    client : distributed.Client
    x : dask or NumPy array (N, C, H, W); a NumPy array is sent to the workers
        in ``2 * workers`` chunks. y : int array (N,)
    """

    def __init__(self, client, model, x, y, classes):
        if not isinstance(x, da.Array):
            workers = max(1, len(client.scheduler_info()["workers"]))
            x = da.from_array(x, chunks=(max(1, -(-len(x) // (2 * workers))),) + x.shape[1:])
        self.client = client
        self.lazy = x.astype(model.dtype).rechunk({axis: -1 for axis in range(1, x.ndim)})
        self.y = np.asarray(y.compute() if isinstance(y, da.Array) else y)
        if self.y.size and (self.y.min() < 0 or self.y.max() >= classes):
            raise ValueError(f"labels y must lie in [0, {classes}) for this model, got {self.y.min()}..{self.y.max()}")
        self.offsets = np.concatenate([[0], np.cumsum(self.lazy.chunks[0])])
        self.persist()

    def persist(self):
        """Put the chunks on the workers (again, after a restart lost them); find who holds each."""
        self.array = self.client.persist(self.lazy)
        by_key = {future.key: future for future in futures_of(self.array)}
        self.chunks = [by_key[key] for key in flatten(self.array.__dask_keys__())]
        self.locate()

    def locate(self):
        """Refresh which worker holds each chunk (one of them when several do)."""
        self.client.wait_for_workers(1)
        wait(self.chunks)
        who_has = self.client.who_has(self.chunks)
        self.holders = [sorted(who_has.get(chunk.key, ()))[:1] or [None] for chunk in self.chunks]

    def lost(self):
        return any(chunk.status in ("cancelled", "lost", "error") for chunk in self.chunks)


class ClusterSteps:
    """The gradient source of :func:`~fastconv.training.loop.train_steps` that runs each step on the workers."""

    def __init__(self, client, model, loss, data, classes, retries):
        self.client, self.model, self.loss, self.data, self.classes = client, model, loss, data, classes
        self.retries = retries
        self.finished = 0
        self.template = self._send_template()

    def _send_template(self):
        (future,) = self.client.scatter([_Template((copy.deepcopy(self.model), self.loss))], broadcast=True, hash=False)
        return future

    def __call__(self, idx: NDArray[np.intp]) -> tuple[float, int, dict[str, NDArray[np.floating]]]:
        """(mean loss, correct, gradients) of the global batch ``idx``, summed over the workers."""
        labels = self.data.y[idx]
        norm = self.loss.normaliser(labels, self.classes)
        chunk_of = np.searchsorted(self.data.offsets, idx, side="right") - 1
        for attempt in itertools.count():
            try:
                result = self._attempt(idx, labels, norm, chunk_of).result()
                self.finished += 1
                return result
            except CLUSTER_ERRORS as exc:
                if attempt >= self.retries:
                    raise ClusterStepFailed(
                        f"training step {self.finished + 1} failed on the cluster after {attempt + 1} attempts: "
                        f"{type(exc).__name__}: {exc}; the model holds the parameters after step {self.finished}"
                    ) from exc
                self._recover()
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, idx, labels, norm, chunk_of) -> Future:
        params = {name: value.copy() for name, value in self.model.parameters().items()}
        by_worker: dict[Any, list[int]] = {}
        for c in np.unique(chunk_of):
            by_worker.setdefault(self.data.holders[c][0], []).append(int(c))
        shares = []
        for worker, cs in by_worker.items():
            rows = [idx[chunk_of == c] for c in cs]
            share_labels = np.concatenate([self.data.y[r] for r in rows])
            scale = float(self.loss.normaliser(share_labels, self.classes) / norm)
            shares.append(
                self.client.submit(
                    share_gradients,
                    self.template,
                    params,
                    scale,
                    share_labels,
                    [r - self.data.offsets[c] for r, c in zip(rows, cs)],
                    *[self.data.chunks[c] for c in cs],
                    workers=None if worker is None else [worker],
                    allow_other_workers=True,
                    pure=False,
                )
            )
        return tree_sum(self.client, shares)

    def _recover(self):
        """After a lost worker: put back what was lost and look up the chunks' holders again."""
        if self.template.status != "finished":
            self.template = self._send_template()
        if self.data.lost():
            self.data.persist()
        else:
            self.data.locate()


def _client(client):
    if client is None:
        try:
            return Client.current()
        except ValueError:
            raise ValueError("fit needs a dask client: pass client= or create a distributed.Client first") from None
    if not isinstance(client, Client):
        raise TypeError(f"client must be a distributed.Client, got {type(client).__name__}")
    return client


def fit(
    model: Sequential,
    x: ArrayLike | da.Array,
    y: ArrayLike | da.Array,
    *,
    client: Client | None = None,
    epochs: int,
    batch_size: int,
    lr: float,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    validation_data: tuple[Any, Any] | None = None,
    schedule: str | Callable[[float, int, int], float] | None = None,
    balance_classes: bool = False,
    seed: int | None = None,
    progress: bool = True,
    loss: SoftmaxCrossEntropy | None = None,
    retries: int = 2,
    optimizer: str = "sgd",
) -> dict[str, list]:
    """Train ``model`` on a Dask cluster by data-parallel SGD; the same steps and result as :func:`fastconv.training.fit`.

    Parameters
    ----------
    model : fastconv.nn.Sequential
        Updated in place on the driver, one whole step at a time.
    x : dask or NumPy array (N, C, H, W); y : int array (N,), dask or NumPy
        The images stay on the workers (a NumPy x is sent there once); the
        labels are gathered to the driver.
    client : distributed.Client, optional
        Default: the current client.
    epochs, batch_size, lr, momentum, weight_decay, validation_data, schedule,
    balance_classes, seed, progress, loss, optimizer : as in :func:`fastconv.training.fit`
        ``batch_size`` is the global batch, split among the workers by where
        its samples live. With the same seed the steps draw the same samples
        as ``fit``: float64 parameters agree with it to rounding (the sums
        run in another order).
    retries : int
        How many times a step whose tasks were lost with a worker is tried again.

    Returns
    -------
    history : dict of lists, as :func:`fastconv.training.fit`'s

    Raises
    ------
    ClusterStepFailed
        A step could not finish after ``retries`` more attempts; the model
        holds the parameters after the last finished step.
    TrainingDiverged
        As in :func:`fastconv.training.fit`.
    """
    client = _client(client)
    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a fastconv.nn.Sequential, got {type(model).__name__}")
    schedule = check_options(epochs, batch_size, lr, momentum, weight_decay, schedule, optimizer)
    if not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be an int >= 0, got {retries!r}")
    loss = loss or SoftmaxCrossEntropy()
    images, labels = _check_arrays(model, x, y, "training data")
    held_out_arrays = None if validation_data is None else _check_arrays(model, *validation_data, "validation_data")
    # The model's scores over an empty batch: checks it against x's shape and counts the classes (no kernel runs).
    classes = copy.deepcopy(model).forward(np.zeros((0, *images.shape[1:]), dtype=model.dtype)).shape[1]
    data = ClusterData(client, model, images, labels, classes)
    validate = None
    if held_out_arrays is not None:
        held_out = ClusterData(client, model, held_out_arrays[0], held_out_arrays[1], classes)

        def validate() -> dict[str, Any]:
            scores = client.compute(model_scores(model, held_out.array)).result()
            return score_report(scores, held_out.y, loss)

    steps = ClusterSteps(client, model, loss, data, classes, retries)
    return train_steps(
        model,
        data.y,
        steps,
        validate,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        momentum=momentum,
        weight_decay=weight_decay,
        schedule=schedule,
        balance_classes=balance_classes,
        seed=seed,
        progress=progress,
        optimizer=optimizer,
    )
