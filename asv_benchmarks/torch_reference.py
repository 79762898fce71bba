"""PyTorch's CPU conv2d on the same passes and layers: the reference line on the dashboard.

This module never imports fastconv, whose import sets an OpenMP spin count
that PyTorch would share: PyTorch runs with the environment the user
gave. Skipped (setup raises NotImplementedError, asv's skip signal) where
torch is not installed.
"""

import os

from ._common import DTYPES, PASSES, SHAPE_NAMES, SHAPES, ConvBenchmark, make_operands


class TorchConvolution(ConvBenchmark):
    params = [PASSES, SHAPE_NAMES, DTYPES]
    param_names = ["pass", "shape", "dtype"]

    def setup(self, pass_name, shape, dtype):
        try:
            import torch
        except ImportError:
            raise NotImplementedError("torch is not installed in this environment") from None
        torch.set_num_threads(int(os.environ.get("NUMBA_NUM_THREADS", os.cpu_count())))
        # Plain tensors (requires_grad=False): no autograd graph is recorded.
        x, weight, grad_out, options = make_operands(SHAPES[shape], dtype)
        x, weight, grad_out = (torch.from_numpy(a) for a in (x, weight, grad_out))
        if pass_name == "forward":
            self.call = lambda: torch.nn.functional.conv2d(x, weight, **options)
        elif pass_name == "grad_input":
            self.call = lambda: torch.nn.grad.conv2d_input(x.shape, weight, grad_out, **options)
        else:
            self.call = lambda: torch.nn.grad.conv2d_weight(x, weight.shape, grad_out, **options)
        self.call()

    def time_pass(self, pass_name, shape, dtype):
        self.call()

    def peakmem_pass(self, pass_name, shape, dtype):
        self.call()
