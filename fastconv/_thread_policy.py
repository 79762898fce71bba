"""The thread policy, set when fastconv is imported, before numpy's BLAS and numba's OpenMP load.

Kept free of heavy imports: :mod:`fastconv` imports it first.
"""

import os
import sys
import warnings

# Two thread pools share the cores: numba's (OpenMP by default) for the
# kernels and the BLAS's for the matrix products. Idle threads of one pool
# that spin after a parallel region starve the other pool's threads that run
# next; idle threads that sleep at once make every launch wake them.
# Measured here: GNU OpenMP's default spinning made training the default
# ConvNet 10x slower; OpenBLAS's spinning (up to ~2^28 cycles after each
# product) made the direct kernel that followed an im2col GEMM 1.9x slower;
# sleeping at once (OMP_WAIT_POLICY=PASSIVE) cost 45-110 us per parallel
# launch on a virtual machine, so that a pass under ~40 MFLOP ran slower on 2
# threads than on 1 (the digits ConvNet's second layer: 290 against 140 us).
# So OpenMP threads spin briefly (GOMP_SPINCOUNT=10000 for GNU OpenMP, which
# numba's "omp" layer uses here: about 0.2-1 ms, a launch then costs 2 us, and
# a BLAS product that follows loses at most that long; KMP_BLOCKTIME=1, 1 ms,
# for LLVM's and Intel's OpenMP) and OpenBLAS's threads sleep soon. The
# runtimes read these variables when they load, so they are set on import
# (effective when numpy and numba's OpenMP are not loaded yet, as with the
# `fastconv` command); values the user set win, and a user who sets
# OMP_WAIT_POLICY gets no spin settings from fastconv (GNU OpenMP would let
# GOMP_SPINCOUNT override it).
THREAD_POLICY = {"GOMP_SPINCOUNT": "10000", "KMP_BLOCKTIME": "1", "OPENBLAS_THREAD_TIMEOUT": "4"}
SPIN_SETTINGS = ("GOMP_SPINCOUNT", "KMP_BLOCKTIME")

# The variables as the user gave them (None: unset), for code that should not
# inherit fastconv's choice (the PyTorch timings of the benchmark).
USER_THREAD_ENV = {name: os.environ.get(name) for name in (*THREAD_POLICY, "OMP_WAIT_POLICY")}
if USER_THREAD_ENV["OMP_WAIT_POLICY"] is None and USER_THREAD_ENV["GOMP_SPINCOUNT"] is None and "torch" in sys.modules:
    # PyTorch ships the same libgomp.so.1 and has already started it, so the
    # setting below comes too late for numba, which will share that runtime.
    warnings.warn(
        "fastconv was imported after torch: OpenMP threads will spin long after each kernel and slow "
        "fastconv's BLAS calls; import fastconv first or set GOMP_SPINCOUNT=10000 in the environment",
        RuntimeWarning,
        stacklevel=2,
    )
for _name, _value in THREAD_POLICY.items():
    if not (_name in SPIN_SETTINGS and USER_THREAD_ENV["OMP_WAIT_POLICY"] is not None):
        os.environ.setdefault(_name, _value)


def user_thread_environment(environ):
    """A copy of ``environ`` with the thread-policy variables as the user had them."""
    environ = dict(environ)
    for name, value in USER_THREAD_ENV.items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    return environ
