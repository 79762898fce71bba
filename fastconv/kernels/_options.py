"""Numba options of every compiled kernel: the floating-point contract and caching, decided once."""

import types
from typing import Any

from numba import njit

# Reassociation and contraction let reductions vectorise and use FMA. We keep
# "nnan"/"ninf" off on purpose: a NaN or inf in the data must propagate to the
# result, not be optimised away.
FASTMATH = frozenset({"nsz", "arcp", "contract", "reassoc"})

# Options for serial kernels. cache=True: cold compilation of a parallel kernel
# takes seconds; numba's on-disk cache turns that into a fraction of a second
# for every later process. nogil=True lets other Python threads run meanwhile.
# error_model="numpy" removes the division-by-zero checks from integer index
# arithmetic.
NJIT_OPTIONS: dict[str, Any] = {
    "cache": True,
    "nogil": True,
    "fastmath": set(FASTMATH),
    "error_model": "numpy",
}

# Options for kernels whose outermost loop is a prange.
PARALLEL_OPTIONS: dict[str, Any] = {**NJIT_OPTIONS, "parallel": True}


def serial_twin(kernel):
    """A kernel compiled with PARALLEL_OPTIONS, compiled again with NJIT_OPTIONS: its prange runs as range.

    For passes too small to repay a launch; the kernel must call no parallel
    kernel itself (that one would still launch). numba's on-disk cache names a
    compilation by the function's qualified name and first line, so the twin
    gets a name of its own (``<name>_serial``); under NUMBA_DISABLE_JIT the
    kernel is plain Python and is its own twin.
    """
    py_func = getattr(kernel, "py_func", None)
    if py_func is None:
        return kernel
    name = py_func.__name__ + "_serial"
    twin = types.FunctionType(py_func.__code__, py_func.__globals__, name, py_func.__defaults__, py_func.__closure__)
    twin.__qualname__ = py_func.__qualname__ + "_serial"
    twin.__kwdefaults__ = py_func.__kwdefaults__
    twin.__doc__ = py_func.__doc__
    return njit(**NJIT_OPTIONS)(twin)
