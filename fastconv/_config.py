"""Numba options and thread policy in one place.

Every compiled kernel in :mod:`fastconv.kernels` takes its options from here, so
the floating-point contract and caching policy are decided once.
"""

import os
import sys
import warnings

# Two thread pools share the cores: numba's (OpenMP by default) for the
# kernels and the BLAS's for the matrix products. GNU OpenMP threads spin
# after each parallel loop and starve the BLAS threads that run next; measured
# here, training the default ConvNet ran 10x slower because of it. Passive
# waiting makes the pools take turns. It must be set before numba first loads
# its OpenMP runtime, so it is set on import; a value the user set wins.
# The environment as the user gave it, for child processes that should not
# inherit fastconv's choice (the PyTorch timings of the benchmark).
USER_SET_WAIT_POLICY = "OMP_WAIT_POLICY" in os.environ
if not USER_SET_WAIT_POLICY and "torch" in sys.modules:
    # PyTorch ships the same libgomp.so.1 and has already started it, so the
    # setting below comes too late for numba, which will share that runtime.
    warnings.warn("fastconv was imported after torch: OpenMP threads will spin and slow fastconv's "
                  "BLAS calls; import fastconv first or set OMP_WAIT_POLICY=PASSIVE in the environment",
                  RuntimeWarning, stacklevel=2)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Reassociation and contraction let reductions vectorise and use FMA. We keep
# "nnan"/"ninf" off on purpose: a NaN or inf in the data must propagate to the
# result, not be optimised away.
FASTMATH = frozenset({"nsz", "arcp", "contract", "reassoc"})

# Options for serial kernels. cache=True: cold compilation of a parallel kernel
# takes seconds; numba's on-disk cache turns that into a fraction of a second
# for every later process. nogil=True lets other Python threads run meanwhile.
# error_model="numpy" removes the division-by-zero checks from integer index
# arithmetic.
NJIT_OPTIONS = {
    "cache": True,
    "nogil": True,
    "fastmath": set(FASTMATH),
    "error_model": "numpy",
}

# Options for kernels whose outermost loop is a prange.
PARALLEL_OPTIONS = {**NJIT_OPTIONS, "parallel": True}
