"""fastconv's three passes, each method x dtype x layer: time and peak memory."""

from ._common import DTYPES, METHODS, PASSES, SHAPE_NAMES, SHAPES, ConvBenchmark, make_operands


def pass_call(fastconv, pass_name, method, x, weight, grad_out, options):
    """A zero-argument function running one pass through fastconv's public API."""
    if pass_name == "forward":
        return lambda: fastconv.conv2d(x, weight, method=method, **options)
    if pass_name == "grad_input":
        return lambda: fastconv.conv2d_grad_input(grad_out, weight, x.shape, method=method, **options)
    return lambda: fastconv.conv2d_grad_weight(grad_out, x, weight.shape, method=method, **options)


class Convolution(ConvBenchmark):
    params = [PASSES, SHAPE_NAMES, DTYPES, METHODS]
    param_names = ["pass", "shape", "dtype", "method"]

    def setup(self, pass_name, shape, dtype, method):
        import fastconv

        x, weight, grad_out, options = make_operands(SHAPES[shape], dtype)
        self.call = pass_call(fastconv, pass_name, method, x, weight, grad_out, options)
        try:
            self.call()
        except (ValueError, TypeError) as error:
            # This commit has no such method or argument, or the method does not take this layer: asv records
            # "skipped". Any other error is a failure.
            if "method" not in str(error) and "unexpected keyword" not in str(error):
                raise
            raise NotImplementedError(str(error)) from None

    def time_pass(self, pass_name, shape, dtype, method):
        self.call()

    def peakmem_pass(self, pass_name, shape, dtype, method):
        self.call()
