"""Numerical gradient checking: analytic gradients against centred finite differences.

The relative error reported is the one used in Stanford's CS231n and the
lecture's course: ``|a - n| / max(eps, |a| + |n|)``, maximised over the
checked entries. In float64, values below about 1e-6 mean the gradient is
right; ReLU and max-pool kinks can produce an occasional larger value.
"""

import numpy as np

from .loss import SoftmaxCrossEntropy


def relative_error(analytic, numeric, eps=1e-12):
    """Largest ``|a - n| / max(eps, |a| + |n|)`` over all entries (0 for empty arrays)."""
    a, n = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - n) / np.maximum(eps, np.abs(a) + np.abs(n))))


def _entries(array, max_entries, rng):
    if max_entries is None or array.size <= max_entries:
        return list(np.ndindex(array.shape))
    flat = rng.choice(array.size, size=max_entries, replace=False)
    return [np.unravel_index(i, array.shape) for i in flat]


def numerical_gradient(f, array, *, h=1e-5, max_entries=None, seed=0):
    """Centred differences ``(f(a + h) - f(a - h)) / 2h`` of the scalar ``f()``.

    ``array`` is perturbed in place one entry at a time and restored exactly.
    Returns (gradient with NaN where not checked, list of checked indices).
    """
    grad = np.full(array.shape, np.nan)
    checked = _entries(array, max_entries, np.random.default_rng(seed))
    for index in checked:
        old = array[index]
        array[index] = old + h
        plus = f()
        array[index] = old - h
        minus = f()
        array[index] = old
        grad[index] = (plus - minus) / (2 * h)
    return grad, checked


def _compare(value, analytic, arrays, h, max_entries, seed):
    """{name: max relative error} of analytic[name] against differences of value() in arrays[name]."""
    report = {}
    for name, array in arrays.items():
        numeric, checked = numerical_gradient(value, array, h=h, max_entries=max_entries, seed=seed)
        idx = tuple(np.array(checked).T)
        report[name] = relative_error(analytic[name][idx], numeric[idx])
    return report


def check_model(model, x, y, *, loss=None, h=1e-5, max_entries=None, seed=0):
    """Max relative error of every parameter's gradient and the input gradient of ``model``.

    Every perturbed forward pass runs in the model's current mode: in training
    mode Dropout draws new masks (the differences are then noise) and
    BatchNorm2d updates its running statistics. Check models with Dropout in
    evaluation mode, and expect the running statistics to have moved.

    Parameters
    ----------
    model : fastconv.nn.Sequential (float64 recommended)
    x : array (N, ...); y : int array (N,)
    max_entries : int, optional
        Check at most this many randomly chosen entries per array.

    Returns
    -------
    dict mapping "index.name" and "input" to the max relative error.
    """
    loss = loss or SoftmaxCrossEntropy()
    x = np.array(x, dtype=model.dtype)

    def value():
        return loss.forward(model.forward(x), y)

    value()
    grad_input = model.backward(loss.backward(), need_input_grad=True)
    analytic = {name: g.copy() for name, g in model.gradients().items()}
    analytic["input"] = grad_input
    arrays = dict(model.parameters(), input=x)
    return _compare(value, analytic, arrays, h, max_entries, seed)


def check_layer(layer, x, *, h=1e-5, max_entries=None, seed=0):
    """Max relative error of a layer's parameter and input gradients.

    Uses the scalar ``L = sum(layer(x) * R)`` with a fixed random R, so
    dL/d(output) = R. Returns a dict mapping parameter names and "input" to
    the max relative error.
    """
    x = np.array(x, dtype=np.float64)
    rng = np.random.default_rng(seed)
    R = rng.standard_normal(layer.forward(x).shape)

    def value():
        return float(np.sum(layer.forward(x) * R))

    value()
    grad_input = layer.backward(R.astype(x.dtype), need_input_grad=True)
    analytic = {name: g.copy() for name, g in layer.grads.items()}
    analytic["input"] = grad_input
    return _compare(value, analytic, dict(layer.params, input=x), h, max_entries, seed)
