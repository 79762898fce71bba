"""Shared settings. Heavy imports (fastconv, torch) happen in setup(), never at module import,
so that each benchmark process loads only the library it measures."""

import os

# The benchmark shape set lives in fastconv.bench.SHAPES; asv needs the names before import.
# FASTCONV_ASV_SHAPES=lecture,cifar_l1 narrows the set, e.g. for the quick smoke run in tox.
ALL_SHAPE_NAMES = ["lecture", "cifar_l1", "mid_3x3", "big_3x3", "pointwise"]
SHAPE_NAMES = [s for s in os.environ.get("FASTCONV_ASV_SHAPES", ",".join(ALL_SHAPE_NAMES)).split(",") if s]
DTYPES = ["float32", "float64"]
METHODS = ["direct", "im2col", "winograd", "auto"]
PASSES = ["forward", "grad_input", "grad_weight"]


class ConvBenchmark:
    """Timing policy: setup() makes one warm-up call, so compilation never lands in a timing."""

    number = 1
    repeat = (1, 5, 20.0)
    warmup_time = 0.0
    processes = 1
    timeout = 300
