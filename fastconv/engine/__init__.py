"""The convolution engine: every pass by (pass, method), and the one place where parallel kernels launch.

Callers (:mod:`fastconv.conv`, :mod:`fastconv.pool`, and the layers of
:mod:`fastconv.nn` for batch normalisation, bias and ReLU) check their
arguments, allocate the result and hand over C-contiguous arrays of one
dtype; nothing here validates. Every launch goes through :data:`_LAUNCH_LOCK`: each one
already uses all of numba's threads, and some numba threading layers
(workqueue) abort the process on concurrent launches from several Python
threads. The direct method's smallest passes (:func:`.direct.on_plain_loops`)
launch nothing: they run loops compiled without threads, outside the lock.

* :mod:`.choice`: what ``method="auto"`` picks; :mod:`.tuning_cache`: the
  choices ``fastconv.tune`` measured on this machine, which come first.
* :mod:`.direct`, :mod:`.im2col`, :mod:`.winograd`: each method's drivers
  (chunking, packing, scratch buffers) around the compiled loops of
  :mod:`fastconv.kernels`; for the direct method also :mod:`.channel_tiles`
  (the tiles vectorised along output channels: strided layers, small
  planes) and :mod:`.phases` (strided layers as stride-1 ones over the
  input's stride phases); for im2col also :mod:`.products` (its matrix
  products, on numba's threads).
* :mod:`.workspace`: the scratch buffers they share, and the budget of the
  direct methods' padded planes; :mod:`.threads`: numba's thread count,
  read and set at little cost.

A *chunk* is a run of whole images that a driver handles together; each
method bounds it by its own budget (``im2col.COLUMN_BUDGET_BYTES`` of
columns, ``workspace.PLANES_BUDGET_BYTES`` of padded planes,
``winograd.TRANSFORM_BUDGET_BYTES`` of transformed data) and takes at least
one image, so a single large image may exceed it.
"""

import math
import threading

from ..kernels import elementwise as _elementwise_kernels
from ..kernels import pool as _pool_kernels
from .choice import recording, resolve_method
from .direct import forward_direct, grad_input_direct, grad_weight_direct, on_plain_loops, run_plain_loops
from .im2col import forward_im2col, grad_input_im2col, grad_weight_im2col
from .threads import set_thread_count, thread_count
from .tuning_cache import cache_path, key_of, tuning_cache
from .winograd import forward_winograd, grad_input_winograd, grad_weight_winograd
from .workspace import workspace

__all__ = [
    "add_bias",
    "cache_path",
    "channel_statistics",
    "clear_workspace",
    "gradient_sums",
    "key_of",
    "max_pool_backward",
    "max_pool_forward",
    "normalisation_grad_input",
    "recording",
    "relu",
    "relu_grad_input",
    "resolve_method",
    "run_pass",
    "scale_and_shift",
    "tuning_cache",
]

_LAUNCH_LOCK = threading.Lock()

# Below this much work a pass runs on one thread: a parallel launch costs about 2 us while numba's
# threads still spin from the last one (see fastconv/_thread_policy.py) and up to 100 us once they
# sleep. Measured with 1 and 2 threads, 3x3 layers, back to back: 0.02 MFLOP alike, 0.6-2.4 MFLOP
# up to 1.7x faster on two, 4.7 MFLOP and up 1.4-2.5x; pooling from 2^14 input elements 1.7x.
SERIAL_BELOW_FLOPS = 2**20
SERIAL_BELOW_ELEMENTS = 2**14  # pooling and elementwise passes: elements of the input
BLOCKS_PER_THREAD = 4  # pooling: runs of planes per thread, to even out the threads' work


def _run(work, threshold, function, *args):
    """``function(*args)`` under the launch lock, on one of numba's threads when ``work`` is below ``threshold``."""
    with _LAUNCH_LOCK:
        if work >= threshold:
            function(*args)
            return
        threads = thread_count()
        set_thread_count(1)
        try:
            function(*args)
        finally:
            set_thread_count(threads)


# The nine passes: (pass, method) -> driver(operand_a, operand_b, result, geom).
_DRIVERS = {
    ("forward", "direct"): forward_direct,
    ("forward", "im2col"): forward_im2col,
    ("forward", "winograd"): forward_winograd,
    ("grad_input", "direct"): grad_input_direct,
    ("grad_input", "im2col"): grad_input_im2col,
    ("grad_input", "winograd"): grad_input_winograd,
    ("grad_weight", "direct"): grad_weight_direct,
    ("grad_weight", "im2col"): grad_weight_im2col,
    ("grad_weight", "winograd"): grad_weight_winograd,
}


def run_pass(pass_name, method, geom, result, a, b):
    """Fill ``result`` with one pass of a convolution and return it.

    ``pass_name`` is "forward" (a = x, b = weight), "grad_input" (a =
    grad_output, b = weight) or "grad_weight" (a = grad_output, b = x);
    ``method`` a concrete method that applies to ``geom``.
    """
    if not (result.size and geom.N):
        return result
    if method == "direct" and on_plain_loops(geom):
        run_plain_loops(pass_name, a, b, result, geom)  # no launch: no lock or thread switch
    else:
        _run(geom.flops, SERIAL_BELOW_FLOPS, _DRIVERS[pass_name, method], a, b, result, geom)
    return result


def clear_workspace():
    """Drop every scratch buffer (the benchmark does, to count them in a pass's memory)."""
    workspace.clear()


def _plane_blocks(array):
    """How many runs of (n, c) planes a pooling kernel splits ``array`` (N, C, ...) into."""
    return min(array.shape[0] * array.shape[1], BLOCKS_PER_THREAD * thread_count())


def _launch(kernel, elements, *args):
    """Run a pooling, elementwise or per-channel kernel over ``elements`` values, serially when they are few."""
    if elements:
        _run(elements, SERIAL_BELOW_ELEMENTS, kernel, *args)


def max_pool_forward(x, out, argmax, kernel_size, stride):
    """out, argmax (N, C, P, Q) from x (N, C, H, W): see :func:`fastconv.kernels.pool.max_pool_forward`."""
    _launch(
        _pool_kernels.max_pool_forward,
        x.size if out.size else 0,
        x,
        out,
        argmax,
        *kernel_size,
        *stride,
        _plane_blocks(out),
    )
    return out, argmax


def max_pool_backward(grad_out, argmax, grad_x):
    """grad_x (N, C, H, W) from grad_out and argmax (N, C, P, Q): each gradient to its window's max."""
    if grad_out.size == 0:
        grad_x[...] = 0  # no window: no gradient
        return grad_x
    _launch(_pool_kernels.max_pool_backward, grad_x.size, grad_out, argmax, grad_x, _plane_blocks(grad_out))
    return grad_x


def channel_statistics(x, mean, centred_squares):
    """Fill mean and centred_squares (C,) float64 from x (N, C, H, W): see the kernel."""
    _launch(_elementwise_kernels.channel_statistics, x.size, x, mean, centred_squares)


def scale_and_shift(x, scale, shift, out, rectify=False):
    """out = x * scale[c] + shift[c] (then max(., 0) if rectify); x and out (N, C, H, W), scale and shift (C,)."""
    _launch(_elementwise_kernels.scale_and_shift, x.size, x, scale, shift, out, rectify)
    return out


def gradient_sums(grad, x, mean, grad_sum, centred_grad_sum):
    """Fill grad_sum and centred_grad_sum (C,) float64 with sums of grad and grad * (x - mean) per channel."""
    _launch(_elementwise_kernels.gradient_sums, x.size, grad, x, mean, grad_sum, centred_grad_sum)


def normalisation_grad_input(grad, x, grad_scale, centre, centred_scale, offset, out):
    """out = grad_scale[c] * grad + centred_scale[c] * (x - centre[c]) + offset[c]; all (N, C, H, W) or (C,)."""
    _launch(
        _elementwise_kernels.normalisation_grad_input, x.size, grad, x, grad_scale, centre, centred_scale, offset, out
    )
    return out


def add_bias(out, bias, rectify=False):
    """out (N, K, P, Q) += bias[k] in place (then max(., 0) if rectify); bias (K,) of out's dtype."""
    N, K = out.shape[:2]
    _launch(_elementwise_kernels.add_bias, out.size, out.reshape(N, K, math.prod(out.shape[2:])), bias, rectify)
    return out


def _rows(array):
    """A C-contiguous array as (rows, columns): (N*C, H*W) for NCHW, (N, features) for a batch of vectors."""
    rows = math.prod(array.shape[:2]) if array.ndim > 2 else (array.shape[0] if array.ndim == 2 else 1)
    return array.reshape(rows, array.size // rows if rows else 0)


def relu(x, out):
    """out = max(x, 0) (NaN stays NaN); x and out C-contiguous, of one shape."""
    _launch(_elementwise_kernels.relu, x.size, _rows(x), _rows(out))
    return out


def relu_grad_input(grad, out, grad_x):
    """grad_x = grad where the ReLU's output ``out`` is positive, else 0; C-contiguous, of one shape."""
    _launch(_elementwise_kernels.relu_grad_input, grad.size, _rows(grad), _rows(out), _rows(grad_x))
    return grad_x
