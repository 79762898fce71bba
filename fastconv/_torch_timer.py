"""The benchmark's PyTorch side, run as a script in a child process: ``python _torch_timer.py``.

It imports neither fastconv nor anything of it, so that PyTorch runs with the
thread environment the user gave (fastconv's import would set an OpenMP
spin count, which PyTorch shares). Protocol: one JSON line per
request on stdin, one answer per line on stdout. The first request is
``{"threads": n}`` and is answered with ``{"version": torch.__version__}``;
each later one names a pass and its operands' shapes and is answered with
``{"seconds": best of repeat calls}``, or describes a network (its layers as
fastconv's layer names and ``config()``, which are PyTorch's names and
arguments) and a training run, answered with ``{"seconds": mean seconds per
step}``. Exit status 3 when torch is missing.
"""

import json
import sys
import time

import numpy as np

if __package__:
    from ._timing import WARM_UP_SECONDS, best_time, warm_up
else:  # run as a script: its folder is on sys.path, and the package must not be imported
    from _timing import WARM_UP_SECONDS, best_time, warm_up  # type: ignore[no-redef]


def pass_call(torch, request):
    """A zero-argument function running the requested pass on random operands."""
    rng = np.random.default_rng(0)

    def tensor(shape):
        return torch.from_numpy(rng.standard_normal(shape).astype(request["dtype"]))

    x, weight, grad_out = (tensor(request[name]) for name in ("x", "weight", "grad_output"))
    options = request["options"]
    if request["pass"] == "forward":
        return lambda: torch.nn.functional.conv2d(x, weight, **options)
    if request["pass"] == "grad_input":
        return lambda: torch.nn.grad.conv2d_input(x.shape, weight, grad_out, **options)
    return lambda: torch.nn.grad.conv2d_weight(x, weight.shape, grad_out, **options)


def torch_network(torch, layers, dtype):
    """torch.nn.Sequential of ``layers``: dicts of a fastconv layer's "type" (class name) and "config".

    fastconv's layers take PyTorch's names and arguments, so each becomes
    ``torch.nn.<type>(**config)`` without fastconv's own ``method`` and
    ``dtype``; the parameters are PyTorch's default initialisation.
    """
    modules = [
        getattr(torch.nn, layer["type"])(**{k: v for k, v in layer["config"].items() if k not in ("method", "dtype")})
        for layer in layers
    ]
    return torch.nn.Sequential(*modules).to(getattr(torch, dtype))


def step_seconds(torch, request):
    """Mean seconds per training step of the requested network, after warm-up steps.

    A step is what ``fastconv.training.fit`` does per batch: take the next
    batch of a shuffled epoch of random samples (random labels), forward,
    cross-entropy, backward, SGD update with momentum.
    """
    torch.manual_seed(0)
    net = torch_network(torch, request["network"], request["dtype"]).train()
    optimizer = torch.optim.SGD(net.parameters(), lr=request["lr"], momentum=request["momentum"])
    batch, steps, warmup = request["batch"], request["steps"], request["warmup"]
    rng = np.random.default_rng(0)
    samples = batch * max(steps, warmup)
    x = torch.from_numpy(rng.standard_normal((samples, *request["sample_shape"])).astype(request["dtype"]))
    y = torch.from_numpy(rng.integers(0, request["classes"], samples))

    def train(count):
        order = torch.from_numpy(rng.permutation(count * batch))
        for b in range(0, count * batch, batch):
            idx = order[b : b + batch]
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
            optimizer.step()

    warm_up(lambda: train(warmup), WARM_UP_SECONDS)
    start = time.perf_counter()
    train(steps)
    return (time.perf_counter() - start) / steps


def main():
    try:
        import torch
    except ImportError:
        sys.exit(3)
    torch.set_num_threads(json.loads(sys.stdin.readline())["threads"])
    print(json.dumps({"version": torch.__version__}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        if "network" in request:
            seconds = step_seconds(torch, request)
        else:
            with torch.no_grad():
                seconds = best_time(pass_call(torch, request), request["repeat"], WARM_UP_SECONDS)
        print(json.dumps({"seconds": seconds}), flush=True)


if __name__ == "__main__":
    main()
