"""fastconv's three passes, each method x dtype x benchmark shape: time and peak memory."""

from ._common import DTYPES, METHODS, PASSES, SHAPE_NAMES, ConvBenchmark


class Convolution(ConvBenchmark):
    params = [PASSES, SHAPE_NAMES, DTYPES, METHODS]
    param_names = ["pass", "shape", "dtype", "method"]

    def setup(self, pass_name, shape, dtype, method):
        from fastconv.bench import SHAPES, fastconv_call, make_operands, method_applies

        if not method_applies(method, SHAPES[shape]):
            raise NotImplementedError(f"{method} does not apply to {shape}")  # asv: skipped
        x, weight, grad_out, options = make_operands(SHAPES[shape], dtype)
        self.call = fastconv_call(pass_name, method, x, weight, grad_out, options)
        self.call()

    def time_pass(self, pass_name, shape, dtype, method):
        self.call()

    def peakmem_pass(self, pass_name, shape, dtype, method):
        self.call()
