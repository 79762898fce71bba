"""Shared settings. Heavy imports (fastconv, torch) happen in setup(), never at module import,
so that each benchmark process loads only the library it measures."""

# The benchmark shape set lives in fastconv.bench.SHAPES; asv needs the names before import.
SHAPE_NAMES = ["lecture", "cifar_l1", "mid_3x3", "big_3x3", "pointwise"]
DTYPES = ["float32", "float64"]
METHODS = ["direct", "im2col", "auto"]
PASSES = ["forward", "grad_input", "grad_weight"]


class ConvBenchmark:
    """Timing policy: setup() makes one warm-up call, so compilation never lands in a timing."""

    number = 1
    repeat = (1, 5, 20.0)
    warmup_time = 0.0
    processes = 1
    timeout = 300
