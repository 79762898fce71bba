"""The mini-batch training loop and evaluation."""

import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from tqdm.auto import tqdm

from .._geometry import positive_int, real_in
from ..nn.loss import SoftmaxCrossEntropy
from ..nn.sequential import Sequential
from ..tuning import tune_model
from .optim import OPTIMIZERS, TrainingDiverged, make_schedule


def _check_data(model, x, y, name) -> tuple[NDArray[np.floating], NDArray[np.integer]]:
    x = np.asarray(x, dtype=model.dtype)
    y = np.asarray(y)
    if x.ndim < 2 or y.shape != (x.shape[0],):
        raise ValueError(f"{name}: x must be (N, ...) and y (N,), got {x.shape} and {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{name}: labels y must be integers, got {y.dtype}")
    if len(y) == 0:
        raise ValueError(f"{name}: no samples")
    return x, y


def l2_penalty(params, weight_decay):
    """The lecture's lambda * sum of squared weights (biases are not penalised)."""
    return weight_decay * sum(
        float(np.sum(p.astype(np.float64) ** 2)) for name, p in params.items() if name.endswith("weight")
    )


def _epoch_order(y, rng, balance_classes):
    """Sample order for one epoch: a permutation, or class-balanced draws with replacement."""
    if not balance_classes:
        return rng.permutation(len(y))
    counts = np.bincount(y)
    p = 1.0 / counts[y]
    return rng.choice(len(y), size=len(y), replace=True, p=p / p.sum())


def check_options(
    epochs, batch_size, lr, momentum, weight_decay, schedule, optimizer="sgd"
) -> Callable[[float, int, int], float]:
    """The checks of :func:`fit`'s options (an error naming the option); return the schedule."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {tuple(OPTIMIZERS)}, got {optimizer!r}")
    positive_int(epochs, "epochs")
    positive_int(batch_size, "batch_size")
    lr = real_in(lr, "lr", 0.0, low_open=True)
    real_in(weight_decay, "weight_decay", 0.0)
    real_in(momentum, "momentum", 0.0, 1.0, high_open=True)
    return make_schedule(schedule, lr)


def _update(params, optimizer, lr, momentum, weight_decay):
    """``update(grads, step_lr)`` of the named optimizer, and the lecture's L2 factor it adds to the loss.

    SGD takes ``weight_decay`` as the lecture's L2 term (the loss gains
    ``weight_decay * sum(W**2)``); Adam and AdamW as their own, as in PyTorch.
    """
    if optimizer == "sgd":
        sgd = OPTIMIZERS["sgd"](params, momentum=momentum)
        if not weight_decay:
            return sgd.step, 0.0

        def step(grads, step_lr):
            grads = {k: g + (2 * weight_decay) * params[k] if k.endswith("weight") else g for k, g in grads.items()}
            sgd.step(grads, step_lr)

        return step, weight_decay
    return OPTIMIZERS[optimizer](params, lr=lr, weight_decay=weight_decay).step, 0.0


def batch_gradients(model, loss, x, y) -> tuple[float, int, dict[str, NDArray[np.floating]]]:
    """Forward and backward of one batch: its mean loss, correct predictions and parameter gradients.

    Parameters
    ----------
    model : Sequential; loss : SoftmaxCrossEntropy
    x : array (B, C, H, W); y : int array (B,)

    Returns
    -------
    batch_loss : float; correct : int; grads : {"index.name": array}, dL/dparam of the mean loss
    """
    # Overflow is detected by the caller (train_steps) and reported as TrainingDiverged.
    with np.errstate(over="ignore", invalid="ignore"):
        scores = model.forward(x)
        batch_loss = loss.forward(scores, y)
        model.backward(loss.backward(), need_input_grad=False)
    return batch_loss, int(np.sum(scores.argmax(axis=1) == y)), model.gradients()


def train_steps(
    model: Sequential,
    y: NDArray[np.integer],
    gradients_of: Callable[[NDArray[np.intp]], tuple[float, int, dict[str, NDArray[np.floating]]]],
    validate: Callable[[], dict[str, Any]] | None,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    momentum: float,
    weight_decay: float,
    schedule: Callable[[float, int, int], float],
    balance_classes: bool,
    seed: int | None,
    progress: bool,
    optimizer: str = "sgd",
) -> dict[str, list]:
    """The epochs of :func:`fit` around a gradient source; the update happens here, on ``model``.

    ``gradients_of(idx)`` gives ``batch_gradients`` of the samples ``idx``
    (in-process, or summed over a cluster's workers); ``validate()`` the
    validation loss and accuracy. Each step's update is all or nothing: a
    non-finite loss or parameter raises :class:`TrainingDiverged` before the
    model changes.
    """
    rng = np.random.default_rng(seed)
    params = model.parameters()
    update, lecture_l2 = _update(params, optimizer, lr, momentum, weight_decay)
    steps = -(-len(y) // batch_size)
    show = progress and sys.stderr.isatty()
    history: dict[str, list] = {
        key: [] for key in ("epoch", "lr", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds")
    }
    iteration = 0
    for epoch in range(epochs):
        start = time.perf_counter()
        model.train()
        order = _epoch_order(y, rng, balance_classes)
        total_loss, correct = 0.0, 0
        bar = tqdm(total=steps, desc=f"epoch {epoch + 1}/{epochs}", leave=False, disable=not show, file=sys.stderr)
        for b in range(steps):
            idx = order[b * batch_size : (b + 1) * batch_size]
            step_lr = schedule(lr, epoch, iteration)
            batch_loss, batch_correct, grads = gradients_of(idx)
            objective = batch_loss + (l2_penalty(params, lecture_l2) if lecture_l2 else 0.0)
            if not np.isfinite(objective):
                bar.close()
                raise TrainingDiverged(
                    f"loss became {objective} at epoch {epoch + 1}, batch {b + 1}; "
                    "the model keeps its last finite parameters (try a lower lr)"
                )
            with np.errstate(over="ignore", invalid="ignore"):
                update(grads, step_lr)
            total_loss += batch_loss * len(idx)
            correct += batch_correct
            iteration += 1
            bar.set_postfix(loss=f"{batch_loss:.4f}")
            bar.update()
        bar.close()
        history["epoch"].append(epoch + 1)
        history["lr"].append(step_lr)
        history["train_loss"].append(total_loss / len(y))
        history["train_accuracy"].append(correct / len(y))
        if validate is not None:
            result = validate()
            history["val_loss"].append(result["loss"])
            history["val_accuracy"].append(result["accuracy"])
        else:
            history["val_loss"].append(None)
            history["val_accuracy"].append(None)
        model.train()
        history["seconds"].append(time.perf_counter() - start)
        if show:
            val = (
                ""
                if validate is None
                else (f", val loss {history['val_loss'][-1]:.4f}, val acc {history['val_accuracy'][-1]:.4f}")
            )
            tqdm.write(
                f"epoch {epoch + 1}/{epochs}: train loss {history['train_loss'][-1]:.4f}, "
                f"train acc {history['train_accuracy'][-1]:.4f}{val}",
                file=sys.stderr,
            )
    return history


def fit(
    model: Sequential,
    x: ArrayLike,
    y: ArrayLike,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    validation_data: tuple[ArrayLike, ArrayLike] | None = None,
    schedule: str | Callable[[float, int, int], float] | None = None,
    balance_classes: bool = False,
    seed: int | None = None,
    progress: bool = True,
    loss: SoftmaxCrossEntropy | None = None,
    optimizer: str = "sgd",
    tune: bool = False,
) -> dict[str, list]:
    """Train ``model`` by mini-batch SGD with momentum (or Adam, AdamW); return the history.

    The model runs in training mode (``model.train()``) for the steps and in
    evaluation mode for the validation data; it is left in training mode.

    Parameters
    ----------
    model : fastconv.nn.Sequential
    x : array (N, C, H, W); y : int array (N,)
    epochs, batch_size : int
    lr : float
        Base learning rate; ``schedule`` varies it ("constant", "step",
        "cyclic", or a callable ``(base_lr, epoch, iteration) -> lr``).
    momentum : float
        SGD's momentum (unused by Adam and AdamW).
    weight_decay : float
        With SGD, the lecture's L2 term: ``weight_decay * sum(W**2)`` over
        all weights is added to the loss, so the gradient gains
        ``2*weight_decay*W``. (torch.optim.SGD's weight_decay adds
        ``weight_decay*W``: half of ours.) With "adam" and "adamw" it is the
        optimiser's own, as in PyTorch, on every parameter: Adam adds
        ``weight_decay*param`` to the gradient, AdamW shrinks
        ``param *= 1 - lr*weight_decay`` (here 0 unless given, not AdamW's
        1e-2); the loss then has no L2 term.
    validation_data : (x_val, y_val), optional
    balance_classes : bool
        Draw each epoch's samples with probability inverse to their class
        frequency, for imbalanced data.
    seed : int, optional
        Seeds shuffling; with the same model initialisation the whole run
        is then bit-for-bit reproducible.
    progress : bool
        A tqdm bar with the live loss, shown only when stderr is a terminal.
    loss : SoftmaxCrossEntropy, optional
    optimizer : {"sgd", "adam", "adamw"}
        :class:`~fastconv.training.optim.SGD` with ``momentum``, or
        :class:`~fastconv.training.optim.Adam` / ``AdamW`` with PyTorch's
        betas and eps; ``lr`` and ``schedule`` set the learning rate of each.
    tune : bool
        First measure every method on the model's convolutions for one batch
        (:func:`fastconv.tune_model`), so that ``method="auto"`` layers run the
        fastest on this machine; the choices are kept for later runs.

    Returns
    -------
    history : dict of lists, one entry per epoch: epoch, lr, train_loss,
        train_accuracy, val_loss, val_accuracy (None without validation
        data), seconds.

    Raises
    ------
    TrainingDiverged
        The loss or an update stopped being finite; the model keeps the last
        finite parameters.
    """
    x, y = _check_data(model, x, y, "training data")
    schedule = check_options(epochs, batch_size, lr, momentum, weight_decay, schedule, optimizer)
    if validation_data is not None:
        validation_data = _check_data(model, *validation_data, "validation_data")
    loss = loss or SoftmaxCrossEntropy()
    if tune:
        tune_model(model, x[:batch_size])
    return train_steps(
        model,
        y,
        lambda idx: batch_gradients(model, loss, x[idx], y[idx]),
        None if validation_data is None else lambda: evaluate(model, *validation_data, loss=loss),
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


def evaluate(
    model: Sequential, x: ArrayLike, y: ArrayLike, *, batch_size: int = 512, loss: SoftmaxCrossEntropy | None = None
) -> dict[str, Any]:
    """Loss, accuracy, per-class accuracy and confusion matrix of ``model`` on (x, y).

    Returns
    -------
    dict with ``loss`` (float), ``accuracy`` (float), ``per_class_accuracy``
    (classes,) with NaN for classes absent from y, and ``confusion``
    (classes, classes): row = true class, column = predicted class.
    """
    x, y = _check_data(model, x, y, "evaluation data")
    loss = loss or SoftmaxCrossEntropy()
    with model.evaluation_mode():
        scores = np.concatenate([model.forward(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    return score_report(scores, y, loss)


def score_report(scores: NDArray[np.floating], y: NDArray[np.integer], loss: SoftmaxCrossEntropy) -> dict[str, Any]:
    """:func:`evaluate`'s dict from the model's scores (N, classes) and the labels y (N,)."""
    mean_loss = loss.forward(scores, y)  # checks the labels against the classes first
    classes = scores.shape[1]
    predicted = scores.argmax(axis=1)
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (y, predicted), 1)
    totals = confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(totals > 0, np.diag(confusion) / np.maximum(totals, 1), np.nan)
    return {
        "loss": mean_loss,
        "accuracy": float(np.mean(predicted == y)),
        "per_class_accuracy": per_class,
        "confusion": confusion,
    }
