"""Which output positions see a given filter tap inside the (unpadded) input."""

from numba import njit

from ._options import NJIT_OPTIONS


@njit(inline="always", **NJIT_OPTIONS)
def valid_range(offset, stride, size, n_out):
    """Output indices ``o`` in ``[lo, hi)`` with ``0 <= o*stride + offset < size``.

    ``offset`` is ``tap*dilation - pad_before``. Positions outside that range
    read the zero padding, so loops skip them instead of materialising padding.
    """
    if offset >= 0:
        lo = 0
    else:
        lo = (-offset + stride - 1) // stride
    last = size - 1 - offset
    if last < 0:
        return 0, 0
    hi = min(last // stride + 1, n_out)
    return min(lo, hi), hi
