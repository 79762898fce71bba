"""The direct passes: forward, grad input and grad weight as compiled loops.

Each takes C-contiguous arrays of one dtype, a checked
:class:`~fastconv._geometry.ConvGeometry` and a preallocated result, and fills
the result. At stride 1 the input is zero-padded into flat planes (kept in the
workspace) for the register-blocked tiles of :mod:`fastconv.kernels.tiled`;
layers with one output channel per group use the kernels of
:mod:`fastconv.kernels.depthwise`: the depthwise tiles for filters of at
most DEPTHWISE_MAX_HEIGHT undilated rows, at stride 1 or over stride
phases; strided input gradients the row tiles over each plane's phases;
weight gradients dot products per tap, any dilation. The tiles vectorised along the output channels
(:mod:`.channel_tiles`, which says when) take strided forward passes
(float32 stems on an Intel core excepted) and weight gradients (stems
excepted) with a vector of output channels, stride-1 passes of small planes
with two (AVX2 tiles, weight gradients included; AVX-512 tiles on an Intel
core, forward passes and input gradients, float64 ones of enough taps), and
on an Intel core any weight gradient with whole vectors of output channels
and images enough for each task to own some (:func:`.channel_tiles.tasks_own_images`).
Other strided passes become stride 1 over phase planes (:mod:`.phases`) when
undilated (forward passes on the row tiles and weight gradients on the
dot-product tiles with the filter's own taps, input gradients over
sub-filters), and use the general loops when dilated. The smallest passes of
any layer (PLAIN_LOOPS_BELOW_FLOPS) run the general loops compiled without
threads, with no launch.
"""

import numpy as np

from ..kernels._simd import (
    DEPTHWISE_MAX_HEIGHT,
    FORWARD_MAX_VECTORS,
    VECTOR_BYTES,
    WEIGHT_ROWS,
    WEIGHT_TAPS,
    forward_rows,
    lanes,
)
from ..kernels.depthwise import (
    conv2d_forward_depthwise,
    conv2d_forward_depthwise_strided,
    conv2d_grad_input_depthwise_strided,
    conv2d_grad_weight_depthwise,
    depthwise_slack,
)
from ..kernels.direct import (
    conv2d_forward_direct,
    conv2d_forward_direct_serial,
    conv2d_grad_input_direct,
    conv2d_grad_input_direct_serial,
    conv2d_grad_weight_direct,
    conv2d_grad_weight_direct_serial,
)
from ..kernels.tiled import (
    conv2d_forward_tiled,
    conv2d_grad_weight_tiled,
    filters_shape,
    pack_forward_weight,
    phase_tap_offsets,
    rotated_transposed,
    tap_offsets,
)
from . import channel_tiles
from .host import L1_DATA_BYTES
from .phases import join_input_gradient, join_weight_gradient, phase_geometry, split_input, split_weight
from .threads import thread_count
from .workspace import images_per_chunk, workspace


def _slack(dtype, span_w):
    """Zero elements after the last plane for the tiles' overrun."""
    return FORWARD_MAX_VECTORS * lanes(dtype) + span_w


def _packed_for_row_tiles(weight, groups, rotated=False):
    """The filters (K', Cg', R, S) packed for the row tiles, the rows per tile chosen for their K'/groups
    channels: weight, or its rotated_transposed when ``rotated`` (see pack_forward_weight)."""
    K = filters_shape(weight, groups, rotated)[0]
    return pack_forward_weight(weight, groups, forward_rows(K // groups), rotated)


def _chunk(a, height, width, span_w):
    """Images per chunk, and the scratch buffer for their padded planes."""
    N, C = a.shape[:2]
    images = images_per_chunk(N, C * height * width * a.itemsize)
    return images, workspace.get("planes", (images * C * height * width + _slack(a.dtype, span_w),), a.dtype)


def _forward_stride1(x, weight, out, top, left, height, width, dilation, groups, rotated=False):
    """Stride-1 forward of x placed at (top, left) in zero (height, width) planes, with the filters weight
    or, when ``rotated``, its rotated_transposed (the input gradient's)."""
    K, Cg, R, S = filters_shape(weight, groups, rotated)
    if channel_tiles.forward_applies(K // groups, out.shape[2:], width, False, x.dtype, (R, S), Cg * R * S):
        channel_tiles.forward(x, weight, out, top, left, height, width, (1, 1), dilation, groups, rotated)
        return
    span_w = dilation[1] * (S - 1)
    if _on_depthwise_tiles(K // groups, R, dilation[0]):
        # One output channel per group: the depthwise tiles, with their slack for blocks past the plane.
        images = images_per_chunk(x.shape[0], x.shape[1] * height * width * x.itemsize)
        size = images * x.shape[1] * height * width + depthwise_slack(width, span_w, lanes(x.dtype))
        planes = workspace.get("planes", (size,), x.dtype)
        filters = rotated_transposed(weight, groups) if rotated else weight
        conv2d_forward_depthwise(x, filters, out, top, left, height, width, dilation[1], planes, images)
        return
    offsets = tap_offsets(Cg, R, S, height * width, width, *dilation, 1)
    packed = _packed_for_row_tiles(weight, groups, rotated)
    images, planes = _chunk(x, height, width, span_w)
    conv2d_forward_tiled(x, packed, offsets, out, top, left, height, width, planes, images, R, dilation[0])


# Tasks per thread of a kernel that allocates its scratch once per task, for a share of the planes rather
# than per plane: the depthwise input gradient of 16x256x14x14, 3x3, stride 2, float32 ran 1.49 ms with a
# task per plane, 1.28 with 8 per thread (against 1.15-1.46 for the pass over the whole batch).
SCRATCH_PARTS_PER_THREAD = 8


# Below this much work a pass runs the plain loops of kernels/direct.py compiled without threads: no
# launch, planes, packing or offsets, so under half the fixed cost, at about 1 GFLOP/s. Whole calls
# measured, both dtypes, all three passes: 1296 FLOP (the benchmark's tiny layer) 6.7-9.3 us against
# 16-19 on the tiles, 4608 FLOP 9.3-12.3 against 16-19; 18432 FLOP 21-26 against 17-22, 128000 66-97
# against 19-23.
PLAIN_LOOPS_BELOW_FLOPS = 2**13


def on_plain_loops(geom):
    """Whether the direct method runs a pass of ``geom`` on the plain loops compiled without threads (below
    PLAIN_LOOPS_BELOW_FLOPS), through :func:`run_plain_loops` rather than its driver."""
    return geom.flops < PLAIN_LOOPS_BELOW_FLOPS


def run_plain_loops(pass_name, a, b, result, geom):
    """One pass on the plain loops compiled without threads, operands as the drivers take them: it launches
    no threads and uses no workspace, so :func:`fastconv.engine.run_pass` runs it outside the launch lock.
    (A strided layer's phase planes have at least its FLOP, so the drivers never recurse into this size.)"""
    if pass_name == "forward":
        kernel = conv2d_forward_direct_serial
    elif pass_name == "grad_input":
        kernel = conv2d_grad_input_direct_serial
    else:
        kernel = conv2d_grad_weight_direct_serial
    kernel(a, b, result, *geom.kernel_args, geom.groups)


def _on_depthwise_tiles(outputs_per_group, R, dilation_h):
    """Whether a stride-1 pass runs on the depthwise tiles: one output channel per group, short undilated filters."""
    return outputs_per_group == 1 and dilation_h == 1 and R <= DEPTHWISE_MAX_HEIGHT


def _phase_task_args(geom, phased):
    """The strided depthwise kernels' arguments after their arrays: stride, padding, phase size, and tasks
    (SCRATCH_PARTS_PER_THREAD per thread, at most one per plane)."""
    parts = min(geom.N * geom.K, SCRATCH_PARTS_PER_THREAD * thread_count())
    return (*geom.stride, geom.pad_top, geom.pad_left, phased.H, phased.W, parts)


def forward_direct(x, weight, out, geom):
    if geom.stride != (1, 1) and channel_tiles.runs(geom, "forward", x.dtype):
        channel_tiles.forward(
            x, weight, out, geom.pad_top, geom.pad_left, *geom.padded_size, geom.stride, geom.dilation, geom.groups
        )
        return
    if geom.stride != (1, 1):
        if geom.dilation == (1, 1):
            phased = phase_geometry(geom)
            if _on_depthwise_tiles(geom.K // geom.groups, phased.R, 1):
                # One output channel per group: each task splits its own planes, kept in cache.
                sub_filters = split_weight(weight, geom, phased)
                conv2d_forward_depthwise_strided(x, sub_filters, out, *_phase_task_args(geom, phased))
                return
            _forward_over_phases(x, weight, out, geom, phased)
            return
        conv2d_forward_direct(x, weight, out, *geom.kernel_args, geom.groups)
        return
    _forward_stride1(x, weight, out, geom.pad_top, geom.pad_left, *geom.padded_size, geom.dilation, geom.groups)


def filters_span_the_input_rows(geom):
    """Whether every filter covers all the input's rows, unpadded and undilated (one output row, such as a
    one-hot text layer's), ungrouped and at stride 1 along the rows: see :func:`grad_input_direct`."""
    rows_covered = geom.R == geom.H and geom.pad_top == geom.pad_bottom == 0 and geom.dilation[0] == 1
    return rows_covered and geom.stride[1] == 1 and geom.groups == 1


def _row_filters(weight):
    """weight (K, C, R, S) as (C*R, K, 1, S) filters, each row reversed: filters[c*R + r, k, 0, S-1-s] =
    weight[k, c, r, s]."""
    K, C, R, S = weight.shape
    return np.ascontiguousarray(weight[:, :, :, ::-1].transpose(1, 2, 0, 3)).reshape(C * R, K, 1, S)


def _forward_over_phases(x, weight, out, geom, phased):
    """A strided, undilated forward pass as a stride-1 one on the row tiles over the input's stride phases
    (``phased``: :func:`.phases.phase_geometry`), each channel's phases one tall plane, with only the
    filter's own taps (:func:`phase_tap_offsets`), none of its sub-filters' zeros."""
    N, C = x.shape[:2]
    phases = geom.stride[0] * geom.stride[1]
    height, width = phases * phased.H, phased.W
    tall = split_input(x, geom, phased).reshape(N, C, height, width)
    offsets = phase_tap_offsets(C // geom.groups, geom.R, geom.S, *geom.stride, phased.H, width, 1)
    images, planes = _chunk(tall, height, width, phased.S - 1)
    packed = _packed_for_row_tiles(weight, geom.groups)
    conv2d_forward_tiled(tall, packed, offsets, out, 0, 0, height, width, planes, images, geom.R, 1)


def grad_input_direct(grad_out, weight, grad_x, geom):
    """Stride 1: the lecture's dL/dX = G zero-padded (*) rot180(F), as a forward pass.

    Filters that span the input's rows (:func:`filters_span_the_input_rows`): grad_x (N, C, R, W) is, in
    memory, the forward pass (N, C*R, 1, W) of the one-row output gradient over the filters' rows, each
    a filter of its own (:func:`_row_filters`), rather than a correlation over 2R-1 rows, most of them
    the zero padding's."""
    if filters_span_the_input_rows(geom):
        N, C, H, W = grad_x.shape
        span_w = geom.dilation[1] * (geom.S - 1)
        planes = grad_x.reshape(N, C * H, 1, W)
        dilation = (1, geom.dilation[1])
        _forward_stride1(grad_out, _row_filters(weight), planes, 0, span_w - geom.pad_left, 1, W + span_w, dilation, 1)
        return
    if geom.stride != (1, 1):
        if geom.dilation == (1, 1):
            phased = phase_geometry(geom)
            if geom.K == geom.groups:
                # One output channel per group: each task computes its planes' phases (row tiles) and joins
                # them, in cache.
                packed = _packed_for_row_tiles(split_weight(weight, geom, phased), geom.groups, rotated=True)
                height, width = phased.H + phased.R - 1, phased.W + phased.S - 1  # padded by the span
                offsets = tap_offsets(1, phased.R, phased.S, height * width, width, 1, 1, 1)
                args = _phase_task_args(geom, phased)
                conv2d_grad_input_depthwise_strided(grad_out, packed, offsets, grad_x, *args)
                return
            grad_phases = workspace.get("phases", phased.input_shape, grad_x.dtype)
            grad_input_direct(grad_out, split_weight(weight, geom, phased), grad_phases, phased)
            join_input_gradient(grad_phases, geom, grad_x)
            return
        conv2d_grad_input_direct(grad_out, weight, grad_x, *geom.kernel_args, geom.groups)
        return
    span_h, span_w = geom.dilation[0] * (geom.R - 1), geom.dilation[1] * (geom.S - 1)
    _forward_stride1(
        grad_out,
        weight,
        grad_x,
        span_h - geom.pad_top,
        span_w - geom.pad_left,
        geom.H + span_h,
        geom.W + span_w,
        geom.dilation,
        geom.groups,
        rotated=True,
    )


def grad_weight_direct(grad_out, x, grad_weight, geom):
    if channel_tiles.runs(geom, "grad_weight", x.dtype):
        channel_tiles.grad_weight(grad_out, x, grad_weight, geom)
        return
    if geom.K == geom.groups:
        # One output channel per group: each task pads (or splits into phases) its own planes, kept in cache.
        if geom.stride == (1, 1):
            args = (1, 1, geom.pad_top, geom.pad_left, *geom.padded_size, *geom.dilation)
            conv2d_grad_weight_depthwise(grad_out, x, grad_weight, *args)
            return
        if geom.dilation == (1, 1):
            phased = phase_geometry(geom)
            grad_phases = np.empty(phased.weight_shape, dtype=grad_weight.dtype)
            args = (*geom.stride, geom.pad_top, geom.pad_left, phased.H, phased.W, 1, 1)
            conv2d_grad_weight_depthwise(grad_out, x, grad_phases, *args)
            join_weight_gradient(grad_phases, geom, grad_weight)
            return
    if geom.stride != (1, 1) and geom.dilation != (1, 1):
        conv2d_grad_weight_direct(grad_out, x, grad_weight, *geom.kernel_args, geom.groups)
        return
    _grad_weight_tiled(grad_out, x, grad_weight, geom)


# The dot-product tiles of a task run over this many bytes of each of their WEIGHT_ROWS rows of the output
# gradient before the next (see conv2d_grad_weight_tiled, which has the measurements): a third of the L1
# data cache for the block of rows, on the Intel Xeon 4 KiB (64 vectors) per row; blocks of 128 vectors
# measured level with it (0.96-1.43x against none), of 256 worse (0.83-1.27x).
GRAD_BLOCK_BYTES = L1_DATA_BYTES // 3 // WEIGHT_ROWS
GRAD_TASKS_PER_THREAD = 4  # the weight gradient's tasks split the taps until there are this many


def _grad_weight_tiled(grad_out, x, grad_weight, geom):
    """The weight gradient on the dot-product tiles: over zero-padded planes, or over phase planes (stride,
    dilation 1) with only the filter's own taps, the output gradient read in place when its rows are whole
    vectors."""
    N, K, P, Q = grad_out.shape
    step, Cg = lanes(x.dtype), geom.C // geom.groups
    if geom.stride == (1, 1):
        height, width = geom.padded_size
        phases = 1
        offsets = tap_offsets(Cg, geom.R, geom.S, height * width, width, *geom.dilation, WEIGHT_TAPS)
    else:
        phased = phase_geometry(geom)
        height, width = phased.H, phased.W
        phases = geom.stride[0] * geom.stride[1]
        offsets = phase_tap_offsets(Cg, geom.R, geom.S, *geom.stride, height, width, WEIGHT_TAPS)
    # each channel's phases one after another, as one plane of phases*height rows; width - Q: the filter's span
    images, planes = _chunk(x, phases * height, width, width - Q)
    if phases > 1 and Q % step == 0:
        # Read in place, row by row. Stride 1 keeps the widened runs: 16x32x56x56 float32 ran 10% slower
        # row by row, while a stem's copy costs more than its few taps (3x3 stride 2: 1.2 -> 1.3-1.5x).
        rows = np.empty((0, 0, 0, 0), x.dtype)
    else:
        run = -(-(P * width) // step) * step
        Kg_pad = -(-(K // geom.groups) // WEIGHT_ROWS) * WEIGHT_ROWS
        rows = workspace.get("grad_rows", (images, geom.groups, Kg_pad, run), x.dtype)
    row_blocks = geom.groups * -(-(K // geom.groups) // WEIGHT_ROWS)
    tap_parts = max(1, min(len(offsets) // WEIGHT_TAPS, -(-GRAD_TASKS_PER_THREAD * thread_count() // row_blocks)))
    conv2d_grad_weight_tiled(
        grad_out,
        x,
        grad_weight,
        geom.pad_top,
        geom.pad_left,
        height,
        width,
        *geom.stride,
        offsets,
        planes,
        rows,
        images,
        GRAD_BLOCK_BYTES // VECTOR_BYTES,
        tap_parts,
    )
