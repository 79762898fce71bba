"""Numba options of every compiled kernel: the floating-point contract and caching, decided once."""

from typing import Any

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
