"""Compiled loops, and nothing else.

Every function here is a numba kernel (or a tiny inlined helper) over
C-contiguous arrays and plain integers, but ``tiled.tap_offsets``: a NumPy
table the kernels read, remembered per arguments. Kernels trust their inputs: all checks
happen in the public functions (:mod:`fastconv.conv`, :mod:`fastconv.pool`),
and only :mod:`fastconv.engine` calls a kernel. Importing this
package compiles nothing; each kernel compiles (or loads from numba's cache)
on its first call with a given dtype.

* ``_simd``: register-blocked inner loops ("tiles") emitted as LLVM vector
  code through numba intrinsics, inlined into the kernels that call them.
* ``tiled``: stride-1 direct convolution on the row tiles (forward, and the
  weight gradient); ``channel_tiled``: direct convolution at any stride on
  tiles vectorised along the output channels (forward, weight gradient);
  ``depthwise``: layers with one output channel per group on the depthwise
  tiles (strided ones over stride phases each task splits for itself), and
  their weight gradients as dot products per tap; ``direct``: the general
  loops (dilated strided layers, the smallest passes); ``_window``:
  which outputs a tap reaches inside the input, and which filter rows a
  tile needs.
* ``im2col``: column matrices for the BLAS products; ``blas``: those
  products on numba's threads, each calling numpy's BLAS on a block; ``winograd``: the
  F(4x4, 3x3) transforms and their products on the tiles.
* ``planes``: zero-padded copies of image planes and the stride phases of
  padded planes; ``pool``: max pooling; ``elementwise``: batch
  normalisation, bias and ReLU passes.
* ``_options``: the numba options every kernel compiles with.
"""
