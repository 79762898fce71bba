"""Benchmark every convolution pass: ``fastconv bench`` or ``python -m fastconv.bench``.

For each shape x dtype x pass x method it prints milliseconds (the best of
``--repeat`` calls, timed in ROUNDS rounds that each start with
``_timing.WARM_UP_SECONDS`` of warm-up calls, so compilation is excluded), GFLOP/s
counted as 2*N*K*P*Q*(C/groups)*R*S, the peak extra memory the pass allocated
through NumPy (tracemalloc, result excluded), and, when PyTorch is installed,
PyTorch's time for the same pass and the speedup torch_ms / fastconv_ms.

PyTorch is timed in a child process with the same thread count: it ships the
same OpenMP runtime (libgomp.so.1) that numba uses, and fastconv sets that
runtime's spin count (see ``fastconv/_thread_policy.py``), which would
change PyTorch's timings if both ran in one process. The child times each cell in
rounds alternating with fastconv's.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import tracemalloc
from contextlib import contextmanager

import numpy as np

from . import _torch_timer
from ._arguments import positive_int
from ._names import DTYPE_NAMES, METHODS, PASSES
from ._timing import WARM_UP_SECONDS, best_time

# (N, C, H, W, K, R, S, stride, padding, dilation, groups): the benchmark's layers, in one place.
# The lecture's layer and four classic ones, then one layer of each family real networks use
# (sizes drawn with shared/tools/random_layers.py --seed 1; judge on other seeds with --shapes).
SHAPES = {
    "lecture": (100, 3, 32, 32, 4, 5, 5, 1, 0, 1, 1),
    "cifar_l1": (64, 3, 32, 32, 16, 5, 5, 1, 0, 1, 1),
    "mid_3x3": (64, 64, 16, 16, 64, 3, 3, 1, 1, 1, 1),
    "big_3x3": (32, 128, 28, 28, 128, 3, 3, 1, 1, 1, 1),
    "pointwise": (32, 256, 14, 14, 256, 1, 1, 1, 0, 1, 1),
    "one_hot_1d": (64, 1, 38, 14, 26, 38, 2, 1, 0, 1, 1),
    "patch_embed": (64, 3, 44, 40, 48, 4, 4, 4, 0, 1, 1),
    "strided_stem": (1, 3, 224, 224, 24, 5, 5, 2, 2, 1, 1),
    "stride2_3x3": (16, 32, 40, 40, 64, 3, 3, 2, 1, 1, 1),
    "depthwise": (16, 64, 14, 14, 64, 5, 5, 1, 2, 1, 64),
    "grouped": (8, 32, 28, 28, 32, 3, 3, 1, 1, 1, 8),
    "dilated": (4, 64, 40, 40, 64, 3, 3, 1, 2, 2, 1),
    "rectangular": (16, 128, 12, 12, 128, 5, 1, 1, 0, 1, 1),
    "deep_small": (8, 512, 4, 4, 512, 3, 3, 1, 1, 1, 1),
    "few_channels_in": (32, 1, 48, 48, 16, 5, 5, 1, 2, 1, 1),
    "single_image": (1, 64, 28, 28, 64, 5, 5, 1, 2, 1, 1),
    "small_layer": (64, 16, 4, 4, 8, 3, 3, 1, 1, 1, 1),
    "digits_conv2": (32, 16, 4, 4, 32, 3, 3, 1, 1, 1, 1),  # the default ConvNet's second layer
    "tiny": (1, 1, 8, 8, 2, 3, 3, 1, 0, 1, 1),  # per-call overhead
}
SPEC = "N,C,H,W,K,R,S,stride,padding[,dilation,groups]"
# Each cell is timed in this many rounds, fastconv's methods then PyTorch in
# each, and every side keeps its best: a slow spell of the shared machine
# then rarely decides a speedup.
ROUNDS = 3
# Pause before and after each PyTorch request: idle OpenMP threads spin after their last call (the
# child's, under OpenMP's default policy, for milliseconds) and would take a core from the other
# side's timing. Measured: fastconv's CIFAR-net training step took 44 ms right after a PyTorch
# round, 37 ms with the pause.
SETTLE_SECONDS = 0.05


def shape_of(name):
    """A benchmark shape by name, or from a spec (SPEC; dilation and groups default to 1); ValueError otherwise."""
    if name in SHAPES:
        return SHAPES[name]
    try:
        shape = tuple(int(v) for v in name.split(","))
    except ValueError:
        shape = ()
    if len(shape) == 9:
        shape += (1, 1)
    if len(shape) != 11 or min(shape[:8] + shape[9:]) < 1 or shape[8] < 0:
        raise ValueError(
            f"shape must be one of {', '.join(SHAPES)} or {SPEC} (positive ints, padding >= 0); got {name!r}"
        )
    geometry_of(shape)
    return shape


def options_of(shape):
    """The keyword arguments (stride, padding, dilation, groups) of a benchmark shape."""
    return dict(zip(("stride", "padding", "dilation", "groups"), shape[7:]))


def shape_argument(name):
    try:
        shape_of(name)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return name


def geometry_of(shape):
    """The checked :class:`~fastconv._geometry.ConvGeometry` of a benchmark shape."""
    from ._geometry import conv_geometry

    N, C, H, W, K, R, S = shape[:7]
    return conv_geometry((N, C, H, W), (K, C // shape[10], R, S), **options_of(shape))


def method_applies(method, shape):
    """Whether ``method`` ("auto" or a concrete one) can compute a benchmark shape."""
    from ._geometry import check_method_applies

    geom = geometry_of(shape)
    try:
        check_method_applies(method, geom.kernel_size, geom.stride, geom.dilation)
    except ValueError:
        return False
    return True


def make_operands(shape, dtype, seed=0):
    """x, weight, grad_output and conv options for one benchmark shape."""
    geom = geometry_of(shape)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(geom.input_shape).astype(dtype)
    weight = rng.standard_normal(geom.weight_shape).astype(dtype)
    grad_out = rng.standard_normal(geom.output_shape).astype(dtype)
    return x, weight, grad_out, options_of(shape)


def fastconv_call(pass_name, method, x, weight, grad_out, options):
    """A zero-argument function running one fastconv pass."""
    import fastconv

    if pass_name == "forward":
        return lambda: fastconv.conv2d(x, weight, method=method, **options)
    if pass_name == "grad_input":
        return lambda: fastconv.conv2d_grad_input(grad_out, weight, x.shape, method=method, **options)
    return lambda: fastconv.conv2d_grad_weight(grad_out, x, weight.shape, method=method, **options)


def peak_extra_bytes(fn):
    """Peak NumPy memory a call allocated beyond its result, scratch buffers included."""
    from .engine import clear_workspace

    clear_workspace()
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return max(0, peak - result.nbytes)


def matmul_gflops(dtype, n=2048, repeat=3):
    a = np.random.default_rng(0).standard_normal((n, n)).astype(dtype)
    return 2 * n**3 / best_time(lambda: a @ a, repeat) / 1e9


class TorchTimer:
    """PyTorch timings from a child process, one request at a time.

    The child starts once and answers each request between fastconv's
    timings of the same cell, so that both sides of a speedup are measured
    within moments of each other on a shared, noisy machine. ``version`` is
    None (and every time None) when torch cannot be imported.
    """

    def __init__(self, threads):
        from ._thread_policy import user_thread_environment

        env = user_thread_environment(os.environ)
        # A script, not a module of the package: importing fastconv would set the thread policy.
        self._child = subprocess.Popen(
            [sys.executable, _torch_timer.__file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self.version = self.ask({"threads": threads}).get("version")

    def ask(self, request):
        """The child's answer (a dict) to one request; {} when the child is gone or answers nonsense."""
        time.sleep(SETTLE_SECONDS)
        try:
            self._child.stdin.write(json.dumps(request) + "\n")
            self._child.stdin.flush()
            answer = json.loads(self._child.stdout.readline() or "{}")
        except (BrokenPipeError, OSError, ValueError):
            return {}
        time.sleep(SETTLE_SECONDS)
        return answer

    def seconds(self, shape, dtype, pass_name, repeat):
        """PyTorch's best time (:func:`fastconv._timing.best_time`, ``repeat`` calls at least) of one pass, or None."""
        if not self.version:
            return None
        geom = geometry_of(shape)
        return self.ask(
            {
                "pass": pass_name,
                "dtype": dtype,
                "x": geom.input_shape,
                "weight": geom.weight_shape,
                "grad_output": geom.output_shape,
                "options": options_of(shape),
                "repeat": repeat,
            }
        ).get("seconds")

    def close(self):
        """End the child (it stops at the end of its input)."""
        try:
            self._child.stdin.close()
        except OSError:
            pass
        self._child.stdout.close()
        self._child.wait()


@contextmanager
def benchmark_session(threads, with_torch):
    """numba on ``threads`` threads for the block, and a :class:`TorchTimer` (or None) that closes after it."""
    import numba

    threads_before = numba.get_num_threads()
    numba.set_num_threads(threads)
    timer = TorchTimer(threads) if with_torch else None
    try:
        yield timer
    finally:
        numba.set_num_threads(threads_before)
        if timer:
            timer.close()


def run(shapes, dtypes, passes, methods, threads, repeat, with_torch=True, memory=True):
    """Measure; return a dict with machine facts and one row per case."""
    rows = []
    per_round = -(-repeat // ROUNDS)
    with benchmark_session(threads, with_torch) as torch_timer:
        for name in shapes:
            for dtype in dtypes:
                x, weight, grad_out, options = make_operands(shape_of(name), np.dtype(dtype))
                for pass_name in passes:
                    calls = {
                        method: fastconv_call(pass_name, method, x, weight, grad_out, options)
                        for method in methods
                        if method_applies(method, shape_of(name))
                    }
                    if not calls:
                        continue
                    best = dict.fromkeys(calls, float("inf"))
                    torch_best = float("inf") if torch_timer and torch_timer.version else None
                    for _ in range(ROUNDS):
                        for method, fn in calls.items():
                            best[method] = min(best[method], best_time(fn, per_round, WARM_UP_SECONDS))
                        if torch_best is not None:
                            torch_best = min(
                                torch_best,
                                torch_timer.seconds(shape_of(name), dtype, pass_name, per_round) or float("inf"),
                            )
                    torch_ms = None if torch_best in (None, float("inf")) else torch_best * 1e3
                    for method, fn in calls.items():
                        ms = best[method] * 1e3
                        rows.append(
                            dict(
                                shape=name,
                                dtype=dtype,
                                pass_=pass_name,
                                method=method,
                                ms=ms,
                                gflops=geometry_of(shape_of(name)).flops / ms / 1e6,
                                extra_mib=peak_extra_bytes(fn) / 2**20 if memory else None,
                                input_mib=x.nbytes / 2**20,
                                torch_ms=torch_ms,
                                speedup=None if torch_ms is None else torch_ms / ms,
                            )
                        )
    return {
        **machine_facts(threads, torch_timer.version if torch_timer else None),
        "matmul_gflops": {d: matmul_gflops(np.dtype(d)) for d in dtypes},
        "rows": rows,
    }


def machine_facts(threads, torch_version):
    """Threads, numba's threading layer, library versions and the machine, as a benchmark result reports them."""
    import numba

    import fastconv

    return {
        "threads": threads,
        "threading_layer": numba.threading_layer(),
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "numba": numba.__version__,
            "fastconv": fastconv.__version__,
            "torch": torch_version,
        },
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
    }


def facts_line(result):
    """One line with the threads, numba's threading layer and the versions of a result."""
    return f"threads {result['threads']}, numba threading layer {result['threading_layer']}, " + ", ".join(
        f"{k} {v}" for k, v in result["versions"].items() if v
    )


def format_table(result):
    lines = [
        facts_line(result),
        "numpy matmul 2048^2 ceiling: " + ", ".join(f"{d} {g:.0f} GFLOP/s" for d, g in result["matmul_gflops"].items()),
        "",
        "| shape | dtype | pass | method | ms | GFLOP/s | extra MiB | torch ms | speedup |",
        "|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        extra = "" if r["extra_mib"] is None else f"{r['extra_mib']:.1f}"
        torch_ms = "" if r["torch_ms"] is None else f"{r['torch_ms']:.2f}"
        speedup = "" if r["speedup"] is None else f"{r['speedup']:.2f}x"
        lines.append(
            f"| {r['shape']} | {r['dtype']} | {r['pass_']} | {r['method']} | {r['ms']:.2f} | "
            f"{r['gflops']:.1f} | {extra} | {torch_ms} | {speedup} |"
        )
    auto = [r["speedup"] for r in result["rows"] if r["method"] == "auto" and r["speedup"]]
    if auto:
        lines.append("")
        lines.append(
            f"auto vs PyTorch: geometric mean speedup {np.exp(np.mean(np.log(auto))):.2f}x, "
            f"worst {min(auto):.2f}x over {len(auto)} cells"
        )
    return "\n".join(lines)


def add_layer_arguments(parser):
    """--shapes (the benchmark's layers by default) and --dtypes, as ``fastconv bench`` and ``fastconv tune`` take them."""
    parser.add_argument(
        "--shapes",
        nargs="+",
        type=shape_argument,
        default=list(SHAPES),
        metavar="SHAPE",
        help=f"layers by name ({', '.join(SHAPES)}) or as {SPEC} specs; default: all named ones",
    )
    parser.add_argument("--dtypes", nargs="+", choices=DTYPE_NAMES, default=list(DTYPE_NAMES))


def add_arguments(parser):
    add_layer_arguments(parser)
    parser.add_argument("--passes", nargs="+", choices=PASSES, default=list(PASSES))
    methods = (*METHODS, "auto")  # auto last: its column sits beside PyTorch's
    parser.add_argument("--methods", nargs="+", choices=methods, default=list(methods))
    parser.add_argument(
        "--threads", type=positive_int, default=None, help="numba and torch threads (default: all cores)"
    )
    parser.add_argument(
        "--repeat",
        type=positive_int,
        default=6,
        help=f"timed calls per case, in {ROUNDS} rounds alternating with PyTorch's; the best is kept",
    )
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")


def bench_command(args):
    import numba

    from ._files import write_atomically

    threads = args.threads or numba.config.NUMBA_NUM_THREADS
    result = run(
        args.shapes, args.dtypes, args.passes, args.methods, threads, args.repeat, with_torch=not args.no_torch
    )
    print(format_table(result))
    if args.json:
        write_atomically(args.json, lambda f: f.write(json.dumps(result, indent=2).encode()))
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m fastconv.bench", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return bench_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
