"""What ``method="auto"`` runs: a rule drawn from crossovers measured with ``fastconv bench``.

* Stride above 1: im2col; the direct loops have no tiles for strides. Except
  depthwise layers, where im2col's products are one row deep: their direct
  loops ran 2.2-4.2x faster (32x192x32x32, 5x5, stride 2, float32).
* Pointwise layers (1x1 filters, stride 1, no padding): im2col for the
  forward pass and the input gradient (plain BLAS products), direct for the
  weight gradient.
* 3x3 filters at stride 1 and dilation 1, no groups, at least 64 channels in
  and out, outputs of at least 7x7: winograd, whose 4x fewer multiplications
  only wide layers repay (its transforms cost a fixed time per pixel and
  channel). The same rule in both dtypes.
* Ungrouped layers whose shape leaves the direct tiles mostly idle or padded:
  im2col (its products keep BLAS busy whatever the shape). These are filters
  that span the whole input along one axis (a one-row output: the input
  gradient of the one-hot text layer ran 10-18x faster), dilated filters
  (1.1-2.2x), filters of one row or one column (1.1-2.6x), output planes so
  small that most of each tile's positions are padding or past the plane
  (:func:`direct_tile_use` below one half: 4x4 planes under 8x48 AVX-512
  tiles ran 2-6x faster with im2col; under 4x24 AVX2 tiles direct ran 2x
  faster), and a single image (1.3-2.8x). Ratios from one noisy sweep of the benchmark's
  layers (both dtypes); ``fastconv.tune`` measures the real ones.
* Every other stride-1 layer: direct.

``crossovers.md`` beside this file holds the measurements behind the numbers.
A choice measured on this machine by ``fastconv.tune`` (kept in
:mod:`.tuning_cache`) takes precedence over the rule.
"""

from contextlib import contextmanager

import numba

from .._geometry import check_method_applies, winograd_applies
from ..kernels._simd import FORWARD_VECTORS, forward_rows, lanes
from .tuning_cache import key_of, tuning_cache

_recordings: list = []  # lists that record every (pass, geometry, dtype) auto resolves, while open
# auto's answers by (pass, geometry, dtype, threads, tuning cache generation): a layer seen before costs a lookup.
_resolved: dict = {}
MEMO_SIZE = 4096

WINOGRAD_MIN_CHANNELS = 64  # fewest channels in and out
WINOGRAD_MIN_SIDE = 7  # fewest output rows and columns


def _winograd_wins(geom):
    return (
        geom.groups == 1
        and winograd_applies(geom.kernel_size, geom.stride, geom.dilation)
        and min(geom.C, geom.K) >= WINOGRAD_MIN_CHANNELS
        and min(geom.P, geom.Q) >= WINOGRAD_MIN_SIDE
    )


MIN_TILE_USE = 0.5  # share of the direct forward tiles' positions that must be output pixels


def direct_tile_use(geom, dtype):
    """Share of the positions the direct forward tiles compute that are output pixels.

    The tiles compute an output plane as P rows of the padded input width,
    rounded up to whole tiles of ``FORWARD_VECTORS[rows] * lanes`` positions
    (see :mod:`fastconv.kernels.tiled`): small planes leave most of a tile
    idle, the more so with wide vectors and tiles.
    """
    width = geom.W + geom.pad_left + geom.pad_right
    tile = FORWARD_VECTORS[forward_rows(geom.K // geom.groups)] * lanes(dtype)
    return geom.P * geom.Q / (-(-(geom.P * width) // tile) * tile)


def _tiles_idle(geom, dtype):
    """Whether an ungrouped layer's shape leaves the direct tiles mostly idle or computing padding."""
    one_row_or_column = (geom.R == 1) != (geom.S == 1)
    return geom.groups == 1 and (
        min(geom.P, geom.Q) == 1
        or geom.dilation != (1, 1)
        or one_row_or_column
        or direct_tile_use(geom, dtype) < MIN_TILE_USE
        or geom.N == 1
    )


def choose_method(geom, pass_name, dtype):
    """The method ("direct", "im2col" or "winograd") for one pass ("forward", "grad_input", "grad_weight") of ``geom``."""
    depthwise = geom.K == geom.groups == geom.C
    if (geom.stride != (1, 1) and not depthwise) or (geom.pointwise and pass_name != "grad_weight"):
        return "im2col"
    if _winograd_wins(geom):
        return "winograd"
    if not geom.pointwise and _tiles_idle(geom, dtype):
        return "im2col"
    return "direct"


def resolve_method(method, geom, pass_name, dtype):
    """The method to run: auto's choice, or ``method`` if it can compute ``geom`` (else ValueError).

    Auto's choice is the tuned one for this pass, geometry, dtype and thread
    count when the tuning cache has it, the rule above otherwise.
    """
    if method == "auto":
        for seen in _recordings:
            seen.append((pass_name, geom, dtype))
        tuning_cache.load()
        memo = (pass_name, geom, dtype, numba.get_num_threads(), tuning_cache.generation)
        choice = _resolved.get(memo)
        if choice is None:
            tuned = tuning_cache.lookup(key_of(pass_name, geom, dtype))
            if tuned == "winograd" and not winograd_applies(geom.kernel_size, geom.stride, geom.dilation):
                tuned = None  # a hand-edited cache: never run a method on a layer it cannot compute
            if len(_resolved) >= MEMO_SIZE:
                _resolved.clear()
            choice = _resolved[memo] = tuned or choose_method(geom, pass_name, dtype)
        return choice
    check_method_applies(method, geom.kernel_size, geom.stride, geom.dilation)
    return method


@contextmanager
def recording():
    """A list that collects (pass, geometry, dtype) of every pass auto chooses for while the block runs."""
    seen: list = []
    _recordings.append(seen)
    try:
        yield seen
    finally:
        _recordings.remove(seen)
