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
    from .nn.models import build_model
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
    model = build_model(
        args.model, splits.input_shape, splits.classes, method=args.method, dtype=np.dtype(args.dtype), seed=args.seed
    )
    print(
        f"data: {args.dataset}, train {len(splits.train[1])}, validation {len(splits.validation[1])}, "
        f"test {len(splits.test[1])}, input {splits.input_shape}, {splits.classes} classes"
    )
    print(model)
    history = fit(
        model,
        *splits.train,
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


def build_parser():
    from .nn.models import MODELS
    from .training.optim import OPTIMIZERS

    parser = argparse.ArgumentParser(
        prog="fastconv", description="Fast CPU convolutions with Numba, and a small ConvNet trainer."
    )
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
    train.add_argument("--epochs", type=int, default=30)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--lr", type=float, default=0.02, help="base learning rate")
    train.add_argument("--optimizer", choices=list(OPTIMIZERS), default="sgd", help="SGD with momentum, Adam or AdamW")
    train.add_argument("--momentum", type=float, default=0.9, help="SGD's momentum")
    train.add_argument(
        "--weight-decay",
        type=float,
        default=1e-4,
        help="SGD: lambda of the L2 term lambda*sum(W**2) added to the loss; adam/adamw: their own weight_decay",
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
