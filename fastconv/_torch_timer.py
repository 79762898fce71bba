"""The benchmark's PyTorch side, run as a script in a child process: ``python _torch_timer.py``.

It imports neither fastconv nor anything of it, so that PyTorch runs with the
thread environment the user gave (fastconv's import would set a passive
OpenMP wait policy, which PyTorch shares). Protocol: one JSON line per
request on stdin, one answer per line on stdout. The first request is
``{"threads": n}`` and is answered with ``{"version": torch.__version__}``;
each later one names a pass and its operands' shapes and is answered with
``{"seconds": best of repeat calls}``. Exit status 3 when torch is missing.
"""

import json
import sys
import time

import numpy as np


def best_time(fn, repeat):
    """Seconds of the fastest of ``repeat`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


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


def main():
    try:
        import torch
    except ImportError:
        sys.exit(3)
    torch.set_num_threads(json.loads(sys.stdin.readline())["threads"])
    print(json.dumps({"version": torch.__version__}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        with torch.no_grad():
            print(json.dumps({"seconds": best_time(pass_call(torch, request), request["repeat"])}), flush=True)


if __name__ == "__main__":
    main()
