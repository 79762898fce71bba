"""Shared settings of the suites.

The suites call only fastconv's public API (``fastconv.conv2d`` and its
gradients, ``fastconv.nn``, the trainer), so that ``asv run`` over the whole
history times every commit that had those functions. A case that a commit
cannot run (no such method, no such argument) raises NotImplementedError in
setup, asv's sign for "skipped". Heavy imports (fastconv, torch) happen in
setup, never at module import, so each benchmark process loads only the
library it measures.
"""

import os

import numpy as np

# (N, C, H, W, K, R, S, stride, padding, dilation, groups): this suite's own layers, kept apart from
# fastconv.bench's so that old commits, which lack those names, can still be measured.
SHAPES = {
    "lecture": (100, 3, 32, 32, 4, 5, 5, 1, 0, 1, 1),
    "cifar_l1": (64, 3, 32, 32, 16, 5, 5, 1, 0, 1, 1),
    "mid_3x3": (64, 64, 16, 16, 64, 3, 3, 1, 1, 1, 1),
    "big_3x3": (32, 128, 28, 28, 128, 3, 3, 1, 1, 1, 1),
    "pointwise": (32, 256, 14, 14, 256, 1, 1, 1, 0, 1, 1),
}
# FASTCONV_ASV_SHAPES=lecture,cifar_l1 narrows the set, e.g. for the smoke run in tox or a history run.
SHAPE_NAMES = [s for s in os.environ.get("FASTCONV_ASV_SHAPES", ",".join(SHAPES)).split(",") if s]
DTYPES = ["float32", "float64"]
METHODS = ["direct", "im2col", "winograd", "auto"]
PASSES = ["forward", "grad_input", "grad_weight"]


def make_operands(shape, dtype, seed=0):
    """x, weight, grad_output and the keyword options of one layer of :data:`SHAPES`."""
    N, C, H, W, K, R, S, stride, padding, dilation, groups = shape
    P = (H + 2 * padding - dilation * (R - 1) - 1) // stride + 1
    Q = (W + 2 * padding - dilation * (S - 1) - 1) // stride + 1
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    weight = rng.standard_normal((K, C // groups, R, S)).astype(dtype)
    grad_out = rng.standard_normal((N, K, P, Q)).astype(dtype)
    return x, weight, grad_out, dict(stride=stride, padding=padding, dilation=dilation, groups=groups)


class ConvBenchmark:
    """Timing policy: setup() makes one warm-up call, so compilation never lands in a timing."""

    number = 1
    repeat = (1, 5, 20.0)
    warmup_time = 0.0
    processes = 1
    timeout = 300
