"""Per-machine autotuning: measure every method on given layers, keep the fastest for ``method="auto"``.

    fastconv.tune(geometries)          # a list of (input_shape, weight_shape, options) layers
    fastconv.tune_model(model, x)      # the convolutions a model runs on a batch
    fastconv tune --shapes ...         # the same from the command line (default: the benchmark's layers)

Each applicable method of each pass is timed warm (a first call compiles and
is not counted), best of ``repeat`` calls in each of TUNING_ROUNDS rounds over
all the layers and methods, with numba's current thread count;
the winners go to the tuning cache (:mod:`fastconv.engine.tuning_cache`), which
``auto`` then reads in this and later processes without measuring.
"""

import numpy as np

from ._geometry import check_method_applies, conv_geometry, float_dtype, positive_int, shape4
from ._names import METHODS, PASSES
from ._timing import best_time
from .engine import key_of, recording, run_pass, tuning_cache


def _applicable(geom):
    methods = []
    for method in METHODS:
        try:
            check_method_applies(method, geom.kernel_size, geom.stride, geom.dilation)
        except ValueError:
            continue
        methods.append(method)
    return methods


# Rounds over all the layers, each timing every method of every pass once (best of ``repeat`` calls),
# and each method keeping its best round: a slow spell of a shared machine (seconds at times, 1.5-2x
# slower) then spoils one round of a layer, not all of them, as it did when a layer's rounds ran back to
# back (two tunings of the suite in such spells picked a method 1.1-1.9x slower on 7-8 of 114 cells).
TUNING_ROUNDS = 3


def _pass_calls(pass_name, methods, geom, dtype, rng):
    """{method: a zero-argument function running one pass of ``geom``}, on shared random operands."""
    x, w, g = (
        rng.standard_normal(shape).astype(dtype) for shape in (geom.input_shape, geom.weight_shape, geom.output_shape)
    )
    a, b, shape = {
        "forward": (x, w, geom.output_shape),
        "grad_input": (g, w, geom.input_shape),
        "grad_weight": (g, x, geom.weight_shape),
    }[pass_name]
    result = np.empty(shape, dtype)  # every pass overwrites its result
    return {m: lambda m=m: run_pass(pass_name, m, geom, result, a, b) for m in methods}


def _tune_geometries(items, repeat):
    """Measure [(pass, geometry, dtype)]; store and return {key: {"method", "ms"}} (duplicates measured once)."""
    rng = np.random.default_rng(0)
    layers = {}
    for pass_name, geom, dtype in items:
        key = key_of(pass_name, geom, dtype)
        if key not in layers and geom.N:
            layers[key] = (pass_name, geom, dtype)
    times = {key: dict.fromkeys(_applicable(geom), float("inf")) for key, (_, geom, _) in layers.items()}
    for _ in range(TUNING_ROUNDS):
        for key, (pass_name, geom, dtype) in layers.items():
            # Fresh operands each round: all layers' at once could take gigabytes.
            for method, call in _pass_calls(pass_name, times[key], geom, dtype, rng).items():
                times[key][method] = min(times[key][method], best_time(call, repeat) * 1e3)
    results = {
        key: {"method": min(ms, key=ms.get), "ms": {m: round(t, 4) for m, t in ms.items()}} for key, ms in times.items()
    }
    if results:
        tuning_cache.store(results)
    return results


def tune(layers, *, dtype="float32", passes=PASSES, repeat=5):
    """Measure every method on each layer and pass; ``auto`` uses the fastest from then on.

    Parameters
    ----------
    layers : iterable of (input_shape, weight_shape) or (input_shape, weight_shape, options)
        input_shape (N, C, H, W), weight_shape (K, C/groups, R, S), options a
        dict of conv2d's stride, padding, dilation, groups.
    dtype : "float32" or "float64"
    passes : subset of ("forward", "grad_input", "grad_weight")
    repeat : timed calls per method and round (the best counts)

    Returns
    -------
    dict mapping each cache key to {"method": fastest, "ms": {method: milliseconds}}
    """
    dtype = float_dtype(dtype)
    repeat = positive_int(repeat, "repeat")
    passes = tuple(passes)
    if not set(passes) <= set(PASSES):
        raise ValueError(f"passes must be among {PASSES}, got {passes}")
    items = []
    for i, layer in enumerate(layers):
        try:
            input_shape, weight_shape, *rest = layer
        except (TypeError, ValueError):
            raise TypeError(f"layers[{i}] must be (input_shape, weight_shape[, options]), got {layer!r}") from None
        if len(rest) > 1 or (rest and not isinstance(rest[0], dict)):
            raise TypeError(f"layers[{i}] must be (input_shape, weight_shape[, options]), got {layer!r}")
        input_shape = shape4(input_shape, f"layers[{i}]'s input_shape")
        weight_shape = shape4(weight_shape, f"layers[{i}]'s weight_shape")
        geom = conv_geometry(input_shape, weight_shape, **(rest[0] if rest else {}))
        items += [(p, geom, dtype) for p in passes]
    return _tune_geometries(items, repeat)


def tune_model(model, x, *, repeat=5):
    """Tune the convolutions ``model`` runs on the batch ``x`` (N, ...), as training would run them.

    One forward and backward pass in evaluation mode finds the layers
    (nothing of the model changes but its gradients); only passes whose
    method is "auto" are tuned. Returns what :func:`tune` returns.
    """
    x = np.asarray(x)
    with model.evaluation_mode(), recording() as seen:
        out = model.forward(x)
        model.backward(np.ones_like(out), need_input_grad=False)
    return _tune_geometries(seen, positive_int(repeat, "repeat"))
