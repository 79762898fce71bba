"""conv2d over a dask array: blockwise along N, overlapping blocks along H and W.

Along each spatial axis the input's chunks are moved so that every chunk
starts where an output row's window starts, i.e. at a multiple of the stride
in padded coordinates, and each block gets the rows that its last outputs'
windows reach into the next chunk (a halo of ``span - stride`` rows, after the
block only). Each block is then an ordinary convolution whose padding is the
input's on the sides that touch the input's border and zero elsewhere, and it
computes exactly the output rows the in-memory :func:`fastconv.conv2d` would,
with the same method.
"""

from dataclasses import dataclass

import dask
import dask.array as da
import numpy as np
from dask.array.overlap import overlap

from .._geometry import ConvGeometry, FloatArray, IntPair, Padding, as_float_array, block_geometry, check_method
from ..conv import check_conv2d, forward_pass
from .threads import follow_worker_threads

# Winograd's F(4x4, 3x3) computes 4x4 outputs per tile and rounds each tile as a whole: its blocks start
# at multiples of 4 output rows and columns, so that they hold the tiles of the in-memory call.
WINOGRAD_TILE = 4


@dataclass(frozen=True)
class AxisPlan:
    """How one spatial axis is cut: input chunks, the halo after each block, output chunks."""

    chunks: tuple[int, ...]
    halo: int
    out_chunks: tuple[int, ...]


def axis_plan(chunks, size, pad_before, pad_after, span, stride, out, unit=1) -> AxisPlan:
    """Cut an axis of ``size`` input rows, now cut into ``chunks``, into blocks that compute whole output rows.

    Each of the input's chunk boundaries is moved down to the nearest start of
    an output row's window (padded coordinate a multiple of ``stride``; of
    ``unit * stride`` for blocks of ``unit`` output rows) and kept if every
    chunk stays at least as long as the halo (dask's overlap needs that) and
    the block after it still has an output row. ``out`` is the number of
    output rows (P or Q of the geometry).
    """
    halo = max(span - stride, 0)
    least = max(halo, 1)
    bounds = [0]  # in padded coordinates
    for edge in np.cumsum(chunks)[:-1]:
        start = (int(edge) + pad_before) // (unit * stride) * (unit * stride)
        first = bounds[-1] if len(bounds) > 1 else pad_before
        if start - first >= least and start // stride < out and size + pad_before - start >= least:
            bounds.append(start)
    input_edges = [0] + [b - pad_before for b in bounds[1:]] + [size]
    out_edges = [b // stride for b in bounds] + [out]
    return AxisPlan(
        chunks=tuple(int(b - a) for a, b in zip(input_edges, input_edges[1:])),
        halo=halo,
        out_chunks=tuple(int(b - a) for a, b in zip(out_edges, out_edges[1:])),
    )


def _input_array(x):
    """x as a dask array of a float dtype and four dimensions, checked as conv2d checks it."""
    if not isinstance(x, da.Array):
        raise TypeError(f"x must be a dask array (N, C, H, W), got {type(x).__name__}; use fastconv.conv2d in memory")
    # A read-only view of zeros with x's shape and dtype: conv2d's checks and messages, no memory.
    shape = tuple(0 if np.isnan(s) else int(s) for s in x.shape)
    as_float_array(np.broadcast_to(np.zeros((), dtype=x.dtype), shape), "x", 4)
    if any(np.isnan(c) for axis in x.chunks for c in axis):
        raise ValueError("x must have known chunk sizes; call x.compute_chunk_sizes() first")
    return np.broadcast_to(np.zeros((), dtype=x.dtype), shape)


def _conv_block(block, weight, bias, *, geom, method, plans, block_id=None):
    """The output block (n, K, p, q) of one overlapping input block (n, C, h, w)."""
    follow_worker_threads()
    i, j = block_id[2], block_id[3]
    plan_h, plan_w = plans
    padding = (
        geom.pad_top if i == 0 else 0,
        geom.pad_bottom if i == len(plan_h.chunks) - 1 else 0,
        geom.pad_left if j == 0 else 0,
        geom.pad_right if j == len(plan_w.chunks) - 1 else 0,
    )
    local = block_geometry(geom, block.shape[0], block.shape[2], block.shape[3], padding)
    if (local.P, local.Q) != (plan_h.out_chunks[i], plan_w.out_chunks[j]):  # pragma: no cover - a bug, not bad input
        raise AssertionError(f"block {block_id} gives {local.P}x{local.Q} outputs, planned {plan_h.out_chunks[i]}")
    return forward_pass(block, weight, bias, local, method)


def conv2d(
    x: da.Array,
    weight: FloatArray,
    bias: FloatArray | None = None,
    *,
    stride: IntPair = 1,
    padding: Padding = 0,
    dilation: IntPair = 1,
    groups: int = 1,
    method: str = "auto",
) -> da.Array:
    """:func:`fastconv.conv2d` over a dask array, lazily; equal to the in-memory result.

    Parameters
    ----------
    x : dask array (N, C, H, W)
        Chunked along N and, for large images, H and W (chunks along C are
        joined). Chunk boundaries along H and W move to the nearest start of
        an output row's window.
    weight : array (K, C/groups, R, S); bias : array (K,), optional
        In memory; each is one node of the graph, sent once to each worker.
    stride, padding, dilation, groups, method : as in :func:`fastconv.conv2d`
        ``method="auto"`` is resolved once for the whole array, so every
        block uses the method the in-memory call would.

    Returns
    -------
    out : dask array (N, K, P, Q), chunked as x along N

    Raises the errors :func:`fastconv.conv2d` raises, before any task runs.
    """
    method = check_method(method)
    view = _input_array(x)
    weight, bias, geom, method = check_conv2d(view, weight, bias, stride, padding, dilation, groups, method)
    dtype = np.result_type(view, weight) if bias is None else np.result_type(view, weight, bias)
    return _convolve(x, weight, bias, geom, method, dtype)


def _convolve(x, weight, bias, geom: ConvGeometry, method, dtype):
    (span_h, span_w), (stride_h, stride_w) = geom.span, geom.stride
    unit = WINOGRAD_TILE if method == "winograd" else 1
    plan_h = axis_plan(x.chunks[2], geom.H, geom.pad_top, geom.pad_bottom, span_h, stride_h, geom.P, unit)
    plan_w = axis_plan(x.chunks[3], geom.W, geom.pad_left, geom.pad_right, span_w, stride_w, geom.Q, unit)
    x = x.rechunk({1: -1, 2: plan_h.chunks, 3: plan_w.chunks})
    blocks = overlap(x, depth={0: 0, 1: 0, 2: (0, plan_h.halo), 3: (0, plan_w.halo)}, boundary="none")
    if blocks.numblocks != x.numblocks:  # pragma: no cover - dask rechunked: the plan's invariant broke
        raise AssertionError(f"overlap changed the blocks: {x.chunks} -> {blocks.chunks}")
    return da.map_blocks(
        _conv_block,
        blocks,
        dask.delayed(weight, pure=True),
        None if bias is None else dask.delayed(bias, pure=True),
        geom=geom,
        method=method,
        plans=(plan_h, plan_w),
        chunks=(x.chunks[0], (geom.K,), plan_h.out_chunks, plan_w.out_chunks),
        dtype=dtype,
        meta=np.empty((0, 0, 0, 0), dtype=dtype),
        name="fastconv-conv2d-" + dask.base.tokenize(blocks, weight, bias, geom, method),
    )
