"""What ``method="auto"`` runs: a rule drawn from crossovers measured with ``fastconv bench``.

Three machines measured it: an AMD EPYC with AVX-512 (wide tiles: 64-byte
vectors, 8-row forward tiles), a Zen 4 whose AVX-512 is hidden (AVX2
tiles: 32-byte vectors, 4 rows) and an Intel Xeon (Emerald Rapids, 2 of its
cores) with AVX-512. Where they disagree, the rule follows the tiles this
host compiles (``WIDE_TILES``) and, with wide tiles, its CPU's maker
(``AMD_WIDE_TILES``, :mod:`.host`): on the Intel Xeon the direct tiles beat
im2col on most layers where the AMD EPYC's lost (in-process A/B over the
benchmark's layers, one random layer per family and 13 more, both dtypes,
three passes: 1.2-3.9x). ``fastconv tune`` settles it per machine.

* Stride above 1, forward pass and weight gradient, at least a vector of
  output channels per group (8 float32, 4 float64 with AVX2): direct, on the
  tiles vectorised along the output channels (:mod:`.channel_tiles`: patch
  embeddings, stride-2 3x3 layers and stems 1.2-2.5x faster than im2col,
  both dtypes), deep layers excepted, which run im2col: weight gradients
  whose partial sums (taps x output channels) outgrow a core's L2 cache
  (STRIDED_SUMS_MAX_BYTES; 3x3 stride 2, 128-512 channels in, 7x7 to 20x20
  outputs, 1.1-5.4x faster with im2col, though 16x96x28x28 -> 192 float64,
  1.3 MiB, ran level to 1.1x slower; with sums of 0.07-0.66 MiB direct
  1.0-1.4x faster, but 4x64x56x56 -> 128 ran im2col 1.4-1.7x faster and
  stays direct) and forward passes of 384 channels or more on planes of at most
  64 pixels (8x512x8x8, 3x3 stride 2, 1.6-1.7x; 8x256x14x14 ran im2col
  1.14-1.25x faster, 16x128x14x14 direct 1.0-1.5x); on the Intel Xeon,
  weight gradients and float64 forward passes from
  INTEL_STRIDED_MIN_CHANNELS (64) input channels per group on any plane
  (3x3 stride 2: weight gradients of 64-96 channels level to 2x, 128-256
  1.4-2.8x; float64 forward passes of 96-128 channels on 14x14 outputs
  1.09-1.10x, others direct up to 1.23x; with 32 channels direct ran
  1.05-1.34x faster). Its float32 forward passes stay direct since the
  channel tiles were resized (8x2 vectors: 14 layers, 3x3 and 5x5 filters
  at stride 2 and 3, 64-256 channels, 6 held out: direct 1.07-2.0x faster
  in 12, level in 1, im2col 1.45x on 8x512x8x8, which the deep rule above
  sends there).
* Stride above 1, input gradient: im2col for filters that tile the input
  (stride = filter size, undilated: patch embeddings, 2x2 downsampling),
  whose column matrix is a reshuffle of the output-gradient products
  (2x2 to 8x8 patches of RGB images and 2x2 layers of 64-96 channels, 14
  layers: 1.04-1.39x faster than direct, two level, both dtypes); direct
  over phase planes (:mod:`.phases`) when the stride divides an overlapping
  filter (4x4 at stride 2: direct 1.08-1.43x faster), else im2col (zero
  taps: 1.2-1.6x slower), stems with zero taps excepted (below): theirs runs
  im2col only on a single image (its direct pass has a few channels of one
  image to share out: im2col 1.04-1.68x faster on eight 3x3 to 7x7 stems,
  both dtypes) or when more than STEM_MAX_ZERO_TAPS of their phase
  sub-filters' taps are zero (3x3 at stride 2, 7 of 16: 1.13-1.62x on two to
  eight images; 5x5, 11 of 36, ran direct 1.21-1.74x faster, 7x7, 15 of 64,
  level).
* Other strided passes: im2col. The direct method then computes a strided
  layer as a stride-1 one over phase planes (:mod:`.phases`), with zero
  taps wherever the stride does not divide the filter; that wins on stems
  (at most 4 input channels per group, filters wider than the stride:
  forward and weight gradient 1.3-2.1x faster, input gradient level or
  1.2x, on a 5x5 and a 7x7 stride-2 stem of RGB images, both dtypes), which
  run direct in their forward pass and weight gradient (on the phase planes:
  1.0-1.3x faster than on the channel tiles). Depthwise layers run direct
  too, on the depthwise tiles (im2col's products are one row deep: 2.2-4.2x
  slower, 32x192x32x32, 5x5, stride 2, float32).
* Pointwise layers (1x1 filters, stride 1, no padding): im2col for the
  forward pass and the input gradient (plain BLAS products); the weight
  gradient direct with AMD's wide tiles, im2col with AVX2 tiles (1.25-1.35x)
  and on the Intel Xeon (1.8-2.7x).
* 3x3 filters at stride 1 and dilation 1, at least 64 of its 4x4 output
  tiles over the batch: winograd, whose 4x fewer multiplications only wide
  layers repay (its transforms cost a fixed time per pixel and channel; with
  few tiles its products are too narrow: 4x256x7x7, 16 tiles, ran 1.2-2x
  slower than im2col, 16x512x7x7, 64 tiles, 1.2-1.5x faster), when
  ungrouped with at least 64 channels in and out and outputs of at least
  7x7, or on outputs of at least WINOGRAD_WIDE_SIDE rows and columns, with
  at least 32 channels ungrouped or 64 per group (its products run per
  group; AVX2 tiles only: with wide tiles 32 channels lost 1.4x, see
  crossovers.md). Against direct, both dtypes, three passes: ungrouped 32-48
  channels on 16x16 to 96x96 outputs (8 layers, one to 32 images) winograd
  1.0-2.1x faster in 40 of 48 cells (direct at most 1.18x faster); 16
  channels, 8x8 outputs of 32 channels, and groups of 32 channels ran
  direct up to 1.6x faster; groups of 64 channels on 28x28 outputs (3
  layers) winograd 1.0-1.46x, on 14x14 direct up to 1.7x. On the Intel
  Xeon, float32 layers need INTEL_FLOAT32_WINOGRAD_MIN_WORK tiles x channels
  too (the direct tiles there: 64 channels on 64 and 128 tiles ran direct
  1.20-2.0x faster, on 256 tiles 1.04-1.09x, on 512 tiles winograd
  1.02-1.11x in two passes of three;
  128 channels on 64 tiles direct 1.28-1.55x, 128 tiles winograd
  1.09-1.18x in two; 4 held-out layers of 64-96 channels and 96-128 tiles:
  direct in 9 of 12 cells, the others within 1.08x). Float64 keeps the
  rule (its crossover, 64-128 tiles of 64 channels, was not consistent).
* Ungrouped filters one column wide (kx1) at stride 1, unpadded along the width, whose
  per-image products reach ``im2col.COLUMN_VIEWS_MIN_FLOPS``: im2col, whose
  columns are then views of the input (no column matrix), for the input
  gradient, the float64 forward pass, and weight gradients of at least
  RECTANGULAR_PRODUCTS_MIN_CHANNELS channels per group. Against direct
  (AVX2 tiles; 3x1 to 7x1 filters, 64-128 channels, 12x12 to 24x24 planes,
  8-32 images; 17 layers): input gradients 1.04-1.5x faster, float64
  forward passes 0.88-1.6x; float32 forward passes ran level (0.75-1.2x)
  and stay direct, as do weight gradients of 64 channels (direct up to 1.3x
  faster; 128 channels 0.82-1.37x, mostly faster with im2col). Filters one
  row high (1xk): the input gradient, a forward pass over an output gradient
  padded by S-1 columns each side, multiplies (S-1)/Q zero taps per real one
  and runs im2col from RECTANGULAR_PRODUCTS_MIN_CHANNELS channels (1x3 to
  1x7 on 12x12 to 24x24 planes, 8-32 images, 12 layers: 1.08-1.85x faster,
  both dtypes; with 32-64 channels direct ran 0.75-1.24x, so those stay);
  their forward passes and weight gradients follow the rules below (direct
  with AVX2 tiles). On the Intel Xeon only float32 input gradients of kx1
  filters run im2col (3x1 to 7x1 filters, 32-128 channels, 12x12 to 24x24
  planes, 8-32 images, 9 layers, in-process: float64 forward passes and
  input gradients and weight gradients of 128 channels ran direct 1.0-1.77x
  faster, im2col at most 1.17x; float32 input gradients split, im2col up
  to 1.26x faster). These run ahead of the channel tiles.
* Stride 1 with AVX2 tiles, planes of at most 256 output pixels (input
  pixels for the input gradient) and two vectors of output channels per
  group or more (of input channels for the input gradient), deep layers on
  small planes (below) excepted: direct, on the channel tiles (3x3 to 12x12
  planes of 16-64 channels: 1.1-1.6x faster than the row tiles in the
  forward pass, 1.3-2.5x than the row tiles and im2col in the gradients),
  ahead of the rule below. With AVX-512 tiles on an Intel core, float32
  planes of at most 5x5 (:mod:`.channel_tiles` has the measurements: 3x3 to
  5x5 planes of 32-64 channels 1.0-2.6x faster than the row tiles, larger
  ones level or slower), and float32 layers of more than half a vector of
  channels whose row tiles idle (one-hot text layers' one-row outputs, 3x3
  and 4x4 planes: 1.05-2.05x). Unmeasured with AMD's AVX-512 tiles, which
  keep the row tiles.
* Ungrouped layers whose shape leaves the direct tiles idle: im2col (its
  products keep BLAS busy whatever the shape). On every machine: the input
  gradient of filters that span the whole input along one axis (a one-row
  output: the one-hot text layer's ran 10-18x faster than the direct
  correlation over 2R-1 rows), unless they span the input's rows unpadded
  (:func:`.direct.filters_span_the_input_rows`): then the direct method
  runs a one-row forward pass instead (no zero rows) and, but with AMD's
  wide tiles (which run one-row forward passes on im2col), runs it (Intel
  Xeon, 6 one-hot layers, 26-128 filters of 20-38 rows, both dtypes: 1.17-2.05x
  faster than im2col in 11 cells, one level); on the Intel Xeon,
  the input gradient of a one-channel input with 3x3 filters
  (its forward tiles are one row: each input vector loaded feeds one
  multiply-add; 3x3 filters, 8x8 and 48x48 planes, 16 channels: 1.5-1.9x,
  both dtypes; 5x5 ran 0.84-1.24x, 7x7 direct 1.2-1.5x faster); output planes so
  small that most of each row tile's positions are padding or past the
  plane (:func:`direct_tile_use` below one half, ``IM2COL_ON_IDLE_ROW_TILES``:
  4x4 planes under AMD's wide tiles ran 2-6x faster with im2col, under AVX2
  tiles direct ran 2x faster; on the Intel Xeon the direct tiles 1.7-3.7x,
  so there it runs direct); deep layers on small planes, whose block of
  packed filters outgrows a core's L1 data cache (``host.L1_DATA_BYTES``:
  32 KiB on Zen 4, 48 KiB on the Intel Xeon, where 16x64x6x6 float64, a
  36 KiB block, ran direct 1.2-1.5x faster; :func:`_deep_on_small_planes`: 8x512x4x4 ran 1.4-2.2x faster with
  im2col than direct or Winograd on AVX2 tiles, 4x256x7x7 1.1-2.4x with both
  tiles; not the forward passes the channel tiles run across images on the
  Intel Xeon: 4x4 to 8x8 planes of 192-320 channels, 2-16 images, direct
  1.04-1.50x faster in both dtypes, 8 layers, 5 of them held out; nor
  the input gradients they run by window (:func:`.channel_tiles.runs_by_window`):
  4x4 to 7x7 planes of 96-384 channels, 16-64 images, 3x3 and 5x5 filters,
  direct 1.27-2.02x faster in both dtypes, 8 layers, 4 of them held out), and,
  since im2col's products run on numba's threads, their
  gradients with up to 576 output pixels over the batch (AVX2 tiles, 3x3 and
  5x5 filters of 128-512 channels, one to three images of 10x10 to 24x24:
  1.02-4.5x faster, both dtypes; two 20x20 images 1.04-1.19x; single 28x28
  images 0.88-1.19x; eight 14x14 or 16x16 images with 5x5 filters ran direct
  1.03-1.14x faster), and their forward passes from 384 input channels
  (1.04-1.49x, both dtypes; with 128-320 channels 0.79-1.19x, float32 ahead
  and float64 behind, so those stay direct); on the Intel Xeon the passes
  by window (forward passes and input gradients) run im2col only up to
  DEEP_WINDOW_FEW_PIXELS output pixels over the batch, from 384 channels
  summed over (3x3, both dtypes: 8x2x2 and 4x4x4 images of 384-512
  channels im2col 1.07-1.33x faster, or level; 72 to 288 pixels, 9 layers
  of 384-512 channels, 24 cells: direct faster or level in 23, up to
  1.82x, im2col ahead in one, 8x512x3x3's float64 input gradient, by
  1.05-1.14x). With AMD's wide tiles only: the
  forward pass and weight gradient of one-row outputs, dilated filters
  (1.1-2.2x), filters of one row or one column (1.1-2.6x) and single images
  (1.3-2.8x); with AVX2 tiles these ran
  direct 1.4-2.5x faster than im2col (dilated 1.5-2.1x, 5x1 filters
  1.4-1.9x against im2col's column matrix, one 28x28 image 1.3-1.5x, the one-hot forward 2.2-2.5x and
  weight gradient 1.9-2x), on the Intel Xeon 1.1-2.5x (dilated 1.2-2.1x,
  single images 1.1-2.3x, the one-hot forward and weight gradient 1.2-2.5x).
* Every other stride-1 layer: direct.

Ahead of all these, passes too small for the tiles' set-up to pay
(``direct.PLAIN_LOOPS_BELOW_FLOPS``) run direct, on its plain loops compiled
without threads (whole calls, three passes, both dtypes): a 1x1 layer of 128
FLOP 5.7-8.3 us against im2col's 9.8-19.6, a 3x3 layer on a 3x3 plane (648
FLOP) 6.4-9.3 against 18-21, a stride-2 layer (3456 FLOP) 10-15 against
18-22, a one-row layer (6480 FLOP) 12-16 against 18-22.

Ratios from sweeps of the benchmark's layers on a busy machine; ``crossovers.md``
beside this file holds the Winograd measurements. A choice measured on this
machine by ``fastconv.tune`` (kept in :mod:`.tuning_cache`) takes precedence
over the rule.
"""

from contextlib import contextmanager

import numpy as np

from .._geometry import check_method_applies, winograd_applies
from ..kernels._simd import forward_rows
from . import channel_tiles, direct, im2col, phases
from .channel_tiles import MIN_TILE_USE
from .host import AMD_WIDE_TILES, INTEL_WIDE_TILES, L1_DATA_BYTES, WIDE_TILES
from .threads import thread_count
from .tuning_cache import key_of, tuning_cache

_recordings: list = []  # lists that record every (pass, geometry, dtype) auto resolves, while open
# auto's answers by (pass, geometry, dtype, threads, tuning cache generation): a layer seen before costs a lookup.
_resolved: dict = {}
MEMO_SIZE = 4096

WINOGRAD_MIN_CHANNELS = 64  # fewest channels in and out (per group, where groups run it)
WINOGRAD_MIN_SIDE = 7  # fewest output rows and columns
WINOGRAD_WIDE_SIDE = 16  # output rows and columns from which groups and narrower ungrouped layers repay it
WINOGRAD_WIDE_MIN_CHANNELS = 32  # fewest channels in and out of ungrouped layers on such outputs
WINOGRAD_MIN_TILES = 64  # fewest 4x4 output tiles over the batch: the columns of its products
INTEL_FLOAT32_WINOGRAD_MIN_WORK = 128 * 128  # tiles x channels from which float32 layers run it there


def _winograd_wins(geom, dtype):
    """Whether winograd runs a layer (see the module's rule)."""
    if not winograd_applies(geom.kernel_size, geom.stride, geom.dilation):
        return False
    tiles = geom.N * -(-geom.P // 4) * -(-geom.Q // 4)
    if tiles < WINOGRAD_MIN_TILES:
        return False
    channels, side = min(geom.C, geom.K) // geom.groups, min(geom.P, geom.Q)
    if INTEL_WIDE_TILES and dtype == np.float32 and tiles * channels < INTEL_FLOAT32_WINOGRAD_MIN_WORK:
        return False
    if side >= WINOGRAD_WIDE_SIDE and not WIDE_TILES:  # measured with AVX2 tiles only (crossovers.md: wide ones)
        return channels >= (WINOGRAD_WIDE_MIN_CHANNELS if geom.groups == 1 else WINOGRAD_MIN_CHANNELS)
    return geom.groups == 1 and channels >= WINOGRAD_MIN_CHANNELS and side >= WINOGRAD_MIN_SIDE


IM2COL_ON_IDLE_ROW_TILES = AMD_WIDE_TILES or not WIDE_TILES  # not on Intel's wide tiles (see the rule)


def direct_tile_use(geom, dtype):
    """Share of the positions the direct forward tiles compute that are output pixels
    (:func:`.channel_tiles.row_tile_use` of the layer's forward pass)."""
    width = geom.padded_size[1]
    return channel_tiles.row_tile_use(geom.K // geom.groups, geom.P, geom.Q, width, dtype)


DEEP_BLOCK_BYTES = L1_DATA_BYTES  # packed filters of one forward tile: more than a core's L1 data cache holds
DEEP_MAX_PIXELS = 64  # output pixels: planes small enough that few tiles share those filters
DEEP_FEW_PIXELS = 576  # output pixels over the whole batch: one 24x24 image, or a few smaller ones
DEEP_FORWARD_MIN_CHANNELS = 384  # channels summed over from which such forward passes run im2col too
DEEP_WINDOW_FEW_PIXELS = 64  # output pixels over the batch up to which passes by window do so


def _deep_on_small_planes(geom, pass_name, dtype):
    """Whether each direct tile would stream its filters from L2: many input channels and small planes,
    or (the gradients, and forward passes of the deepest layers) few output pixels over the whole batch.
    On the Intel core the passes that the channel tiles run by window (:func:`.channel_tiles.runs_by_window`)
    qualify only with DEEP_WINDOW_FEW_PIXELS output pixels over the batch (N*P*Q) or fewer, from
    DEEP_FORWARD_MIN_CHANNELS channels summed over."""
    rows = forward_rows(geom.K // geom.groups)
    if geom.C // geom.groups * geom.R * geom.S * rows * dtype.itemsize <= DEEP_BLOCK_BYTES:
        return False
    pixels = geom.N * geom.P * geom.Q
    depth = (geom.K if pass_name == "grad_input" else geom.C) // geom.groups  # channels each output sums over
    if INTEL_WIDE_TILES and channel_tiles.runs_by_window(geom, pass_name, dtype):
        return pixels <= DEEP_WINDOW_FEW_PIXELS and depth >= DEEP_FORWARD_MIN_CHANNELS
    few_pixels = pixels <= DEEP_FEW_PIXELS and (pass_name != "forward" or depth >= DEEP_FORWARD_MIN_CHANNELS)
    # the channel tiles read a block of filters once per run of pixels across images, not once per plane
    across_images = INTEL_WIDE_TILES and pass_name == "forward" and channel_tiles.runs(geom, pass_name, dtype)
    small_planes = geom.P * geom.Q <= DEEP_MAX_PIXELS and not across_images
    return small_planes or few_pixels


def _tiles_idle(geom, pass_name, dtype):
    """Whether an ungrouped layer's shape leaves the direct tiles idle (see the module's rule)."""
    if geom.groups != 1:
        return False
    one_row_output = min(geom.P, geom.Q) == 1
    if one_row_output and pass_name == "grad_input":
        # filters spanning the input's rows: a one-row forward pass, which runs direct where those do
        return AMD_WIDE_TILES or not direct.filters_span_the_input_rows(geom)
    if INTEL_WIDE_TILES and pass_name == "grad_input" and geom.C == 1 and geom.kernel_size == (3, 3):
        return True  # one-row tiles: each input vector loaded feeds one multiply-add
    if IM2COL_ON_IDLE_ROW_TILES and direct_tile_use(geom, dtype) < MIN_TILE_USE:
        return True
    one_row_or_column = (geom.R == 1) != (geom.S == 1)
    return AMD_WIDE_TILES and (one_row_output or geom.dilation != (1, 1) or one_row_or_column or geom.N == 1)


def _filters_tile_the_input(geom):
    """Whether the filters tile the input, one patch per output pixel: stride = filter size, undilated."""
    return geom.stride == geom.kernel_size and geom.dilation == (1, 1)


def _phases_without_zero_taps(geom):
    """Whether a strided layer's phase planes carry no zero taps: the stride divides the filter, undilated.

    Strided input gradients run on them (the channel tiles do not take those, see
    :func:`.channel_tiles.runs`)."""
    return geom.dilation == (1, 1) and phases.zero_tap_share(geom) == 0


STRIDED_SUMS_MAX_BYTES = 2**20  # the channel tiles' weight-gradient sums up to which strided layers run direct
INTEL_STRIDED_MIN_CHANNELS = 64  # input channels per group from which strided layers run im2col there (most)


def _deep_strided(geom, pass_name, dtype):
    """Whether a deep strided layer's forward pass or weight gradient outgrows the channel tiles (see the
    module's rule): weight-gradient sums above STRIDED_SUMS_MAX_BYTES (stems excepted), or forward passes
    of DEEP_FORWARD_MIN_CHANNELS input channels per group on planes of at most DEEP_MAX_PIXELS; with
    AVX-512 tiles on an Intel core, weight gradients and float64 forward passes from
    INTEL_STRIDED_MIN_CHANNELS on any plane (no stem has so many)."""
    channels = geom.C // geom.groups
    on_products = pass_name == "grad_weight" or dtype == np.float64
    if INTEL_WIDE_TILES and channels >= INTEL_STRIDED_MIN_CHANNELS and on_products:
        return True
    if pass_name == "grad_weight":
        return not geom.stem and channel_tiles.grad_sums_bytes(geom, dtype) > STRIDED_SUMS_MAX_BYTES
    deep = channels >= DEEP_FORWARD_MIN_CHANNELS and geom.P * geom.Q <= DEEP_MAX_PIXELS
    return pass_name == "forward" and deep


RECTANGULAR_PRODUCTS_MIN_CHANNELS = 128  # channels in and out per group (see the module's rule)


def _one_row_or_column_on_products(geom, pass_name, dtype):
    """Whether a stride-1 pass of kx1 or 1xk filters runs im2col (see the module's rule)."""
    if geom.groups != 1:
        return False  # measured ungrouped only
    wide = min(geom.C, geom.K) >= RECTANGULAR_PRODUCTS_MIN_CHANNELS
    if im2col.columns_are_views(geom):  # kx1
        if INTEL_WIDE_TILES:
            return pass_name == "grad_input" and dtype == np.float32
        return {"forward": dtype == np.float64, "grad_input": True, "grad_weight": wide}[pass_name]
    one_row = geom.R == 1 < geom.S
    return one_row and pass_name == "grad_input" and wide


STEM_MAX_ZERO_TAPS = 0.4  # share of zero taps in a stem's phase sub-filters up to which its input gradient runs direct


def choose_method(geom, pass_name, dtype):
    """The method ("direct", "im2col" or "winograd") for one pass ("forward", "grad_input", "grad_weight") of ``geom``."""
    if direct.on_plain_loops(geom):
        return "direct"  # the plain loops, whatever the shape
    depthwise = geom.K == geom.groups == geom.C
    if geom.stride != (1, 1) and not depthwise:
        if pass_name == "grad_input":
            if _filters_tile_the_input(geom):
                return "im2col"
            if geom.stem and not _phases_without_zero_taps(geom):
                batched_few_zero_taps = geom.N > 1 and phases.zero_tap_share(geom) <= STEM_MAX_ZERO_TAPS
                return "direct" if batched_few_zero_taps else "im2col"
            return "direct" if _phases_without_zero_taps(geom) else "im2col"
        if _deep_strided(geom, pass_name, dtype):
            return "im2col"
        return "direct" if geom.stem or channel_tiles.runs(geom, pass_name, dtype) else "im2col"
    if geom.pointwise:
        return "direct" if pass_name == "grad_weight" and AMD_WIDE_TILES else "im2col"
    if _winograd_wins(geom, dtype):
        return "winograd"
    if geom.groups == 1 and _deep_on_small_planes(geom, pass_name, dtype):
        return "im2col"
    if _one_row_or_column_on_products(geom, pass_name, dtype):
        return "im2col"
    if channel_tiles.runs(geom, pass_name, dtype):
        return "direct"
    if _tiles_idle(geom, pass_name, dtype):
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
        memo = (pass_name, geom, dtype, thread_count(), tuning_cache.generation)
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
