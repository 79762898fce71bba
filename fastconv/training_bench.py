"""Benchmark training steps: ``fastconv bench --training``.

Trains each network of :data:`NETWORKS` (a built-in model with its input
size and batch) for a fixed number of steps on random samples with random
labels, float32, SGD with momentum 0.9, and reports milliseconds per step:
forward, loss, backward and update as :func:`fastconv.training.fit` runs
them (its per-batch work, such as taking the batch, included). Each side is
timed in ``bench.ROUNDS`` rounds of untimed warm-up steps (``_timing.WARM_UP_SECONDS``) then ``--steps``
timed ones; the best round's mean per step is reported.

When PyTorch is installed, the same network (fastconv's layers carry
PyTorch's names and arguments) is trained by PyTorch in the benchmark's child
process (``fastconv/_torch_timer.py``: same thread count, the user's OpenMP
environment), its rounds alternating with fastconv's.
"""

import argparse
import json
import time

import numpy as np

from ._geometry import positive_int
from ._timing import WARM_UP_SECONDS, warm_up
from .bench import ROUNDS, benchmark_session, facts_line, machine_facts

# Built-in model name -> (one sample's shape, batch size).
NETWORKS = {
    "default": ((1, 8, 8), 32),  # the digits ConvNet of `fastconv train`
    "mnist": ((1, 28, 28), 64),
    "cifar": ((3, 32, 32), 64),  # three conv blocks with BatchNorm, global average pooling
}
CLASSES = 10
DTYPE = "float32"
WARMUP = 2  # untimed steps at the start of each round, repeated for WARM_UP_SECONDS at least
LR, MOMENTUM = 0.01, 0.9


def layer_specs(model):
    """The layers of a Sequential as ``[{"type": class name, "config": config()}]``, ready for JSON."""
    return [{"type": type(layer).__name__, "config": layer.config()} for layer in model.layers]


def synthetic_data(sample_shape, samples, seed=0):
    """(x, y): standard normal float32 samples and uniform random labels of CLASSES classes."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((samples, *sample_shape)).astype(DTYPE), rng.integers(0, CLASSES, samples)


def fastconv_step_seconds(model, x, y, batch, steps):
    """Mean seconds per step of ``fit`` over ``steps`` batches of (x, y), after untimed warm-up steps."""
    from .training import fit

    options = dict(epochs=1, batch_size=batch, lr=LR, momentum=MOMENTUM, progress=False, seed=0)
    warm_up(lambda: fit(model, x[: WARMUP * batch], y[: WARMUP * batch], **options), WARM_UP_SECONDS)
    start = time.perf_counter()
    fit(model, x[: steps * batch], y[: steps * batch], **options)
    return (time.perf_counter() - start) / steps


def torch_step_seconds(timer, model, sample_shape, batch, steps):
    """PyTorch's mean seconds per step of the same network (one round in the child), or None."""
    if not timer.version:
        return None
    request = dict(
        network=layer_specs(model),
        sample_shape=sample_shape,
        classes=CLASSES,
        dtype=DTYPE,
        batch=batch,
        steps=steps,
        warmup=WARMUP,
        lr=LR,
        momentum=MOMENTUM,
    )
    return timer.ask(request).get("seconds")


def run(networks, threads, steps, with_torch=True):
    """Time ``steps`` training steps of each network in ROUNDS rounds; a dict with machine facts and rows."""
    from .nn.models import build_model

    rows = []
    with benchmark_session(threads, with_torch) as timer:
        for name in networks:
            sample_shape, batch = NETWORKS[name]
            model = build_model(name, sample_shape, CLASSES, dtype=np.dtype(DTYPE), seed=0)
            x, y = synthetic_data(sample_shape, batch * max(steps, WARMUP))
            best, torch_best = float("inf"), float("inf")
            for _ in range(ROUNDS):
                best = min(best, fastconv_step_seconds(model, x, y, batch, steps))
                if timer:
                    torch_best = min(
                        torch_best, torch_step_seconds(timer, model, sample_shape, batch, steps) or torch_best
                    )
            ms = best * 1e3
            torch_ms = None if torch_best == float("inf") else torch_best * 1e3
            rows.append(
                dict(
                    network=name,
                    input=[batch, *sample_shape],
                    fastconv_ms=ms,
                    torch_ms=torch_ms,
                    ratio=None if torch_ms is None else ms / torch_ms,
                )
            )
    return {
        **machine_facts(threads, timer.version if timer else None),
        "dtype": DTYPE,
        "optimizer": f"SGD lr {LR} momentum {MOMENTUM}",
        "timing": f"best of {ROUNDS} rounds, each the mean of {steps} steps after {WARM_UP_SECONDS * 1e3:.0f} ms of warm-up",
        "rows": rows,
    }


def format_table(result):
    """The result as a Markdown table under a line of facts."""
    lines = [
        facts_line(result),
        f"{result['dtype']}, {result['optimizer']}, random data; ms per step: {result['timing']}",
        "",
        "| network | input (batch) | fastconv ms/step | PyTorch ms/step | ratio fastconv/PyTorch |",
        "|---|---|---:|---:|---:|",
    ]
    for r in result["rows"]:
        torch_ms = "" if r["torch_ms"] is None else f"{r['torch_ms']:.2f}"
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}"
        shape = "x".join(str(n) for n in r["input"][1:])
        lines.append(f"| {r['network']} | {shape} ({r['input'][0]}) | {r['fastconv_ms']:.2f} | {torch_ms} | {ratio} |")
    return "\n".join(lines)


def _steps_argument(text):
    try:
        return positive_int(int(text), "--steps")
    except (ValueError, TypeError) as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_arguments(parser):
    """--training, --networks and --steps (``fastconv bench`` also takes --threads, --no-torch and --json)."""
    parser.add_argument(
        "--training",
        action="store_true",
        help="time training steps of built-in networks instead of single passes (--shapes, --dtypes, --passes, "
        "--methods and --repeat then do not apply)",
    )
    parser.add_argument(
        "--networks",
        nargs="+",
        choices=list(NETWORKS),
        default=list(NETWORKS),
        help="with --training: the built-in models to train ("
        + ", ".join(f"{name} {'x'.join(map(str, shape))} batch {batch}" for name, (shape, batch) in NETWORKS.items())
        + ")",
    )
    parser.add_argument(
        "--steps",
        type=_steps_argument,
        default=20,
        help=f"with --training: timed steps per round ({ROUNDS} rounds, each after {WARM_UP_SECONDS * 1e3:.0f} ms of warm-up)",
    )


def training_command(args):
    """Run the training benchmark for parsed ``fastconv bench --training`` arguments; print the table."""
    import numba

    from ._files import write_atomically

    threads = args.threads or numba.config.NUMBA_NUM_THREADS
    result = run(args.networks, threads, args.steps, with_torch=not args.no_torch)
    print(format_table(result))
    if args.json:
        write_atomically(args.json, lambda f: f.write(json.dumps(result, indent=2).encode()))
    return 0
