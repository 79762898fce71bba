"""The convolution engine: every pass by (pass, method), and the one place where parallel kernels launch.

Callers (:mod:`fastconv.conv`, :mod:`fastconv.pool`) check their arguments,
allocate the result and hand over C-contiguous arrays of one dtype; nothing
here validates. Every launch goes through :data:`_LAUNCH_LOCK`: each one
already uses all of numba's threads, and some numba threading layers
(workqueue) abort the process on concurrent launches from several Python
threads.

* :mod:`.choice`: what ``method="auto"`` picks; :mod:`.tuning_cache`: the
  choices ``fastconv.tune`` measured on this machine, which come first.
* :mod:`.direct`, :mod:`.im2col`, :mod:`.winograd`: each method's drivers
  (chunking, packing, scratch buffers) around the compiled loops of
  :mod:`fastconv.kernels`.
* :mod:`.workspace`: the scratch buffers they share.

A *chunk* is a run of whole images that a driver handles together; each
method bounds it by its own budget (``im2col.COLUMN_BUDGET_BYTES`` of
columns, ``direct.PLANES_BUDGET_BYTES`` of padded planes,
``winograd.TRANSFORM_BUDGET_BYTES`` of transformed data) and takes at least
one image, so a single large image may exceed it.
"""

import threading
from contextlib import contextmanager

import numba

from ..kernels import pool as _pool_kernels
from .choice import recording, resolve_method
from .direct import forward_direct, grad_input_direct, grad_weight_direct
from .im2col import forward_im2col, grad_input_im2col, grad_weight_im2col
from .tuning_cache import cache_path, key_of, tuning_cache
from .winograd import forward_winograd, grad_input_winograd, grad_weight_winograd
from .workspace import workspace

__all__ = [
    "cache_path",
    "clear_workspace",
    "key_of",
    "max_pool_backward",
    "max_pool_forward",
    "recording",
    "resolve_method",
    "run_pass",
    "tuning_cache",
]

_LAUNCH_LOCK = threading.Lock()

# Below this much work a pass runs on one thread: waking numba's sleeping threads (they wait
# passively, so that BLAS can run) costs about 30 us, more than a second thread saves on a small
# layer. Measured with 1 and 2 threads: 0.6-2.4 MFLOP layers ran 15-50% faster on one, 4.7 MFLOP
# (the default ConvNet's second layer) alike, 19 MFLOP and up faster on two.
SERIAL_BELOW_FLOPS = 2**22
SERIAL_BELOW_ELEMENTS = 2**16  # pooling: elements of the input
BLOCKS_PER_THREAD = 4  # pooling: runs of planes per thread, to even out the threads' work


@contextmanager
def _threads_for(work, threshold):
    """Run the body on one of numba's threads when ``work`` is below ``threshold``."""
    if work >= threshold:
        yield
        return
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(threads)


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
    if result.size and geom.N:
        with _LAUNCH_LOCK, _threads_for(geom.flops, SERIAL_BELOW_FLOPS):
            _DRIVERS[pass_name, method](a, b, result, geom)
    return result


def clear_workspace():
    """Drop every scratch buffer (the benchmark does, to count them in a pass's memory)."""
    workspace.clear()


def _plane_blocks(array):
    """How many runs of (n, c) planes a pooling kernel splits ``array`` (N, C, ...) into."""
    return min(array.shape[0] * array.shape[1], BLOCKS_PER_THREAD * numba.get_num_threads())


def max_pool_forward(x, out, argmax, kernel_size, stride):
    """out, argmax (N, C, P, Q) from x (N, C, H, W): see :func:`fastconv.kernels.pool.max_pool_forward`."""
    if out.size:
        with _LAUNCH_LOCK, _threads_for(x.size, SERIAL_BELOW_ELEMENTS):
            _pool_kernels.max_pool_forward(x, out, argmax, *kernel_size, *stride, _plane_blocks(out))
    return out, argmax


def max_pool_backward(grad_out, argmax, grad_x):
    """grad_x (N, C, H, W) from grad_out and argmax (N, C, P, Q): each gradient to its window's max."""
    if grad_out.size:
        with _LAUNCH_LOCK, _threads_for(grad_x.size, SERIAL_BELOW_ELEMENTS):
            _pool_kernels.max_pool_backward(grad_out, argmax, grad_x, _plane_blocks(grad_out))
    return grad_x
