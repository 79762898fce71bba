# ruff: noqa: I001  (fastconv must be imported before torch: see the comment at the imports)
"""Train the default ConvNet with fastconv and the same network in PyTorch, in one process.

Same data split, same initial weights, same sample order, same hyper-parameters
(fastconv's L2 term lambda*sum(W**2) is torch weight_decay=2*lambda on weights
only). Prints test accuracy and seconds per epoch of each. Needs
``pip install torch==2.13.0`` (a CPU build); fastconv itself never imports torch.

    python tools/compare_training_with_torch.py [--epochs 30] [--threads 2]
"""

import argparse
import time

import numpy as np

# fastconv before torch: torch starts the OpenMP runtime that numba shares, and
# fastconv must set its passive wait policy first (see fastconv/_config.py).
from fastconv.training.data import load_digits
from fastconv.nn.default_model import default_convnet
from fastconv.training import evaluate, fit

import torch


def torch_twin(model):
    """The PyTorch network with fastconv's parameters copied in."""
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(128, 10),
    )
    state = {k: torch.from_numpy(v.copy()) for k, v in model.parameters().items()}
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
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import numba

    numba.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    hyper = dict(epochs=args.epochs, batch_size=32, lr=0.02, momentum=0.9, weight_decay=1e-4, seed=0)
    splits = load_digits(seed=0)
    model = default_convnet(splits.input_shape, splits.classes, seed=0)
    net = torch_twin(model)
    fit(
        default_convnet(splits.input_shape, splits.classes, seed=0),
        *splits.train,
        epochs=1,
        batch_size=32,
        lr=0.02,
        progress=False,
    )  # compile / load kernels outside the timing
    history = fit(model, *splits.train, progress=False, **hyper)
    torch_seconds = train_torch(net, *splits.train, **hyper)
    with torch.no_grad():
        torch_pred = net(torch.from_numpy(splits.test[0])).argmax(1).numpy()
    ours, theirs = np.median(history["seconds"]), np.median(torch_seconds)
    print(
        f"threads {args.threads}, {args.epochs} epochs, "
        f"digits train {len(splits.train[1])} / test {len(splits.test[1])}"
    )
    print(f"fastconv: test accuracy {evaluate(model, *splits.test)['accuracy']:.4f}, median {ours * 1e3:.1f} ms/epoch")
    print(
        f"pytorch {torch.__version__}: test accuracy {np.mean(torch_pred == splits.test[1]):.4f}, "
        f"median {theirs * 1e3:.1f} ms/epoch"
    )
    print(f"fastconv epoch time / pytorch epoch time = {ours / theirs:.2f}")


if __name__ == "__main__":
    main()
