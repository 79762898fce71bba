"""Scratch buffers reused from call to call, and the budget of the direct methods' padded planes."""

import math

import numpy as np

# The direct tiles read the zero-padded planes of this many bytes of images at a time (at least one
# image), so the planes stay near the caches and the scratch buffer stays small.
PLANES_BUDGET_BYTES = 4 * 2**20
MAX_VIEWS = 256  # views of the buffers remembered (a network's layers ask for a few each)


def images_per_chunk(images, bytes_per_image):
    """How many of ``images`` fit in PLANES_BUDGET_BYTES at ``bytes_per_image`` each (at least 1)."""
    return max(1, min(images, PLANES_BUDGET_BYTES // bytes_per_image))


class Workspace:
    """Scratch buffers kept from call to call.

    A fresh multi-megabyte array costs a page fault per 4 KiB the first time it
    is written, which measured here as a third of an im2col pass. Kernel
    launches are serialised by the launch lock of :mod:`fastconv.engine`, so one set of
    buffers serves every call. Between calls it holds the largest buffers
    the passes asked for: an im2col chunk (about 8 MiB) and one chunk of
    products (and np.matmul's, where products are added), the direct
    passes' zero-padded input and output gradient (planes, rows), stride
    phases and pixel-major output gradient (phases, grad_t), and Winograd's
    transformed chunk (at most 16 MiB), filters and sums.
    """

    def __init__(self):
        self._buffers = {}
        self._views = {}  # (name, shape, dtype) -> the last view handed out of that buffer

    def get(self, name, shape, dtype):
        view = self._views.get((name, shape, dtype))
        if view is not None and view.base is self._buffers[name]:
            return view  # a layer's passes ask for the same views on every step: 2 us each to rebuild
        nbytes = math.prod(shape) * np.dtype(dtype).itemsize
        buffer = self._buffers.get(name)
        if buffer is None or buffer.nbytes < nbytes:
            buffer = self._buffers[name] = np.empty(max(nbytes, 1), dtype=np.uint8)
        view = buffer[:nbytes].view(dtype).reshape(shape)
        if len(self._views) >= MAX_VIEWS:
            self._views.clear()
        self._views[(name, shape, dtype)] = view
        return view

    def clear(self):
        """Drop every buffer (the benchmark does, to count them in a pass's memory)."""
        self._buffers.clear()
        self._views.clear()


workspace = Workspace()
