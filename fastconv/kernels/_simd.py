"""Register-blocked inner loops ("tiles") written as LLVM vector code.

Numba's loop vectoriser handles one long loop at a time: every multiply-add
then loads and stores its accumulator, and a convolution runs at a quarter of
the machine's arithmetic rate. The forward and weight-gradient tiles keep a
block of accumulators in vector registers for the whole reduction instead, as
a GEMM micro-kernel does: the row tiles (:func:`outer_product_tile`, vectors
along output rows), the broadcast tiles (:func:`broadcast_tile`, :func:`broadcast_sums`; vectors
along output channels), the depthwise tiles (:func:`depthwise_tile`) and the
weight-gradient tile (:func:`dot_product_tile`). They are numba intrinsics:
each call site is inlined into the calling kernel and compiled (and cached)
with it, for the host CPU. Smaller intrinsics copy runs of elements
(contiguous or strided) and move the columns of a row apart into rows, and
back, by vector shuffles (Winograd's transforms; as scalar loops they took
most of the transform time).

All arrays are one-dimensional, C-contiguous and of one float dtype, indexed
by plain element offsets computed by the caller, who guarantees every access
is in bounds. A vector holds ``lanes(dtype)`` elements: one register of the
host, 64 bytes with AVX-512, else 32 (AVX2); the tile sizes follow from the
number of registers. Numba's cache keeps compiled code per CPU model and
features, so a cache shared between machines holds each one's tiles.
"""

import numpy as np
from llvmlite import binding as llvm
from llvmlite import ir
from numba import config, njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from ._options import NJIT_OPTIONS


def _host_vector_bytes():
    """64 on a CPU with AVX-512 (32 vector registers), else 32 (AVX2: 16), from the features numba compiles for."""
    # CPU_FEATURES is "" (not None) when NUMBA_CPU_NAME=generic: no AVX-512, like the code numba emits then.
    features = config.CPU_FEATURES if config.CPU_FEATURES is not None else llvm.get_host_cpu_features().flatten()
    return 64 if "+avx512f" in features.split(",") else 32


VECTOR_BYTES = _host_vector_bytes()
if VECTOR_BYTES == 64:
    llvm.initialize_native_asmparser()  # for the inline assembly of _moved

# Forward tiles (:func:`outer_product_tile`): ``rows`` output channels x FORWARD_VECTORS[rows] vectors of
# output positions, sized to the register file; a tuple, so that compiled
# kernels can index it too. Wide tiles (8 rows) reuse each input load most;
# narrow ones (4, 3, 2, 1) waste less on layers with few output channels per
# group, such as the input gradient of an RGB layer (3) and depthwise layers
# (1: measured against the 2-row tile, the input gradient of a one-channel
# 5x5 layer ran 1.5x faster in float32 and 2.2x in float64).
# Weight-gradient tile (:func:`dot_product_tile`): WEIGHT_ROWS output channels x WEIGHT_TAPS filter taps.
if VECTOR_BYTES == 64:
    # AVX-512: at most 24 accumulators of the 32 registers, the rest for the inputs and broadcast
    # weights in flight (measured: 2x12 and 3x8 tiles spilled and ran 1.5-2x slower than 2x8 and 3x6;
    # 4x5 edged out 4x6).
    FORWARD_VECTORS = (0, 12, 8, 6, 5, 0, 0, 0, 3)
    WEIGHT_ROWS, WEIGHT_TAPS = 4, 6
else:
    # AVX2, 16 registers: 12 accumulators at most. Measured on a Zen 4 without AVX-512 (float32, direct
    # and Winograd passes of 3x3 layers with 3-64 channels): the AVX-512 tiles spilled and ran 1.5-2.8x
    # slower; 8x1 forward tiles lost 10-20% to 4x3; weight tiles 2x5 beat 4x3 by up to 1.9x, 4x2 and
    # 3x3 by 5-25%.
    FORWARD_VECTORS = (0, 8, 6, 4, 3, 0, 0, 0, 0)
    WEIGHT_ROWS, WEIGHT_TAPS = 2, 5
FORWARD_MAX_VECTORS = max(FORWARD_VECTORS)

# Broadcast tiles (:func:`broadcast_tile`): BROADCAST_PIXELS[v] output pixels x v vectors of output channels,
# at most as many accumulators as the forward tiles, and BROADCAST_COST[v] their time per channel
# against the 2-vector tile. AVX2, measured on a Zen 4 (forward passes, both dtypes, 3x3 to 5x5
# filters, 3-256 channels): 4x3 and 6x2 tie where both fit the channels (4x3 up to 1.07x slower per
# channel); 12x1 runs 1.35-1.8x slower per channel; 3x4 spilled (1.2-1.8x slower). AVX-512: LLVM loads
# a tile's broadcasts for a tap all at once, so pixels*(vectors + 1) + vectors registers must fit in
# the 32: with 12x2, 8x3 and 6x4 the accumulators spilled to the stack (seen in the assembly); 8x2, 6x3
# and 5x4 instead, Intel Xeon, two processes alternated, best of two: strided forward passes 1.15-2.5x
# faster (float64 most), gradients mostly level (0.86-1.35x); the cost table kept, unmeasured.
if VECTOR_BYTES == 64:
    BROADCAST_PIXELS = (0, 12, 8, 6, 5)
    BROADCAST_COST = (0.0, 1.5, 1.0, 1.05, 1.1)
else:
    BROADCAST_PIXELS = (0, 12, 6, 4)
    BROADCAST_COST = (0.0, 1.5, 1.0, 1.05)
BROADCAST_VECTORS = tuple(v for v, pixels in enumerate(BROADCAST_PIXELS) if pixels)

FORWARD_TILE_ROWS = tuple(rows for rows, vectors in enumerate(FORWARD_VECTORS) if vectors)

# Depthwise tiles (:func:`depthwise_tile`): DEPTHWISE_TILES[i] = (rows, vectors), a block of output rows x
# vectors of one output channel, all with as many accumulators, so that narrow planes need not compute lanes
# past their rows' end; for filters of at most DEPTHWISE_MAX_HEIGHT rows (compiled for each shape and height).
DEPTHWISE_TILES = ((4, 4), (8, 2), (16, 1)) if VECTOR_BYTES == 64 else ((4, 2), (8, 1))
DEPTHWISE_MAX_ROWS = max(rows for rows, _ in DEPTHWISE_TILES)
DEPTHWISE_MAX_VECTORS = max(vectors for _, vectors in DEPTHWISE_TILES)
DEPTHWISE_MAX_HEIGHT = 7


def lanes(dtype):
    """Elements per vector for a numpy dtype."""
    return VECTOR_BYTES // dtype.itemsize


@intrinsic
def vector_lanes(typingctx, array):
    """Elements of ``array``'s dtype per vector, typed as a literal constant.

    Kernels take the vector width from here. ``VECTOR_BYTES // a.itemsize``
    in a kernel is typed as a plain integer, not a literal, and the forward
    kernel then took 1.5x the CPU time per call (measured: 56 against 43 ms
    on mid_3x3), as with a literal 64 in its place.
    """
    count = VECTOR_BYTES // (array.dtype.bitwidth // 8)

    def codegen(context, builder, signature, args):
        return context.get_constant(types.intp, count)

    return types.IntegerLiteral(count)(array), codegen


class _Vectors:
    """Helpers that emit vector loads, broadcasts and FMAs for one element type."""

    def __init__(self, context, builder, dtype):
        self.builder = builder
        self.element = context.get_data_type(dtype)
        self.align = dtype.bitwidth // 8
        self.count = VECTOR_BYTES // self.align
        self.type = ir.VectorType(self.element, self.count)
        name = f"llvm.fma.v{self.count}f{8 * self.align}"
        self.fma_fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(self.type, [self.type] * 3), name)
        self.zero = ir.Constant(self.type, [ir.Constant(self.element, 0)] * self.count)

    def load(self, base, index):
        address = self.builder.bitcast(self.builder.gep(base, [index]), self.type.as_pointer())
        return self.builder.load(address, align=self.align)

    def store(self, value, base, index):
        address = self.builder.bitcast(self.builder.gep(base, [index]), self.type.as_pointer())
        self.builder.store(value, address, align=self.align)

    def broadcast(self, base, index):
        scalar = self.builder.load(self.builder.gep(base, [index]), align=self.align)
        one = self.builder.insert_element(ir.Constant(self.type, ir.Undefined), scalar, ir.Constant(ir.IntType(32), 0))
        mask = ir.Constant(ir.VectorType(ir.IntType(32), self.count), [0] * self.count)
        return self.builder.shuffle_vector(one, ir.Constant(self.type, ir.Undefined), mask)

    def fma(self, a, b, c):
        return self.builder.call(self.fma_fn, [a, b, c])

    def sum(self, value):
        """The sum of a vector's lanes, as a tree of halves (a fixed order: results repeat bit for bit)."""
        width = self.count
        while width > 1:
            width //= 2
            low = ir.Constant(ir.VectorType(ir.IntType(32), width), list(range(width)))
            high = ir.Constant(ir.VectorType(ir.IntType(32), width), list(range(width, 2 * width)))
            undefined = ir.Constant(value.type, ir.Undefined)
            value = self.builder.fadd(
                self.builder.shuffle_vector(value, undefined, low), self.builder.shuffle_vector(value, undefined, high)
            )
        return self.builder.extract_element(value, ir.Constant(ir.IntType(32), 0))

    def registers(self, count):
        """``count`` accumulator slots; LLVM promotes them to registers."""
        return [cgutils.alloca_once(self.builder, self.type) for _ in range(count)]

    def zero_registers(self, count):
        """:meth:`registers`, each holding a zero vector."""
        slots = self.registers(count)
        for slot in slots:
            self.builder.store(self.zero, slot)
        return slots


def _data(context, builder, array_type, value):
    return context.make_array(array_type)(context, builder, value).data


def _const(builder, value):
    return ir.Constant(cgutils.intp_t, value)


def _min(builder, a, b):
    return builder.select(builder.icmp_signed("<", a, b), a, b)


def _codegen_per_variant(variants, emit):
    """An intrinsic's codegen whose first arguments pick a variant at run time: ``emit(context, builder,
    v, args[len(v):])`` compiled for each v of ``variants`` (tile sizes: ints, or tuples of them), run where
    the first arguments equal v."""

    def codegen(context, builder, signature, args):
        for variant in variants:
            keys = variant if isinstance(variant, tuple) else (variant,)
            match = cgutils.true_bit
            for arg, key in zip(args, keys):
                match = builder.and_(match, builder.icmp_signed("==", arg, _const(builder, key)))
            with builder.if_then(match):
                emit(context, builder, variant, args[len(keys) :])
        return context.get_dummy_value()

    return codegen


# The taps a tile sums over: a count n (taps 0..n-1), or runs of taps, a tuple (first, count, runs,
# run_stride) of taps first + b*run_stride + i for b < runs and i < count: with taps (c, r, s) in C
# order, (lo*S, (hi-lo)*S, C, R*S) skips the filter rows outside lo..hi-1 of every channel. Each form
# compiles to its own tile, so that the plain count keeps its single loop's code.
TAP_RUNS = types.UniTuple(types.intp, 4)


def _for_each_tap(builder, taps, body):
    """Emit ``body(t)`` for each tap index t of ``taps``: an LLVM intp (taps 0..taps-1, one plain loop)
    or an LLVM tuple of TAP_RUNS (a loop over the runs around a loop over each run's taps)."""
    if isinstance(taps.type, ir.IntType):
        with cgutils.for_range(builder, taps) as loop:
            body(loop.index)
        return
    first, count, runs, run_stride = (builder.extract_value(taps, i) for i in range(4))
    with cgutils.for_range(builder, runs) as run:
        start = builder.add(first, builder.mul(run.index, run_stride))
        with cgutils.for_range(builder, count) as loop:
            body(builder.add(start, loop.index))


def _taps_type(taps):
    """The numba type of a tile's ``taps`` argument: a count (intp) or TAP_RUNS."""
    return TAP_RUNS if isinstance(taps, types.BaseTuple) else types.intp


def _emit_outer_product_tile(context, builder, rows, x, w, offsets, out, x_vectors, out_vectors, args):
    """The code of :func:`outer_product_tile` for one ``rows``."""
    vectors = FORWARD_VECTORS[rows]
    (x_val, x0, off_val, taps, w_val, w0, out_val, o0, o_stride, valid, xv_val, ov_val) = args
    vec = _Vectors(context, builder, x.dtype)
    x_ptr = _data(context, builder, x, x_val)
    w_ptr = _data(context, builder, w, w_val)
    off_ptr = _data(context, builder, offsets, off_val)
    out_ptr = _data(context, builder, out, out_val)
    xv_ptr = _data(context, builder, x_vectors, xv_val)
    ov_ptr = _data(context, builder, out_vectors, ov_val)
    x_shift = [builder.load(builder.gep(xv_ptr, [_const(builder, v)])) for v in range(vectors)]
    o_shift = [builder.load(builder.gep(ov_ptr, [_const(builder, v)])) for v in range(vectors)]
    acc = vec.zero_registers(rows * vectors)

    def outer_product(t):
        start = builder.add(x0, builder.load(builder.gep(off_ptr, [t])))
        inputs = [vec.load(x_ptr, builder.add(start, x_shift[v])) for v in range(vectors)]
        w_row = builder.add(w0, builder.mul(t, _const(builder, rows)))
        for i in range(rows):
            weight = vec.broadcast(w_ptr, builder.add(w_row, _const(builder, i)))
            for v in range(vectors):
                slot = acc[i * vectors + v]
                builder.store(vec.fma(inputs[v], weight, builder.load(slot)), slot)

    _for_each_tap(builder, taps, outer_product)
    for i in range(rows):
        row_ok = builder.icmp_signed("<", _const(builder, i), valid)
        with builder.if_then(row_ok):
            row = builder.add(o0, builder.mul(_const(builder, i), o_stride))
            for v in range(vectors):
                vec.store(builder.load(acc[i * vectors + v]), out_ptr, builder.add(row, o_shift[v]))


@intrinsic
def _outer_product_tile(
    typingctx,
    rows,
    x,
    x_start,
    offsets,
    taps,
    w,
    w_start,
    out,
    out_start,
    out_row_stride,
    rows_valid,
    x_vectors,
    out_vectors,
):
    sig = types.void(
        types.intp,
        x,
        types.intp,
        offsets,
        _taps_type(taps),
        w,
        types.intp,
        out,
        types.intp,
        types.intp,
        types.intp,
        x_vectors,
        out_vectors,
    )

    def emit(context, builder, tile_rows, args):
        _emit_outer_product_tile(context, builder, tile_rows, x, w, offsets, out, x_vectors, out_vectors, args)

    return sig, _codegen_per_variant(FORWARD_TILE_ROWS, emit)


@njit(**NJIT_OPTIONS)
def outer_product_tile(
    rows, x, x_start, offsets, taps, w, w_start, out, out_start, out_row_stride, rows_valid, x_vectors, out_vectors
):
    """A block of ``rows`` output rows x FORWARD_VECTORS[rows] vectors, summed over outer products.

    out[out_start + i*out_row_stride + out_vectors[v] + l]
        = sum_t w[w_start + t*rows + i] * x[x_start + offsets[t] + x_vectors[v] + l]

    over the taps t of ``taps`` (see TAP_RUNS), for i < rows_valid output rows
    (of ``rows``, one of FORWARD_TILE_ROWS), v < FORWARD_VECTORS[rows]
    vectors and lanes l: each step multiplies a
    column of ``rows`` broadcast weights (packed tap-major, ``rows`` per tap)
    by a few vectors of shifted input, as a GEMM micro-kernel does. The
    forward tiles of the direct and Winograd passes.
    """
    _outer_product_tile(
        rows,
        x,
        x_start,
        offsets,
        taps,
        w,
        w_start,
        out,
        out_start,
        out_row_stride,
        rows_valid,
        x_vectors,
        out_vectors,
    )


def _emit_broadcast_tile(context, builder, vectors, channel_major, x, positions, offsets, w, out, args):
    """The code of :func:`broadcast_tile` (``channel_major``) or :func:`broadcast_sums` for one ``vectors``."""
    pixels = BROADCAST_PIXELS[vectors]
    (x_val, x0, pos_val, off_val, taps, w_val, w0, w_stride, out_val, o0, o_step, last) = args
    vec = _Vectors(context, builder, x.dtype)
    x_ptr = _data(context, builder, x, x_val)
    pos_ptr = _data(context, builder, positions, pos_val)
    off_ptr = _data(context, builder, offsets, off_val)
    w_ptr = _data(context, builder, w, w_val)
    out_ptr = _data(context, builder, out, out_val)
    starts = [builder.add(x0, builder.load(builder.gep(pos_ptr, [_const(builder, v)]))) for v in range(pixels)]
    acc = vec.registers(pixels * vectors)
    out_at = [
        [
            builder.add(builder.add(o0, builder.mul(_const(builder, v), o_step)), _const(builder, u * vec.count))
            for u in range(vectors)
        ]
        for v in range(pixels)
    ]
    if channel_major:
        for slot in acc:
            builder.store(vec.zero, slot)
    else:  # ``last``: accumulate
        with builder.if_else(builder.icmp_signed("!=", last, _const(builder, 0))) as (add_to_out, overwrite):
            with add_to_out:
                for v in range(pixels):
                    for u in range(vectors):
                        builder.store(vec.load(out_ptr, out_at[v][u]), acc[v * vectors + u])
            with overwrite:
                for slot in acc:
                    builder.store(vec.zero, slot)

    def outer_product(t):
        shift = builder.load(builder.gep(off_ptr, [t]))
        w_row = builder.add(w0, builder.mul(t, w_stride))
        weights = [vec.load(w_ptr, builder.add(w_row, _const(builder, u * vec.count))) for u in range(vectors)]
        for v in range(pixels):
            pixel = vec.broadcast(x_ptr, builder.add(starts[v], shift))
            for u in range(vectors):
                slot = acc[v * vectors + u]
                builder.store(vec.fma(pixel, weights[u], builder.load(slot)), slot)

    _for_each_tap(builder, taps, outer_product)
    if not channel_major:
        for v in range(pixels):
            for u in range(vectors):
                vec.store(builder.load(acc[v * vectors + u]), out_ptr, out_at[v][u])
        return
    # Each channel's pixels side by side (LLVM turns the lane moves into shuffles), stored as one run;
    # ``last`` is the number of valid channels.
    sums = [[_moved(builder, builder.load(acc[v * vectors + u])) for u in range(vectors)] for v in range(pixels)]
    run_type = ir.VectorType(vec.element, pixels)
    for u in range(vectors):
        for lane in range(vec.count):
            channel = u * vec.count + lane
            run = ir.Constant(run_type, ir.Undefined)
            for v in range(pixels):
                run = builder.insert_element(run, builder.extract_element(sums[v][u], _const32(lane)), _const32(v))
            with builder.if_then(builder.icmp_signed("<", _const(builder, channel), last)):
                index = builder.add(o0, builder.mul(_const(builder, channel), o_step))
                address = builder.bitcast(builder.gep(out_ptr, [index]), run_type.as_pointer())
                builder.store(run, address, align=vec.align)


def _moved(builder, value):
    """With AVX-512, a copy of the vector ``value`` in another register (an inline vmovaps that LLVM cannot
    see through), else ``value``. Some of the shuffles that gather a channel's pixels have only VEX forms,
    which address 16 of AVX-512's 32 registers; used on the accumulators themselves, they confined those to
    the 16 and the 3x6 float32 and 4x5 float64 tiles spilled accumulators to the stack inside the tap loop
    (seen in the assembly; 20-40% slower per multiply-add than the 2x8 tile, level once moved)."""
    if VECTOR_BYTES != 64:
        return value
    move = ir.InlineAsm(ir.FunctionType(value.type, [value.type]), "vmovaps $1, $0", "=v,v")
    return builder.call(move, [value])


def _const32(value):
    return ir.Constant(ir.IntType(32), value)


def _broadcast_intrinsic(channel_major):
    """The intrinsic of :func:`broadcast_tile` (``channel_major``) or of :func:`broadcast_sums`."""

    @intrinsic
    def tile(
        typingctx, vectors, x, x_start, positions, offsets, taps, w, w_start, w_stride, out, out_start, step, last
    ):
        sig = types.void(
            types.intp, x, types.intp, positions, offsets, _taps_type(taps), w, types.intp, types.intp, out,
            types.intp, types.intp, types.intp,
        )  # fmt: skip

        def emit(context, builder, count, args):
            _emit_broadcast_tile(context, builder, count, channel_major, x, positions, offsets, w, out, args)

        return sig, _codegen_per_variant(BROADCAST_VECTORS, emit)

    return tile


_broadcast_tile, _broadcast_sums = _broadcast_intrinsic(True), _broadcast_intrinsic(False)


@njit(**NJIT_OPTIONS)
def broadcast_tile(
    vectors, x, x_start, positions, offsets, taps, w, w_start, w_stride, out, out_start, channel_stride, channels
):
    """BROADCAST_PIXELS[vectors] pixels x ``vectors`` vectors of channels, summed over outer products.

    sum[v, c] = sum_t x[x_start + positions[v] + offsets[t]] * w[w_start + t*w_stride + c]

    over the taps t of ``taps`` (see TAP_RUNS), for pixels v <
    BROADCAST_PIXELS[vectors] and channels c < vectors*lanes:
    each step broadcasts one input element per pixel and multiplies it by a
    row of channel vectors. The transpose of :func:`outer_product_tile`: the
    inputs are read one by one, at any positions (any stride, dilation or
    plane size), and the vectors run along the output channels. Channel c of
    the first ``channels`` goes to out[out_start + c*channel_stride + v]: one
    run of pixels per channel, as in an NCHW result.
    """
    _broadcast_tile(
        vectors, x, x_start, positions, offsets, taps, w, w_start, w_stride, out, out_start, channel_stride, channels
    )


@njit(**NJIT_OPTIONS)
def broadcast_sums(
    vectors, x, x_start, positions, offsets, taps, w, w_start, w_stride, out, out_start, out_stride, accumulate
):
    """:func:`broadcast_tile`'s sums pixel-major: sum[v, u*lanes + l] to out[out_start + v*out_stride + u*lanes + l],
    added to what is there when ``accumulate`` is nonzero (the weight gradient's tile, and the forward
    tiles by window of :mod:`.channel_tiled`)."""
    _broadcast_sums(
        vectors, x, x_start, positions, offsets, taps, w, w_start, w_stride, out, out_start, out_stride, accumulate
    )


def _emit_depthwise_tile(context, builder, shape, height, x, w, out, args):
    """The code of :func:`depthwise_tile` for tile shape DEPTHWISE_TILES[shape] and filters of ``height`` rows."""
    (x_val, x0, plane, width, channels, S, dilation_w, w_val, w0, out_val, o0, o_stride) = args
    vec = _Vectors(context, builder, x.dtype)
    x_ptr = _data(context, builder, x, x_val)
    w_ptr = _data(context, builder, w, w_val)
    out_ptr = _data(context, builder, out, out_val)
    rows, vectors = DEPTHWISE_TILES[shape]
    acc = vec.zero_registers(rows * vectors)
    with cgutils.for_range(builder, channels) as channel:
        x_channel = builder.add(x0, builder.mul(channel.index, plane))
        w_channel = builder.add(w0, builder.mul(channel.index, builder.mul(_const(builder, height), S)))
        with cgutils.for_range(builder, S) as column:
            s = column.index
            x_column = builder.add(x_channel, builder.mul(s, dilation_w))
            taps = [
                vec.broadcast(w_ptr, builder.add(w_channel, builder.add(builder.mul(_const(builder, r), S), s)))
                for r in range(height)
            ]
            # Input row hh of the block feeds output row i = hh - r through filter row r: each vector
            # is loaded once for up to ``height`` multiply-adds.
            for hh in range(rows + height - 1):
                x_row = builder.add(x_column, builder.mul(_const(builder, hh), width))
                for v in range(vectors):
                    pixels = vec.load(x_ptr, builder.add(x_row, _const(builder, v * vec.count)))
                    for r in range(height):
                        i = hh - r
                        if 0 <= i < rows:
                            slot = acc[i * vectors + v]
                            builder.store(vec.fma(pixels, taps[r], builder.load(slot)), slot)
    for i in range(rows):
        row = builder.add(o0, builder.mul(_const(builder, i), o_stride))
        for v in range(vectors):
            vec.store(builder.load(acc[i * vectors + v]), out_ptr, builder.add(row, _const(builder, v * vec.count)))


@intrinsic
def depthwise_tile(
    typingctx, shape, R, x, x_start, plane, width, channels, S, dilation_w, w, w_start, out, out_start, out_row_stride
):
    """A block of rows x vectors of one output channel's rows, (rows, vectors) = DEPTHWISE_TILES[shape],
    stride 1, filter rows undilated.

    out[out_start + i*out_row_stride + v*lanes + l]
        = sum_c,r,s w[w_start + (c*R + r)*S + s] * x[x_start + c*plane + (i + r)*width + s*dilation_w + v*lanes + l]

    for i < rows, v < vectors, over ``channels`` input
    channels of (., width) planes ``plane`` elements apart, R (at most
    DEPTHWISE_MAX_HEIGHT) filter rows and S columns: the tiles of layers with
    one output channel per group. Each input vector loaded serves every
    output row of the block it reaches (R of them), where a row tile
    (:func:`outer_product_tile`) loads it once per filter row.
    """
    sig = types.void(
        types.intp,
        types.intp,
        x,
        types.intp,
        types.intp,
        types.intp,
        types.intp,
        types.intp,
        types.intp,
        w,
        types.intp,
        out,
        types.intp,
        types.intp,
    )

    def emit(context, builder, variant, args):
        _emit_depthwise_tile(context, builder, *variant, x, w, out, args)

    variants = [
        (shape, height) for shape in range(len(DEPTHWISE_TILES)) for height in range(1, DEPTHWISE_MAX_HEIGHT + 1)
    ]
    return sig, _codegen_per_variant(variants, emit)


def forward_rows(channels):
    """Output channels per forward tile for a layer with ``channels`` per group: the least waste."""
    if channels >= 6 and FORWARD_VECTORS[8]:
        return 8
    return 3 if channels == 3 else 4 if channels >= 4 else channels


@intrinsic
def dot_product_tile(
    typingctx,
    g,
    g_start,
    g_row_stride,
    x,
    x_start,
    image_stride,
    n_images,
    offsets,
    t_start,
    n_vectors,
    out,
    out_start,
    out_row_stride,
    rows_valid,
    taps_valid,
):
    """out[o + i*out_row_stride + t] += sum_m,j g[gm + i*g_row_stride + j] * x[xm + offsets[t_start + t] + j].

    With o = out_start, for i < rows_valid (of WEIGHT_ROWS) output-gradient
    rows and t < taps_valid (of WEIGHT_TAPS) shifted input rows, over images
    m < n_images (gm = g_start + m*image_stride[0], xm = x_start +
    m*image_stride[1]) and j < n_vectors*lanes: a block of dot products,
    kept lane-wise in registers and summed across lanes (in a fixed order) at
    the end. Taps past the valid ones are computed and dropped; rows past
    the valid ones (at least one) re-read the last valid row, so ``g`` needs
    only rows_valid rows.
    """
    sig = types.void(
        g,
        types.intp,
        types.intp,
        x,
        types.intp,
        types.UniTuple(types.intp, 2),
        types.intp,
        offsets,
        types.intp,
        types.intp,
        out,
        types.intp,
        types.intp,
        types.intp,
        types.intp,
    )

    def codegen(context, builder, signature, args):
        (
            g_val,
            g0,
            g_stride,
            x_val,
            x0,
            strides,
            images,
            off_val,
            t0,
            count,
            out_val,
            o0,
            o_stride,
            rows_ok,
            taps_ok,
        ) = args
        vec = _Vectors(context, builder, x.dtype)
        g_ptr = _data(context, builder, g, g_val)
        x_ptr = _data(context, builder, x, x_val)
        off_ptr = _data(context, builder, offsets, off_val)
        out_ptr = _data(context, builder, out, out_val)
        g_image, x_image = (builder.extract_value(strides, i) for i in range(2))
        slots = vec.zero_registers(WEIGHT_ROWS * WEIGHT_TAPS)
        last_row = builder.sub(rows_ok, _const(builder, 1))
        shifts = [builder.load(builder.gep(off_ptr, [builder.add(t0, _const(builder, t))])) for t in range(WEIGHT_TAPS)]
        with cgutils.for_range(builder, images) as image:
            gm = builder.add(g0, builder.mul(image.index, g_image))
            xm = builder.add(x0, builder.mul(image.index, x_image))
            # rows past the valid ones read the last valid row again, never past it
            g_rows = [
                builder.add(gm, builder.mul(_min(builder, _const(builder, i), last_row), g_stride))
                for i in range(WEIGHT_ROWS)
            ]
            x_rows = [builder.add(xm, shift) for shift in shifts]
            with cgutils.for_range(builder, count) as loop:
                j = builder.mul(loop.index, _const(builder, vec.count))
                grads = [vec.load(g_ptr, builder.add(row, j)) for row in g_rows]
                for t in range(WEIGHT_TAPS):
                    shifted = vec.load(x_ptr, builder.add(x_rows[t], j))
                    for i in range(WEIGHT_ROWS):
                        slot = slots[i * WEIGHT_TAPS + t]
                        builder.store(vec.fma(grads[i], shifted, builder.load(slot)), slot)
        for i in range(WEIGHT_ROWS):
            for t in range(WEIGHT_TAPS):
                valid = builder.and_(
                    builder.icmp_signed("<", _const(builder, i), rows_ok),
                    builder.icmp_signed("<", _const(builder, t), taps_ok),
                )
                with builder.if_then(valid):
                    address = builder.gep(
                        out_ptr,
                        [builder.add(o0, builder.add(builder.mul(_const(builder, i), o_stride), _const(builder, t)))],
                    )
                    total = vec.sum(builder.load(slots[i * WEIGHT_TAPS + t]))
                    builder.store(builder.fadd(builder.load(address), total), address)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def copy_run(typingctx, dst, dst_start, src, src_start, count):
    """dst[dst_start:dst_start + count] = src[src_start:src_start + count], as one memcpy."""
    sig = types.void(dst, types.intp, src, types.intp, types.intp)

    def codegen(context, builder, signature, args):
        (dst_val, d0, src_val, s0, n) = args
        dst_ptr = builder.gep(_data(context, builder, dst, dst_val), [d0])
        src_ptr = builder.gep(_data(context, builder, src, src_val), [s0])
        cgutils.raw_memcpy(builder, dst_ptr, src_ptr, n, context.get_abi_sizeof(context.get_data_type(dst.dtype)))
        return context.get_dummy_value()

    return sig, codegen


def _strided_run(add):
    """An intrinsic moving (``add``: adding) ``count`` elements between two strided runs of flat arrays."""

    @intrinsic
    def strided_run(typingctx, dst, dst_start, dst_step, src, src_start, src_step, count):
        sig = types.void(dst, types.intp, types.intp, src, types.intp, types.intp, types.intp)

        def codegen(context, builder, signature, args):
            (dst_val, d0, d_step, src_val, s0, s_step, n) = args
            dst_ptr = _data(context, builder, dst, dst_val)
            src_ptr = _data(context, builder, src, src_val)
            with cgutils.for_range(builder, n) as loop:
                i = loop.index
                value = builder.load(builder.gep(src_ptr, [builder.add(s0, builder.mul(i, s_step))]))
                target = builder.gep(dst_ptr, [builder.add(d0, builder.mul(i, d_step))])
                if add:
                    value = builder.fadd(builder.load(target), value)
                builder.store(value, target)
            return context.get_dummy_value()

        return sig, codegen

    return strided_run


# dst[dst_start + i*dst_step] = (copy_strided) or += (add_strided) src[src_start + i*src_step] for
# i < count, on flat arrays: the strided moves of im2col, col2im and the stride phases, without the
# index arithmetic and view building per element or row that numba's indexing costs (measured:
# splitting 32x192x32x32 into stride-2 phases through views of each row 5.9 ms, through these 1.8 ms).
# Arguments: (dst, dst_start, dst_step, src, src_start, src_step, count).
copy_strided = _strided_run(add=False)
add_strided = _strided_run(add=True)


def _pair_vectors(context, array):
    """(alignment, lanes, a vector of two registers' elements, a vector of one) for ``array``'s dtype."""
    element = context.get_data_type(array.dtype)
    align = array.dtype.bitwidth // 8
    block = VECTOR_BYTES // align
    return align, block, ir.VectorType(element, 2 * block), ir.VectorType(element, block)


@intrinsic
def pairs_apart(typingctx, src, src_start, pairs, dst, even_start, odd_start):
    """dst[even_start + k] = src[src_start + 2k] and dst[odd_start + k] = src[src_start + 2k + 1] for k < pairs.

    A row's even and odd columns into two rows, by vector shuffles: the
    column phases of a stride-2 layer (as a strided scalar copy per phase it
    took three times a plain copy's time).
    """
    sig = types.void(src, types.intp, types.intp, dst, types.intp, types.intp)

    def codegen(context, builder, signature, args):
        (src_val, s0, count, dst_val, even0, odd0) = args
        align, block, wide, narrow = _pair_vectors(context, src)
        src_ptr, dst_ptr = _data(context, builder, src, src_val), _data(context, builder, dst, dst_val)
        undefined = ir.Constant(wide, ir.Undefined)
        steps = builder.sdiv(count, _const(builder, block))
        with cgutils.for_range(builder, steps) as loop:
            k = builder.mul(loop.index, _const(builder, block))
            address = builder.gep(src_ptr, [builder.add(s0, builder.add(k, k))])
            line = builder.load(builder.bitcast(address, wide.as_pointer()), align=align)
            for parity, start in ((0, even0), (1, odd0)):
                mask = ir.Constant(ir.VectorType(ir.IntType(32), block), [2 * i + parity for i in range(block)])
                target = builder.gep(dst_ptr, [builder.add(start, k)])
                builder.store(
                    builder.shuffle_vector(line, undefined, mask),
                    builder.bitcast(target, narrow.as_pointer()),
                    align=align,
                )
        done = builder.mul(steps, _const(builder, block))
        with cgutils.for_range(builder, builder.sub(count, done)) as loop:
            k = builder.add(done, loop.index)
            for parity, start in ((0, even0), (1, odd0)):
                value = builder.load(
                    builder.gep(src_ptr, [builder.add(s0, builder.add(builder.add(k, k), _const(builder, parity)))])
                )
                builder.store(value, builder.gep(dst_ptr, [builder.add(start, k)]))
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def pairs_together(typingctx, src, even_start, odd_start, pairs, dst, dst_start):
    """dst[dst_start + 2k] = src[even_start + k] and dst[dst_start + 2k + 1] = src[odd_start + k] for k < pairs.

    The inverse of :func:`pairs_apart`: two rows interleaved into one.
    """
    sig = types.void(src, types.intp, types.intp, types.intp, dst, types.intp)

    def codegen(context, builder, signature, args):
        (src_val, even0, odd0, count, dst_val, d0) = args
        align, block, wide, narrow = _pair_vectors(context, src)
        src_ptr, dst_ptr = _data(context, builder, src, src_val), _data(context, builder, dst, dst_val)
        mask = ir.Constant(
            ir.VectorType(ir.IntType(32), 2 * block), [i // 2 + (i % 2) * block for i in range(2 * block)]
        )
        steps = builder.sdiv(count, _const(builder, block))
        with cgutils.for_range(builder, steps) as loop:
            k = builder.mul(loop.index, _const(builder, block))
            even, odd = (
                builder.load(
                    builder.bitcast(builder.gep(src_ptr, [builder.add(start, k)]), narrow.as_pointer()), align=align
                )
                for start in (even0, odd0)
            )
            target = builder.gep(dst_ptr, [builder.add(d0, builder.add(k, k))])
            builder.store(
                builder.shuffle_vector(even, odd, mask), builder.bitcast(target, wide.as_pointer()), align=align
            )
        done = builder.mul(steps, _const(builder, block))
        with cgutils.for_range(builder, builder.sub(count, done)) as loop:
            k = builder.add(done, loop.index)
            for parity, start in ((0, even0), (1, odd0)):
                value = builder.load(builder.gep(src_ptr, [builder.add(start, k)]))
                builder.store(
                    value,
                    builder.gep(dst_ptr, [builder.add(d0, builder.add(builder.add(k, k), _const(builder, parity)))]),
                )
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def transpose_block(typingctx, dst, dst_start, dst_stride, src, src_start, src_stride, count):
    """dst[dst_start + i*dst_stride + j] = src[src_start + j*src_stride + i] for i < count, j < lanes.

    A square block of one vector per row, transposed in registers: log2(lanes)
    rounds of two-vector shuffles, each swapping the off-diagonal blocks of
    every 2b x 2b block (b = lanes/2, ..., 1); the first ``count`` (<= lanes)
    rows of the transpose are stored. It reads whole vectors: src[src_start +
    j*src_stride + lanes - 1] must lie in src for every j < lanes. Element by
    element, a transpose's strided stores or loads crowd a few cache sets
    when the stride is a power of two: the weight gradient's pixel-major
    output gradient (:func:`.channel_tiled.pixel_major`, 16x64x20x20
    float32) took 0.48 ms so, 0.044 ms by these blocks.
    """
    sig = types.void(dst, types.intp, types.intp, src, types.intp, types.intp, types.intp)

    def codegen(context, builder, signature, args):
        (dst_val, d0, d_stride, src_val, s0, s_stride, stored) = args
        vec = _Vectors(context, builder, src.dtype)
        lanes = vec.count
        src_ptr = _data(context, builder, src, src_val)
        dst_ptr = _data(context, builder, dst, dst_val)
        rows = [vec.load(src_ptr, builder.add(s0, builder.mul(_const(builder, j), s_stride))) for j in range(lanes)]
        b = lanes // 2
        while b:
            low = [lanes + j - b if j & b else j for j in range(lanes)]
            high = [lanes + j if j & b else j + b for j in range(lanes)]
            masks = [ir.Constant(ir.VectorType(ir.IntType(32), lanes), m) for m in (low, high)]
            for i in range(lanes):
                if not i & b:
                    top, bottom = rows[i], rows[i | b]
                    rows[i] = builder.shuffle_vector(top, bottom, masks[0])
                    rows[i | b] = builder.shuffle_vector(top, bottom, masks[1])
            b //= 2
        for i in range(lanes):
            with builder.if_then(builder.icmp_signed("<", _const(builder, i), stored)):
                vec.store(rows[i], dst_ptr, builder.add(d0, builder.mul(_const(builder, i), d_stride)))
        return context.get_dummy_value()

    return sig, codegen


STEP = 4  # columns per group in columns_apart and columns_together (Winograd's 4x4 output tiles)


def _columns_apart(parts):
    """The deinterleaving copy for ``parts`` columns per group of STEP (see :data:`columns_apart_6`)."""
    block = STEP  # groups per vector step: 4 groups -> <4 x T> per column

    @intrinsic
    def columns_apart(typingctx, src, src_start, groups, dst, dst_start, dst_stride):
        sig = types.void(src, types.intp, types.intp, dst, types.intp, types.intp)

        def codegen(context, builder, signature, args):
            (src_val, s0, count, dst_val, d0, d_stride) = args
            element = context.get_data_type(src.dtype)
            align = src.dtype.bitwidth // 8
            span = STEP * (block - 1) + parts  # source elements under one vector step
            wide, narrow = ir.VectorType(element, span), ir.VectorType(element, block)
            src_ptr = _data(context, builder, src, src_val)
            dst_ptr = _data(context, builder, dst, dst_val)
            undefined = ir.Constant(wide, ir.Undefined)
            steps = builder.sdiv(count, _const(builder, block))
            with cgutils.for_range(builder, steps) as loop:
                k = builder.mul(loop.index, _const(builder, block))
                address = builder.gep(src_ptr, [builder.add(s0, builder.mul(k, _const(builder, STEP)))])
                line = builder.load(builder.bitcast(address, wide.as_pointer()), align=align)
                for j in range(parts):
                    mask = ir.Constant(ir.VectorType(ir.IntType(32), block), [j + STEP * i for i in range(block)])
                    column = builder.shuffle_vector(line, undefined, mask)
                    target = builder.gep(
                        dst_ptr, [builder.add(builder.add(d0, builder.mul(_const(builder, j), d_stride)), k)]
                    )
                    builder.store(column, builder.bitcast(target, narrow.as_pointer()), align=align)
            done = builder.mul(steps, _const(builder, block))
            with cgutils.for_range(builder, builder.sub(count, done)) as loop:
                k = builder.add(done, loop.index)
                for j in range(parts):
                    value = builder.load(
                        builder.gep(
                            src_ptr,
                            [builder.add(s0, builder.add(builder.mul(k, _const(builder, STEP)), _const(builder, j)))],
                        )
                    )
                    builder.store(
                        value,
                        builder.gep(
                            dst_ptr, [builder.add(builder.add(d0, builder.mul(_const(builder, j), d_stride)), k)]
                        ),
                    )
            return context.get_dummy_value()

        return sig, codegen

    return columns_apart


@intrinsic
def columns_together(typingctx, src, src_start, src_stride, groups, dst, dst_start):
    """dst[dst_start + STEP*k + j] = src[src_start + j*src_stride + k] for k < groups, j < STEP.

    The inverse of columns_apart for STEP columns: STEP rows of src
    interleaved into one row of dst, by vector shuffles.
    """
    sig = types.void(src, types.intp, types.intp, types.intp, dst, types.intp)
    block = STEP

    def codegen(context, builder, signature, args):
        (src_val, s0, s_stride, count, dst_val, d0) = args
        element = context.get_data_type(src.dtype)
        align = src.dtype.bitwidth // 8
        narrow, wide = ir.VectorType(element, block), ir.VectorType(element, STEP * block)
        src_ptr = _data(context, builder, src, src_val)
        dst_ptr = _data(context, builder, dst, dst_val)
        steps = builder.sdiv(count, _const(builder, block))
        with cgutils.for_range(builder, steps) as loop:
            k = builder.mul(loop.index, _const(builder, block))
            columns = []
            for j in range(STEP):
                address = builder.gep(
                    src_ptr, [builder.add(builder.add(s0, builder.mul(_const(builder, j), s_stride)), k)]
                )
                columns.append(builder.load(builder.bitcast(address, narrow.as_pointer()), align=align))
            # the 4 (= STEP) columns side by side (two pairs), then interleaved into one row
            low = builder.shuffle_vector(
                columns[0], columns[1], ir.Constant(ir.VectorType(ir.IntType(32), 2 * block), list(range(2 * block)))
            )
            high = builder.shuffle_vector(
                columns[2], columns[3], ir.Constant(ir.VectorType(ir.IntType(32), 2 * block), list(range(2 * block)))
            )
            mask = [j * block + i for i in range(block) for j in range(STEP)]
            line = builder.shuffle_vector(low, high, ir.Constant(ir.VectorType(ir.IntType(32), STEP * block), mask))
            target = builder.gep(dst_ptr, [builder.add(d0, builder.mul(k, _const(builder, STEP)))])
            builder.store(line, builder.bitcast(target, wide.as_pointer()), align=align)
        done = builder.mul(steps, _const(builder, block))
        with cgutils.for_range(builder, builder.sub(count, done)) as loop:
            k = builder.add(done, loop.index)
            for j in range(STEP):
                value = builder.load(
                    builder.gep(src_ptr, [builder.add(builder.add(s0, builder.mul(_const(builder, j), s_stride)), k)])
                )
                builder.store(
                    value,
                    builder.gep(
                        dst_ptr,
                        [builder.add(d0, builder.add(builder.mul(k, _const(builder, STEP)), _const(builder, j)))],
                    ),
                )
        return context.get_dummy_value()

    return sig, codegen


# dst[dst_start + j*dst_stride + k] = src[src_start + STEP*k + j] for k < groups
# and j < 6 (columns_apart_6) or 4 (columns_apart_4): the columns of a row in
# groups of STEP (overlapping when j >= STEP), each column to its own row of
# dst, by vector shuffles (Winograd's input and output-gradient transforms).
# Arguments: (src, src_start, groups, dst, dst_start, dst_stride).
columns_apart_6 = _columns_apart(6)
columns_apart_4 = _columns_apart(4)


# With NUMBA_DISABLE_JIT=1 (the coverage run) the kernels run as Python and
# call these NumPy versions instead, which state what each tile computes.
if config.DISABLE_JIT:

    def _outer_product_tile(
        rows,
        x,
        x_start,
        offsets,
        taps,
        w,
        w_start,
        out,
        out_start,
        out_row_stride,
        rows_valid,
        x_vectors,
        out_vectors,
    ):
        count = lanes(x.dtype)
        for i in range(rows_valid):
            for v in range(FORWARD_VECTORS[rows]):
                acc = np.zeros(count, dtype=out.dtype)
                for t in _taps_of(taps):
                    start = x_start + offsets[t] + x_vectors[v]
                    acc += w[w_start + t * rows + i] * x[start : start + count]
                row = out_start + i * out_row_stride + out_vectors[v]
                out[row : row + count] = acc

    def dot_product_tile(
        g,
        g_start,
        g_row_stride,
        x,
        x_start,
        image_stride,
        n_images,
        offsets,
        t_start,
        n_vectors,
        out,
        out_start,
        out_row_stride,
        rows_valid,
        taps_valid,
    ):
        run = n_vectors * lanes(x.dtype)
        for i in range(rows_valid):
            for t in range(taps_valid):
                total = 0.0
                for m in range(n_images):
                    gm = g_start + m * image_stride[0] + i * g_row_stride
                    xm = x_start + m * image_stride[1] + offsets[t_start + t]
                    total += np.dot(g[gm : gm + run], x[xm : xm + run])
                out[out_start + i * out_row_stride + t] += total

    def _taps_of(taps):
        if not isinstance(taps, tuple):
            return range(taps)
        first, count, runs, run_stride = taps
        return [first + b * run_stride + i for b in range(runs) for i in range(count)]

    def _broadcast_sum(vectors, x, x_start, positions, offsets, taps, w, w_start, w_stride, v):
        width = vectors * lanes(x.dtype)
        acc = np.zeros(width, dtype=w.dtype)
        for t in _taps_of(taps):
            start = w_start + t * w_stride
            acc += x[x_start + positions[v] + offsets[t]] * w[start : start + width]
        return acc

    def broadcast_tile(
        vectors, x, x_start, positions, offsets, taps, w, w_start, w_stride, out, out_start, channel_stride, channels
    ):
        for v in range(BROADCAST_PIXELS[vectors]):
            acc = _broadcast_sum(vectors, x, x_start, positions, offsets, taps, w, w_start, w_stride, v)
            for c in range(channels):
                out[out_start + c * channel_stride + v] = acc[c]

    def broadcast_sums(
        vectors, x, x_start, positions, offsets, taps, w, w_start, w_stride, out, out_start, out_stride, accumulate
    ):
        width = vectors * lanes(x.dtype)
        for v in range(BROADCAST_PIXELS[vectors]):
            acc = _broadcast_sum(vectors, x, x_start, positions, offsets, taps, w, w_start, w_stride, v)
            row = out_start + v * out_stride
            out[row : row + width] = out[row : row + width] + acc if accumulate else acc

    def depthwise_tile(
        shape, R, x, x_start, plane, width, channels, S, dilation_w, w, w_start, out, out_start, out_row_stride
    ):
        rows, vectors = DEPTHWISE_TILES[shape]
        count = vectors * lanes(x.dtype)
        for i in range(rows):
            acc = np.zeros(count, dtype=out.dtype)
            for c in range(channels):
                for r in range(R):
                    for s in range(S):
                        start = x_start + c * plane + (i + r) * width + s * dilation_w
                        acc += w[w_start + (c * R + r) * S + s] * x[start : start + count]
            row = out_start + i * out_row_stride
            out[row : row + count] = acc

    def vector_lanes(array):
        return VECTOR_BYTES // array.itemsize

    def copy_run(dst, dst_start, src, src_start, count):
        dst[dst_start : dst_start + count] = src[src_start : src_start + count]

    def copy_strided(dst, dst_start, dst_step, src, src_start, src_step, count):
        for i in range(count):
            dst[dst_start + i * dst_step] = src[src_start + i * src_step]

    def add_strided(dst, dst_start, dst_step, src, src_start, src_step, count):
        for i in range(count):
            dst[dst_start + i * dst_step] += src[src_start + i * src_step]

    def transpose_block(dst, dst_start, dst_stride, src, src_start, src_stride, count):
        width = lanes(src.dtype)
        for i in range(count):
            row = dst_start + i * dst_stride
            dst[row : row + width] = src[src_start + i + np.arange(width) * src_stride]

    def pairs_apart(src, src_start, pairs, dst, even_start, odd_start):
        dst[even_start : even_start + pairs] = src[src_start : src_start + 2 * pairs : 2]
        dst[odd_start : odd_start + pairs] = src[src_start + 1 : src_start + 2 * pairs : 2]

    def pairs_together(src, even_start, odd_start, pairs, dst, dst_start):
        dst[dst_start : dst_start + 2 * pairs : 2] = src[even_start : even_start + pairs]
        dst[dst_start + 1 : dst_start + 2 * pairs : 2] = src[odd_start : odd_start + pairs]

    def _columns_apart_python(parts):
        def columns_apart(src, src_start, groups, dst, dst_start, dst_stride):
            for j in range(parts):
                row = dst_start + j * dst_stride
                dst[row : row + groups] = src[src_start + j : src_start + j + STEP * groups : STEP][:groups]

        return columns_apart

    columns_apart_6, columns_apart_4 = _columns_apart_python(6), _columns_apart_python(4)

    def columns_together(src, src_start, src_stride, groups, dst, dst_start):
        for j in range(STEP):
            row = src_start + j * src_stride
            dst[dst_start + j : dst_start + j + STEP * groups : STEP] = src[row : row + groups]
