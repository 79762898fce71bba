"""Compiled loops, and nothing else.

Every function here is a numba kernel (or a tiny inlined helper) over
C-contiguous arrays and plain integers. Kernels trust their inputs: all checks
happen in :mod:`fastconv.conv` before a kernel is called. Importing this
package compiles nothing; each kernel compiles (or loads from numba's cache)
on its first call with a given dtype.
"""
