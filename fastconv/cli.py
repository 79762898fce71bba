"""The `fastconv` command."""

import argparse
import json
import os
import sys
import time

import numpy as np

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


def train_command(args):
    from ._atomic import write_atomically
    from .nn.default_model import default_convnet
    from .training import evaluate, fit, plots

    targets = {name: os.path.join(args.out, name) for name in OUTPUT_FILES}
    existing = [p for p in targets.values() if os.path.exists(p)]
    if existing and not args.overwrite:
        print(
            f"fastconv train: {args.out} already holds {', '.join(map(os.path.basename, existing))}; "
            "choose another --out or pass --overwrite",
            file=sys.stderr,
        )
        return 2
    start = time.perf_counter()
    splits = _dataset(args.dataset, args.seed)
    model = default_convnet(
        splits.input_shape, splits.classes, method=args.method, dtype=np.dtype(args.dtype), seed=args.seed
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
    )
    if args.workers is None and args.scheduler is None:
        history = fit(model, *splits.train, **options)
    else:
        history = _fit_on_cluster(args, model, splits.train, options)
    result = evaluate(model, *splits.test)
    seconds = time.perf_counter() - start
    os.makedirs(args.out, exist_ok=True)
    model.save(targets["model.npz"])
    record = dict(
        history,
        test_loss=result["loss"],
        test_accuracy=result["accuracy"],
        wall_seconds=seconds,
        arguments={k: v for k, v in vars(args).items() if k != "run"},
    )
    write_atomically(targets["history.json"], lambda f: f.write(json.dumps(record, indent=2).encode()))
    plots.plot_learning_curves(history, targets["learning_curves.png"])
    plots.plot_confusion_matrix(result["confusion"], targets["confusion_matrix.png"])
    print(f"final: train acc {history['train_accuracy'][-1]:.4f}, val acc {history['val_accuracy'][-1]:.4f}")
    print(
        f"test accuracy {result['accuracy']:.4f} (loss {result['loss']:.4f}) in {seconds:.1f} s; "
        f"wrote {', '.join(OUTPUT_FILES)} to {args.out}"
    )
    return 0


def _fit_on_cluster(args, model, train, options):
    """fastconv.dask.fit on the cluster at --scheduler, or on a local cluster of --workers processes."""
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
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    with (
        LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        print(f"cluster: local, {args.workers} worker processes x 1 thread")
        return fastconv_dask.fit(model, *train, client=client, **options)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="fastconv", description="Fast CPU convolutions with Numba, and a small ConvNet trainer."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train = sub.add_parser(
        "train",
        help="train the default ConvNet and write the model, history and plots",
        description="Train the default ConvNet (conv-ReLU-pool x2, linear, softmax cross-entropy) by "
        "mini-batch SGD with momentum; print the test accuracy; write model.npz, history.json, "
        "learning_curves.png and confusion_matrix.png to --out.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    train.add_argument(
        "--dataset",
        default="digits",
        help="digits (embedded, no download), mnist:DIR (IDX files) or cifar10:DIR (python batches)",
    )
    train.add_argument("--epochs", type=int, default=30)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--lr", type=float, default=0.02, help="base learning rate")
    train.add_argument("--momentum", type=float, default=0.9)
    train.add_argument(
        "--weight-decay", type=float, default=1e-4, help="lambda of the L2 term lambda*sum(W**2) added to the loss"
    )
    train.add_argument(
        "--schedule", choices=["constant", "step", "cyclic"], default="constant", help="learning-rate schedule"
    )
    train.add_argument("--method", choices=METHOD_CHOICES, default="auto", help="convolution kernels")
    train.add_argument("--dtype", choices=DTYPE_NAMES, default="float32")
    train.add_argument("--seed", type=int, default=0, help="seeds the split, the initial weights and shuffling")
    train.add_argument("--out", default="fastconv-run", help="output directory")
    train.add_argument("--overwrite", action="store_true", help="replace files a previous run left in --out")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    cluster = train.add_mutually_exclusive_group()
    cluster.add_argument(
        "--workers",
        type=int,
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
    bench = sub.add_parser(
        "bench",
        help="time every convolution pass and method, against PyTorch if installed",
        description="Time forward, grad input and grad weight for each shape, dtype and method; print "
        "ms, GFLOP/s, peak extra memory and, when PyTorch is importable, its time and the "
        "speedup. Compilation is excluded (one warm-up call first).",
    )
    from .bench import add_arguments, bench_command

    add_arguments(bench)
    bench.set_defaults(run=bench_command)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, TypeError, FileNotFoundError, FloatingPointError) as exc:
        print(f"fastconv {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
