# ruff: noqa: I001  (fastconv must be imported before torch: see the comment at the imports)
"""Train a built-in ConvNet with fastconv and the same network in PyTorch, in one process.

Same data split, same initial weights (parameters and BatchNorm's running
statistics copied from fastconv's model), same sample order, same
hyper-parameters (fastconv's L2 term lambda*sum(W**2) is torch
weight_decay=2*lambda on weights only). Prints test accuracy (PyTorch's in
eval mode, as fastconv's evaluate) and seconds per epoch of each. Needs
``pip install torch==2.13.0`` (a CPU build); fastconv itself never imports torch.

* ``--model default``: the digits ConvNet on the embedded 8x8 digits, 30 epochs of batch 32, lr 0.02.
* ``--model cifar``: the CIFAR-sized net (three conv-BatchNorm-ReLU blocks, global average pooling) on the
  same real digits as 3x32x32 images (each pixel a 4x4 block, in three equal channels; nothing is
  downloaded), a fixed short schedule: 6 epochs of batch 64, lr 0.05.

In float32 the two runs part after a few steps (different summation orders;
max-pooling ties on the upscaled images broken by last-bit differences), so
their accuracies differ by chance, by a point or two on the 270 test images
(one image is 0.37 points); with ``--dtype float64`` both follow the same
trajectory (parameters equal to about 1e-13 after an epoch) and agree.

    python tools/compare_training_with_torch.py [--model default|cifar] [--epochs N] [--lr LR]
        [--dtype float32|float64] [--threads 2]
"""

import argparse
import time

import numpy as np

# fastconv before torch: torch starts the OpenMP runtime that numba shares, and
# fastconv must set its thread policy first (see fastconv/_thread_policy.py).
from fastconv._torch_timer import torch_network
from fastconv.nn.models import build_model
from fastconv.training import evaluate, fit
from fastconv.training.data import load_digits
from fastconv.training_bench import layer_specs

import torch

# Model -> its data (a function of the seed) and its fixed schedule.
SCHEDULES = {
    "default": dict(epochs=30, batch_size=32, lr=0.02),
    "cifar": dict(epochs=6, batch_size=64, lr=0.05),
}


def digits_as_rgb32(*, seed):
    """The embedded digits' splits as 3x32x32 images: each pixel a 4x4 block, the same in three channels."""
    splits = load_digits(seed=seed)

    def grow(x):
        return np.ascontiguousarray(np.repeat(np.repeat(np.repeat(x, 4, axis=2), 4, axis=3), 3, axis=1))

    splits.train, splits.validation, splits.test = (
        (grow(x), y) for x, y in (splits.train, splits.validation, splits.test)
    )
    return splits


DATA = {"default": load_digits, "cifar": digits_as_rgb32}


def torch_twin(model):
    """The PyTorch network of the same layers, with fastconv's parameters and buffers copied in."""
    net = torch_network(torch, layer_specs(model), model.dtype.name)
    state = {k: torch.from_numpy(np.array(v)) for k, v in {**model.parameters(), **model.buffers()}.items()}
    net.load_state_dict(state)
    return net


def train_torch(net, x, y, *, epochs, batch_size, lr, momentum, weight_decay, seed):
    decay = [p for n, p in net.named_parameters() if n.endswith("weight")]
    no_decay = [p for n, p in net.named_parameters() if n.endswith("bias")]
    opt = torch.optim.SGD(
        [{"params": decay, "weight_decay": 2 * weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr,
        momentum=momentum,
    )
    rng = np.random.default_rng(seed)  # the same order fastconv.training.fit draws
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.from_numpy(rng.permutation(len(x)))
        for b in range(0, len(x), batch_size):
            idx = order[b : b + batch_size]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        seconds.append(time.perf_counter() - start)
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=list(SCHEDULES), default="default", help="built-in network and its data")
    parser.add_argument("--epochs", type=int, default=None, help="default: the model's fixed schedule")
    parser.add_argument("--lr", type=float, default=None, help="default: the model's fixed schedule")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import numba

    numba.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    given = {"epochs": args.epochs, "lr": args.lr}
    schedule = dict(SCHEDULES[args.model], **{k: v for k, v in given.items() if v is not None})
    hyper = dict(schedule, momentum=0.9, weight_decay=1e-4, seed=0)
    splits = DATA[args.model](seed=0)
    splits.train, splits.test = ((x.astype(args.dtype), y) for x, y in (splits.train, splits.test))

    def new_model():
        return build_model(args.model, splits.input_shape, splits.classes, dtype=np.dtype(args.dtype), seed=0)

    model = new_model()
    net = torch_twin(model)
    batch = schedule["batch_size"]
    x, y = splits.train
    # compile / load kernels outside the timing
    fit(new_model(), x[: 2 * batch], y[: 2 * batch], epochs=1, batch_size=batch, lr=schedule["lr"], progress=False)
    history = fit(model, *splits.train, progress=False, **hyper)
    torch_seconds = train_torch(net.train(), *splits.train, **hyper)
    with torch.no_grad():
        torch_pred = net.eval()(torch.from_numpy(splits.test[0])).argmax(1).numpy()
    ours, theirs = np.median(history["seconds"]), np.median(torch_seconds)
    print(
        f"model {args.model} ({args.dtype}), input {splits.input_shape}, threads {args.threads}, {schedule['epochs']} epochs of "
        f"batch {batch}, lr {schedule['lr']}, digits train {len(x)} / test {len(splits.test[1])}"
    )
    print(f"fastconv: test accuracy {evaluate(model, *splits.test)['accuracy']:.4f}, median {ours * 1e3:.1f} ms/epoch")
    print(
        f"pytorch {torch.__version__}: test accuracy {np.mean(torch_pred == splits.test[1]):.4f}, "
        f"median {theirs * 1e3:.1f} ms/epoch"
    )
    print(f"fastconv epoch time / pytorch epoch time = {ours / theirs:.2f}")


if __name__ == "__main__":
    main()
