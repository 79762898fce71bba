"""The `fastconv` command."""

import argparse
import json
import signal
import sys
import time

import numpy as np

from ._arguments import momentum, non_negative_int, non_negative_number, positive_int, positive_number
from ._files import write_atomically
from ._names import DTYPE_NAMES, METHOD_CHOICES

OUTPUT_FILES = ("model.npz", "history.json", "learning_curves.png", "confusion_matrix.png")


def _dataset(spec, seed):
    from .training import data

    if spec == "digits":
        return data.load_digits(seed=seed)
    kind, _, directory = spec.partition(":")
    if kind == "mnist" and directory:
        return data.load_mnist(directory, seed=seed)
    if kind == "cifar10" and directory:
        return data.load_cifar10(directory, seed=seed)
    raise ValueError(f"--dataset must be digits, mnist:DIR or cifar10:DIR, got {spec!r}")


def _hold_signals(how, signals):
    """signal.pthread_sigmask where the system has it (not on Windows)."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(how, signals)


def train_command(args):
    from .nn.models import build_model
    from .training import evaluate, fit, plots
    from .training.run_folder import RunFolder

    # Ctrl-C and SIGTERM wait while the temporary folder is made and its cleanup armed: one arriving in
    # between left the folder behind (seen once in a test's 8 interrupted runs).
    held = {signal.SIGINT, signal.SIGTERM}
    _hold_signals(signal.SIG_BLOCK, held)
    try:
        folder = RunFolder(args.out, OUTPUT_FILES, overwrite=args.overwrite)
    except BaseException:
        _hold_signals(signal.SIG_UNBLOCK, held)
        raise
    try:
        _hold_signals(signal.SIG_UNBLOCK, held)
        start = time.perf_counter()
        splits = _dataset(args.dataset, args.seed)
        model = build_model(
            args.model,
            splits.input_shape,
            splits.classes,
            method=args.method,
            dtype=np.dtype(args.dtype),
            seed=args.seed,
        )
        print(
            f"data: {args.dataset}, train {len(splits.train[1])}, validation {len(splits.validation[1])}, "
            f"test {len(splits.test[1])}, input {splits.input_shape}, {splits.classes} classes"
        )
        print(model)
        options = dict(
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            momentum=args.momentum,
            weight_decay=args.weight_decay,
            schedule=args.schedule,
            validation_data=splits.validation,
            seed=args.seed,
            progress=not args.no_progress,
            optimizer=args.optimizer,
        )
        if args.workers is None and args.scheduler is None:
            history = fit(model, *splits.train, tune=args.tune, **options)
        else:
            history = _fit_on_cluster(args, model, splits.train, options)
        result = evaluate(model, *splits.test)
        seconds = time.perf_counter() - start
        model.save(folder.file("model.npz"))
        record = dict(
            history,
            test_loss=result["loss"],
            test_accuracy=result["accuracy"],
            wall_seconds=seconds,
            arguments={k: v for k, v in vars(args).items() if k != "run"},
        )
        write_atomically(folder.file("history.json"), lambda f: f.write(json.dumps(record, indent=2).encode()))
        plots.plot_learning_curves(history, folder.file("learning_curves.png"))
        plots.plot_confusion_matrix(result["confusion"], folder.file("confusion_matrix.png"))
        folder.commit()
    except BaseException:
        folder.discard()
        raise
    print(f"final: train acc {history['train_accuracy'][-1]:.4f}, val acc {history['val_accuracy'][-1]:.4f}")
    print(
        f"test accuracy {result['accuracy']:.4f} (loss {result['loss']:.4f}) in {seconds:.1f} s; "
        f"wrote {', '.join(OUTPUT_FILES)} to {args.out}"
    )
    return 0


def tune_command(args):
    from ._geometry import float_dtype
    from ._names import PASSES
    from .bench import geometry_of, options_of, shape_of
    from .engine import cache_path, key_of
    from .tuning import tune

    start = time.perf_counter()
    layers = [(name, geometry_of(shape_of(name)), options_of(shape_of(name))) for name in args.shapes]
    print(f"tuning {len(layers)} layers x {len(args.dtypes)} dtypes, rounds over all of them...", flush=True)
    print("| shape | dtype | pass | ms per method | chosen |")
    print("|---|---|---|---|---|")
    for dtype in args.dtypes:
        results = tune(
            [(geom.input_shape, geom.weight_shape, options) for _, geom, options in layers],
            dtype=dtype,
            repeat=args.repeat,
        )
        for name, geom, _ in layers:
            for pass_name in PASSES:
                result = results.get(key_of(pass_name, geom, float_dtype(dtype)))
                if result:
                    times = ", ".join(f"{m} {ms:.2f}" for m, ms in result["ms"].items())
                    print(f"| {name} | {dtype} | {pass_name} | {times} | {result['method']} |", flush=True)
    print(f"tuned in {time.perf_counter() - start:.1f} s; choices kept in {cache_path()}")
    return 0


def _fit_on_cluster(args, model, train, options):
    """fastconv.dask.fit on the cluster at --scheduler, or on a local cluster of --workers processes."""
    if args.tune:
        raise ValueError("--tune tunes this process's kernels; run fastconv tune on the workers' machines instead")
    try:
        from distributed import Client, LocalCluster

        from . import dask as fastconv_dask
    except ImportError as exc:
        raise ValueError(
            f'--workers and --scheduler need the optional extra: pip install "fastconv[dask]" ({exc})'
        ) from None
    if args.scheduler is not None:
        with Client(args.scheduler) as client:
            print(f"cluster: {args.scheduler}, {len(client.scheduler_info()['workers'])} workers")
            return fastconv_dask.fit(model, *train, client=client, **options)
    with (
        LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        print(f"cluster: local, {args.workers} worker processes x 1 thread")
        return fastconv_dask.fit(model, *train, client=client, **options)


def bench_command(args):
    """The pass benchmark, or with --training the training benchmark."""
    from .bench import bench_command as pass_bench_command
    from .training_bench import training_command

    return (training_command if args.training else pass_bench_command)(args)


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error on one line of stderr (exit status 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser():
    from .nn.models import MODELS
    from .training.optim import OPTIMIZERS

    parser = _Parser(prog="fastconv", description="Fast CPU convolutions with Numba, and a small ConvNet trainer.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train = sub.add_parser(
        "train",
        help="train a built-in ConvNet and write the model, history and plots",
        description="Train a built-in ConvNet (--model; by default conv-ReLU-pool x2, linear) with softmax "
        "cross-entropy by mini-batch SGD with momentum (or Adam, AdamW); print the test accuracy; write "
        "model.npz, history.json, learning_curves.png and confusion_matrix.png to --out.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    train.add_argument(
        "--dataset",
        default="digits",
        help="digits (embedded, no download), mnist:DIR (IDX files) or cifar10:DIR (python batches)",
    )
    train.add_argument(
        "--model",
        choices=list(MODELS),
        default="default",
        help="built-in architecture: " + "; ".join(f"{name}: {arch.description}" for name, arch in MODELS.items()),
    )
    train.add_argument("--epochs", type=positive_int, default=30)
    train.add_argument("--batch-size", type=positive_int, default=32)
    train.add_argument("--lr", type=positive_number, default=0.02, help="base learning rate")
    train.add_argument("--optimizer", choices=list(OPTIMIZERS), default="sgd", help="SGD with momentum, Adam or AdamW")
    train.add_argument("--momentum", type=momentum, default=0.9, help="SGD's momentum")
    train.add_argument(
        "--weight-decay",
        type=non_negative_number,
        default=1e-4,
        help="SGD: lambda of the L2 term lambda*sum(W**2) added to the loss; adam/adamw: their own weight_decay",
    )
    train.add_argument(
        "--schedule", choices=["constant", "step", "cyclic"], default="constant", help="learning-rate schedule"
    )
    train.add_argument("--method", choices=METHOD_CHOICES, default="auto", help="convolution kernels")
    train.add_argument("--dtype", choices=DTYPE_NAMES, default="float32")
    train.add_argument(
        "--seed", type=non_negative_int, default=0, help="seeds the split, the initial weights and shuffling"
    )
    train.add_argument("--out", default="fastconv-run", help="output directory")
    train.add_argument("--overwrite", action="store_true", help="replace the run a previous call left in --out")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument(
        "--tune", action="store_true", help="first measure the methods on the model's layers (kept for later runs)"
    )
    cluster = train.add_mutually_exclusive_group()
    cluster.add_argument(
        "--workers",
        type=positive_int,
        metavar="N",
        help="train data-parallel on a local Dask cluster of N single-threaded worker processes "
        '(needs pip install "fastconv[dask]")',
    )
    cluster.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="train data-parallel on the Dask cluster whose scheduler is at ADDRESS, e.g. tcp://10.0.0.1:8786 "
        '(needs pip install "fastconv[dask]")',
    )
    train.set_defaults(run=train_command)
    tune = sub.add_parser(
        "tune",
        help="measure every method on layers and keep the fastest for method='auto'",
        description="Time each applicable method of each pass on each layer (warm, best of --repeat in each of "
        "several rounds over all the layers and methods) and store "
        "the fastest in the tuning cache ($FASTCONV_TUNE_CACHE, else ~/.cache/fastconv/tuning.json), which "
        "auto then uses in every later process on this machine.",
    )
    from .bench import add_layer_arguments

    add_layer_arguments(tune)
    tune.add_argument(
        "--repeat", type=positive_int, default=5, help="timed calls per method and round; the best counts"
    )
    tune.set_defaults(run=tune_command)
    bench = sub.add_parser(
        "bench",
        help="time every convolution pass and method, or training steps, against PyTorch if installed",
        description="Time forward, grad input and grad weight for each shape, dtype and method; print "
        "ms, GFLOP/s, peak extra memory and, when PyTorch is importable, its time and the "
        "speedup. Compilation is excluded (one warm-up call first). With --training, time training "
        "steps of built-in networks instead, in ms per step beside PyTorch's for the same network.",
    )
    from . import training_bench
    from .bench import add_arguments

    add_arguments(bench)
    training_bench.add_arguments(bench)
    bench.set_defaults(run=bench_command)
    return parser


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    """Run a command; a user error is one line on stderr and exit status 2, an interruption 130."""
    args = build_parser().parse_args(argv)
    from .training import TrainingDiverged

    previous = signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM cleans up as Ctrl-C does
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print(f"fastconv {args.command}: interrupted", file=sys.stderr)
        return 130
    except TrainingDiverged as exc:
        print(f"fastconv {args.command}: {_one_line(exc)}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, OSError, MemoryError) as exc:
        print(f"fastconv {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)


def _one_line(exc):
    text = " ".join(str(exc).split()) or type(exc).__name__
    return "out of memory" if isinstance(exc, MemoryError) else text


if __name__ == "__main__":
    sys.exit(main())
