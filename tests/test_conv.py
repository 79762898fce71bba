"""The three passes (forward, grad input, grad weight) x every method against the reference (tests/reference.py)."""

import threading

import numpy as np
import pytest
import reference
from conftest import DTYPES, METHODS, SHIPPED_PLAIN_LOOPS_BELOW_FLOPS, assert_close
from hypothesis import example, given, settings
from hypothesis import strategies as st

import fastconv
from fastconv.engine.choice import AMD_WIDE_TILES, INTEL_WIDE_TILES, WIDE_TILES
from fastconv.kernels import blas
from fastconv.kernels._simd import DEPTHWISE_MAX_HEIGHT, DEPTHWISE_TILES, lanes

# (N, C, H, W, K, R, S, stride, padding, dilation, groups)
GEOMETRIES = {
    "basic": (2, 3, 7, 6, 4, 3, 3, 1, 0, 1, 1),
    "stride2_pad1": (2, 3, 9, 8, 4, 3, 3, 2, 1, 1, 1),
    "stride_pair_pad_pair": (2, 2, 9, 10, 3, 3, 2, (2, 1), (1, 2), 1, 1),
    "same_odd_kernel": (1, 2, 6, 7, 3, 3, 3, 1, "same", 1, 1),
    "same_even_kernel": (2, 2, 6, 7, 3, 4, 2, 1, "same", 1, 1),
    "same_dilated": (1, 2, 8, 7, 2, 3, 3, 1, "same", (2, 3), 1),
    "valid": (2, 3, 6, 5, 2, 2, 3, 1, "valid", 1, 1),
    "dilated": (2, 2, 10, 9, 3, 3, 2, 1, 1, (2, 3), 1),
    # rows of 26 output pixels (not whole vectors) written straight into the result by the row tiles,
    # each row's last vector overlapping the one before: fewer positions than runs of 38-pixel padded rows
    "dilated_rows_in_place": (2, 3, 13, 26, 4, 3, 3, 1, (3, 6), (3, 6), 1),
    "groups2": (2, 4, 6, 6, 6, 3, 3, 1, 1, 1, 2),
    "depthwise": (2, 3, 5, 5, 6, 3, 3, 1, 1, 1, 3),
    # one channel in and out per group, "same" with an even dilated filter: asymmetric padding
    "depthwise_same_dilated": (2, 4, 9, 8, 4, 4, 2, 1, "same", (2, 3), 4),
    "pointwise": (2, 5, 4, 3, 7, 1, 1, 1, 0, 1, 1),
    "pointwise_grouped": (2, 6, 4, 5, 4, 1, 1, 1, 0, 1, 2),
    "pointwise_stride2_padded": (2, 3, 5, 4, 2, 1, 1, 2, 2, 1, 1),
    # im2col tasks of TASK_PIXELS: runs of two 9x10 output planes, the last run one image
    "im2col_image_runs": (5, 2, 9, 10, 3, 3, 3, 1, 1, 1, 1),
    # im2col's 1x1 weight gradient: a sum of per-image products, and (POINTWISE_FOLD_MIN_BYTES_PER_PIXEL
    # reached on one pixel: 128x64 filters of 4 bytes) the batch folded into one product
    "pointwise_grouped_large_planes": (2, 4, 17, 16, 6, 1, 1, 1, 0, 1, 2),
    "pointwise_one_pixel_wide": (3, 64, 1, 1, 128, 1, 1, 1, 0, 1, 1),
    "kernel_fills_input": (2, 3, 5, 4, 2, 5, 4, 1, 0, 1, 1),
    "kernel_full_height_1d": (2, 1, 5, 20, 3, 5, 3, 1, 0, 1, 1),
    # a stem (RGB, 5x5 at stride 2): float32 forward passes over stride phases with the filter's own taps
    "stem_over_phases": (2, 3, 17, 15, 20, 5, 5, 2, 2, 1, 1),
    # filters spanning the input's rows: the direct input gradient a one-row forward pass over their rows
    "kernel_full_height_strided_dilated": (2, 3, 6, 17, 5, 6, 3, (2, 1), (0, 2), (1, 2), 1),
    "kernel_full_height_padded_past_span": (2, 2, 4, 11, 3, 4, 3, 1, (0, 4), 1, 1),  # pad_left 4 > span 2
    "odd_nonsquare_mixed": (3, 2, 11, 9, 3, 2, 4, (3, 2), (2, 0), (1, 2), 1),
    "stride_exceeds_kernel": (2, 2, 10, 11, 3, 2, 2, 3, 0, 1, 1),
    "padding_exceeds_kernel": (2, 3, 5, 4, 2, 1, 2, 1, (2, 1), 1, 1),
    "same_grouped_dilated": (2, 6, 9, 8, 4, 3, 3, 1, "same", (1, 2), 2),
    "many_channels": (2, 40, 6, 6, 16, 3, 3, 1, 1, 1, 1),
    # the direct tiles: 2, 4 and 8 output channels per tile, with partial blocks (3: every C=3 grad input)
    "two_channels_per_group": (2, 3, 7, 9, 2, 3, 3, 1, 1, 1, 1),
    "five_output_channels": (2, 4, 8, 7, 5, 3, 2, 1, (1, 0), 1, 1),
    "nine_channels_dilated": (2, 9, 12, 11, 9, 3, 3, 1, 2, 2, 1),
    "seven_per_group_tall": (1, 12, 19, 5, 14, 2, 3, 1, 1, 1, 2),
    # output rows of whole vectors (16 float32, 8 float64), written straight into the result
    "rows_of_whole_vectors": (2, 5, 16, 16, 9, 3, 3, 1, 1, 1, 1),
    "wide_rows_of_vectors": (1, 3, 7, 36, 4, 3, 5, 1, (1, 0), 1, 1),
    # strided layers on the channel tiles (a vector of output channels per group and more), partial blocks
    "strided_channel_tiles": (3, 5, 11, 10, 20, 3, 3, 2, 1, 1, 1),
    "strided_dilated_grouped_channels": (2, 6, 13, 12, 36, 3, 2, (2, 3), (1, 2), (2, 1), 2),
    # the weight gradient over runs of GRAD_RUN_PIXELS output pixels: 25x24 outputs, a partial second run
    "strided_channel_tiles_pixel_runs": (2, 6, 50, 48, 16, 3, 3, 2, 1, 1, 1),
    # the weight gradient's dot-product tiles over blocks of rows: 36x36 outputs in 36-wide padded rows
    # (1296 pixels: a block of 1024 float32, or 512 float64, and a partial one), three images
    "weight_gradient_blocks_of_rows": (3, 2, 36, 34, 5, 3, 3, 1, 1, 1, 1),
    # float32 layers whose row tiles would idle on the channel tiles with under two vectors of channels
    # (on an Intel core): a one-row output of 20 channels, and 4x4 planes of 10 (12 in the input gradient)
    "one_row_output_channel_tiles": (3, 1, 12, 9, 20, 12, 2, 1, 0, 1, 1),
    "small_plane_few_channels": (2, 12, 4, 4, 10, 3, 3, 1, 1, 1, 1),
    # depthwise tiles: blocks past the plane's edges (9x11 outputs), or exactly tiling them (8x64 outputs:
    # whole blocks of 8 rows x 2 vectors of either dtype with AVX-512, 4 x 2 or 8 x 1 with AVX2, in place)
    "depthwise_blocks_overrun": (2, 6, 9, 11, 6, 3, 5, 1, (1, 2), 1, 6),
    "depthwise_blocks_whole": (2, 3, 10, 66, 3, 3, 3, 1, 0, 1, 3),
}


def make_case(geometry, dtype, rng):
    N, C, H, W, K, R, S, stride, padding, dilation, groups = geometry
    x = rng.uniform(-1, 1, (N, C, H, W)).astype(dtype)
    weight = rng.uniform(-1, 1, (K, C // groups, R, S)).astype(dtype)
    bias = rng.uniform(-1, 1, K).astype(dtype)
    options = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    P, Q = reference.output_size(x.shape, weight.shape, stride, padding, dilation)
    grad_out = rng.uniform(-1, 1, (N, K, P, Q)).astype(dtype)
    return x, weight, bias, grad_out, options


def assert_direct_passes_match_reference(geometry, dtype, seed):
    """The direct method's three passes (with a bias) on a random case of ``geometry`` against the reference."""
    rng = np.random.default_rng(seed)
    x, weight, bias, grad_out, options = make_case(geometry, dtype, rng)
    assert_close(
        fastconv.conv2d(x, weight, bias, method="direct", **options),
        reference.conv2d(x, weight, bias, **options),
        dtype,
    )
    assert_close(
        fastconv.conv2d_grad_input(grad_out, weight, x.shape, method="direct", **options),
        reference.conv2d_grad_input(grad_out, weight, x.shape, **options),
        dtype,
    )
    assert_close(
        fastconv.conv2d_grad_weight(grad_out, x, weight.shape, method="direct", **options),
        reference.conv2d_grad_weight(grad_out, x, weight.shape, **options),
        dtype,
    )


def winograd_applies(geometry):
    """F(4x4, 3x3): 3x3 filters, stride 1, dilation 1."""
    N, C, H, W, K, R, S, stride, padding, dilation, groups = geometry
    return (R, S, stride, dilation) == (3, 3, 1, 1)


# Every geometry with every method that can compute it.
CASES = [
    (name, method)
    for name in GEOMETRIES
    for method in METHODS + ["winograd"]
    if method != "winograd" or winograd_applies(GEOMETRIES[name])
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "method"), CASES)
class TestAgainstReference:
    def test_forward(self, name, dtype, method, rng):
        x, weight, bias, _, options = make_case(GEOMETRIES[name], dtype, rng)
        out = fastconv.conv2d(x, weight, bias, method=method, **options)
        assert_close(out, reference.conv2d(x, weight, bias, **options), dtype)

    def test_grad_input(self, name, dtype, method, rng):
        x, weight, _, grad_out, options = make_case(GEOMETRIES[name], dtype, rng)
        gx = fastconv.conv2d_grad_input(grad_out, weight, x.shape, method=method, **options)
        assert_close(gx, reference.conv2d_grad_input(grad_out, weight, x.shape, **options), dtype)

    def test_grad_weight(self, name, dtype, method, rng):
        x, weight, _, grad_out, options = make_case(GEOMETRIES[name], dtype, rng)
        gw = fastconv.conv2d_grad_weight(grad_out, x, weight.shape, method=method, **options)
        assert_close(gw, reference.conv2d_grad_weight(grad_out, x, weight.shape, **options), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", GEOMETRIES)
def test_im2col_passes_on_numpys_matmul(name, dtype, rng, monkeypatch):
    """Where numpy's bundled OpenBLAS is not found (fastconv/kernels/blas.py) im2col's products run on np.matmul."""
    monkeypatch.setattr(blas, "BLAS", None)
    x, weight, _, grad_out, options = make_case(GEOMETRIES[name], dtype, rng)
    out, gx, gw = _all_passes(x, weight, grad_out, "im2col", **options)
    assert_close(out, reference.conv2d(x, weight, None, **options), dtype)
    assert_close(gx, reference.conv2d_grad_input(grad_out, weight, x.shape, **options), dtype)
    assert_close(gw, reference.conv2d_grad_weight(grad_out, x, weight.shape, **options), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_grad_bias(dtype, rng):
    grad_out = rng.uniform(-1, 1, (3, 4, 5, 6)).astype(dtype)
    gb = fastconv.conv2d_grad_bias(grad_out)
    assert_close(gb, grad_out.astype(np.float64).sum(axis=(0, 2, 3)), dtype)


@st.composite
def geometries(draw):
    groups = draw(st.integers(1, 3))
    C = groups * draw(st.integers(1, 3))
    K = groups * draw(st.integers(1, 3))
    R, S = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    # Half the draws at stride 1, which has kernels of its own.
    stride = (1, 1) if draw(st.booleans()) else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    min_h = max(1, dilation[0] * (R - 1) + 1 - 2 * padding[0])
    min_w = max(1, dilation[1] * (S - 1) + 1 - 2 * padding[1])
    H = draw(st.integers(min_h, min_h + 6))
    W = draw(st.integers(min_w, min_w + 6))
    N = draw(st.integers(1, 3))
    return (N, C, H, W, K, R, S, stride, padding, dilation, groups)


@pytest.mark.parametrize("method", ["direct", "im2col", "winograd"])
@settings(max_examples=40, deadline=None)
@given(geometry=geometries(), seed=st.integers(0, 2**32 - 1))
def test_random_geometries_all_passes(method, geometry, seed):
    if method == "winograd":  # the same draw with what winograd takes: 3x3 filters, stride 1, dilation 1
        N, C, H, W, K, R, S, stride, padding, dilation, groups = geometry
        geometry = (N, C, H + 2, W + 2, K, 3, 3, 1, padding, 1, groups)
    rng = np.random.default_rng(seed)
    x, weight, bias, grad_out, options = make_case(geometry, np.float64, rng)
    assert_close(
        fastconv.conv2d(x, weight, bias, method=method, **options),
        reference.conv2d(x, weight, bias, **options),
        np.float64,
    )
    assert_close(
        fastconv.conv2d_grad_input(grad_out, weight, x.shape, method=method, **options),
        reference.conv2d_grad_input(grad_out, weight, x.shape, **options),
        np.float64,
    )
    assert_close(
        fastconv.conv2d_grad_weight(grad_out, x, weight.shape, method=method, **options),
        reference.conv2d_grad_weight(grad_out, x, weight.shape, **options),
        np.float64,
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=40, deadline=None)
@given(geometry=geometries(), seed=st.integers(0, 2**32 - 1))
def test_strided_direct_passes_over_phase_planes(dtype, geometry, seed):
    # The draws with strides of 2-4 and no dilation: fastconv/engine/phases.py's family, filters
    # narrower than, equal to (patch embeddings) and wider than the stride, with groups and padding.
    N, C, H, W, K, R, S, stride, padding, dilation, groups = geometry
    stride = (2 + seed % 3, 2 + (seed // 3) % 3)
    geometry = (N, C, H + 4, W + 4, K, R, S, stride, padding, 1, groups)
    assert_direct_passes_match_reference(geometry, dtype, seed)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=30, deadline=None)
@given(
    geometry=geometries(),
    seed=st.integers(0, 2**32 - 1),
    inputs=st.integers(1, 8),
    outputs=st.integers(4, 40),
)
def test_strided_direct_passes_on_channel_tiles(dtype, geometry, seed, inputs, outputs):
    # Layers, strided or not, dilated or not, with 4-40 output channels and 1-8 input channels per
    # group: from a vector of them (8 float32, 4 float64) forward passes (and input gradients, as
    # forward passes) run on fastconv/engine/channel_tiles.py, as do the weight gradients of strided
    # layers (stems excepted) and small planes, with partial blocks of channels and taps, one or
    # several slices of the batch.
    N, C, H, W, K, R, S, stride, padding, dilation, groups = geometry
    stride = (1 + seed % 3, 1 + (seed // 3) % 3)
    geometry = (N, groups * inputs, H + 4, W + 4, groups * outputs, R, S, stride, padding, dilation, groups)
    assert_direct_passes_match_reference(geometry, dtype, seed)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("images", [1, 3, 5, 9])
def test_channel_tiles_weight_gradient_by_shared_chunks_or_by_each_tasks_own_images(images, dtype, monkeypatch):
    # With fewer images than twice the threads, the tasks split the tiles and share padded, transposed
    # chunks of images; with as many, each task owns its slice's images and pads and transposes them itself.
    # Strided, at stride 1 (where on an Intel core such layers come here) and dilated, groups, partial
    # vectors; each slice's sums against the reference over that slice's images.
    from fastconv.engine import channel_tiles

    calls = []
    original, runs = channel_tiles.conv2d_grad_weight_channel_tiled, channel_tiles.runs
    geometry = None

    def spy(grad_out, x, *args):
        original(grad_out, x, *args)
        sums, images_shared, parts = args[2], args[9], args[-1]
        calls.append((images_shared, parts, channel_tiles.thread_count()))
        N, C, H, W, K, R, S, stride, padding, dilation, groups = geometry
        shape, taps = (K, C // groups, R, S), C // groups * R * S
        options = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
        for s, part in enumerate(sums):  # slice s: images n with n % slices == s
            got = part[:, :taps, : K // groups].transpose(0, 2, 1).reshape(shape)
            want = reference.conv2d_grad_weight(grad_out[s :: len(sums)], x[s :: len(sums)], shape, **options)
            assert_close(got, want, dtype)

    monkeypatch.setattr(channel_tiles, "conv2d_grad_weight_channel_tiled", spy)
    monkeypatch.setattr(
        channel_tiles, "runs", lambda geom, name, dtype: name == "grad_weight" or runs(geom, name, dtype)
    )
    channels = 2 * lanes(np.dtype(dtype)) + 3
    geometries = [
        (images, 6, 11, 9, channels, 3, 2, 2, 1, 1, 1),
        (images, 4, 9, 8, 40, 2, 2, 2, 0, 1, 2),
        (images, 5, 10, 12, channels, 3, 3, 1, 1, 1, 1),
        (images, 6, 13, 11, 32, 3, 2, 1, (2, 1), (2, 3), 2),
    ]
    for geometry in geometries:
        assert_direct_passes_match_reference(geometry, dtype, seed=images)
    assert len(calls) == len(geometries)
    for images_shared, parts, threads in calls:
        own = images >= 2 * threads  # these layers' images fit the budget
        assert (images_shared == 0) == own
        assert parts == -(-2 * threads // min(images, 2 * threads))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=15, deadline=None)
@given(geometry=geometries(), seed=st.integers(0, 2**32 - 1), outputs=st.integers(4, 40))
def test_channel_tiles_storing_via_scratch(dtype, geometry, seed, outputs):
    # The channel tiles' forward passes with every task's tiles storing into a scratch copied out
    # row by row (what 64x64 float32 planes with few taps do, see stores_via_scratch), partial runs
    # and blocks of channels included.
    from fastconv.engine import channel_tiles

    N, C, H, W, K, R, S, stride, padding, dilation, groups = geometry
    outputs = max(outputs, lanes(np.dtype(dtype)))  # a vector of channels or more: the channel tiles
    # 5 input channels per group: no stem (whose float32 forward passes run over phases on an Intel core)
    geometry = (N, 5 * groups, H + 4, W + 4, groups * outputs, R, S, (2, 1 + seed % 2), padding, dilation, groups)
    asked = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(channel_tiles, "stores_via_scratch", lambda *args: asked.append(args) or True)
        assert_direct_passes_match_reference(geometry, dtype, seed)
    assert asked  # the forward pass ran on the channel tiles, via the scratch


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("padding", [0, 2])
def test_channel_tiles_run_across_the_images_of_small_planes(padding, dtype, monkeypatch):
    # Stride-1 planes smaller than a task's run: runs of pixels that span images, end inside one, and
    # chunks of two images (the last one image), with filter rows skipped where a tile meets only padding.
    import importlib

    from fastconv.engine import channel_tiles

    workspace = importlib.import_module("fastconv.engine.workspace")  # the module, not its Workspace
    calls = []
    kernel = channel_tiles.conv2d_forward_channel_tiled_over_images
    monkeypatch.setattr(
        channel_tiles, "conv2d_forward_channel_tiled_over_images", lambda *a: calls.append(1) or kernel(*a)
    )
    planes = 2 * 10 * (7 + 2 * padding) * (6 + 2 * padding) * np.dtype(dtype).itemsize  # two images' planes
    monkeypatch.setattr(workspace, "PLANES_BUDGET_BYTES", planes)
    monkeypatch.setattr(channel_tiles, "WINDOW_MAX_WORK", 0.0)  # never by window
    geometry = (5, 10, 7, 6, 2 * 2 * lanes(np.dtype(dtype)) + 3, 5, 3, 1, padding, 1, 1)  # 150 taps
    assert_direct_passes_match_reference(geometry, dtype, padding)
    assert bool(calls) == (not AMD_WIDE_TILES)  # the forward pass (AMD's AVX-512 tiles: the row tiles)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=25, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(1, 9), st.integers(1, 9)),
    filters=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(0, 3), st.integers(1, 2), st.integers(1, 2)),
    extra_channels=st.integers(0, 17),
    seed=st.integers(0, 2**32 - 1),
)
def test_channel_tiles_by_window_match_the_reference(dtype, shape, filters, extra_channels, seed):
    # Small stride-1 planes with padding, forced onto the channel tiles: tiles of pixels that share a window
    # of the filter (corners, edges, the inside; dilated, one-row, padded past the span), whole ones and
    # ones with spare slots, output channels a partial block.
    from hypothesis import assume

    from fastconv.engine import channel_tiles

    (N, C, H, W), (R, S, padding, dilation, groups) = shape, filters
    assume(H + 2 * padding >= dilation * (R - 1) + 1 and W + 2 * padding >= dilation * (S - 1) + 1)
    K = groups * (2 * lanes(np.dtype(dtype)) + extra_channels)
    geometry = (N, C * groups, H, W, K, R, S, 1, padding, dilation, groups)
    kernel, calls = channel_tiles.conv2d_forward_channel_tiled_by_window, []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(channel_tiles, "forward_applies", lambda *args: True)
        patch.setattr(channel_tiles, "WINDOW_MAX_WORK", np.inf)
        patch.setattr(channel_tiles, "conv2d_forward_channel_tiled_by_window", lambda *a: calls.append(1) or kernel(*a))
        assert_direct_passes_match_reference(geometry, dtype, seed)
    assert len(calls) == 2  # planes of at most 15x15 pixels: the forward pass and the input gradient by window


def test_window_pixels_cover_each_output_pixel_once_with_its_window():
    from fastconv.engine import channel_tiles

    N, H, W, P, Q, top, left, R, S, pixels = 3, 5, 4, 5, 4, 1, 1, 3, 3, 8
    image_step, out_step = 2 * H * W, 7 * P * Q
    positions, targets, windows = channel_tiles.window_pixels(
        N, H, W, P, Q, top, left, R, S, 1, 1, pixels, image_step, out_step
    )
    assert len(positions) == len(targets) == len(windows) * pixels
    real = targets >= 0
    expected = sorted(i * out_step + p * Q + q for i in range(N) for p in range(P) for q in range(Q))
    assert sorted(targets[real]) == expected
    for j in np.flatnonzero(real):
        i, pq = divmod(int(targets[j]), out_step)
        p, q = divmod(pq, Q)
        assert positions[j] == i * image_step + (p - top) * W + (q - left)
        r_lo, r_hi, s_lo, s_hi = windows[j // pixels]
        assert (r_lo, r_hi) == (max(0, top - p), min(R, H + top - p))  # the filter rows inside the image
        assert (s_lo, s_hi) == (max(0, left - q), min(S, W + left - q))
    # 3x3 on 4x4 planes, 8-pixel tiles: by window 100 of 144 taps on 8 images; one image, 9 windows, 9 tiles
    assert channel_tiles.window_work_share(8, (4, 4), (4, 4), (3, 3), 1, 1, (1, 1), 8) == 100 / 144
    assert channel_tiles.window_work_share(1, (4, 4), (4, 4), (3, 3), 1, 1, (1, 1), 8) == (4 * 4 + 4 * 6 + 9) / 18


def test_taps_in_image():
    from fastconv.engine.channel_tiles import _taps_in_image

    assert _taps_in_image(0, 3, 5, 1) == (0, 3)  # inside
    assert _taps_in_image(-1, 3, 5, 1) == (1, 3)  # the first tap in the padding above
    assert _taps_in_image(-3, 3, 5, 2) == (2, 3)  # dilated: taps at -3, -1 padding, +1 inside
    assert _taps_in_image(3, 3, 5, 1) == (0, 2)  # the last tap past the image
    assert _taps_in_image(2, 3, 5, 2) == (0, 2)  # dilated: 2 and 4 inside, 6 past it
    assert _taps_in_image(5, 3, 5, 1) == (0, 0)  # past the image: none
    assert _taps_in_image(-7, 3, 5, 2) == (3, 3)  # above it: none


def test_a_3x3_stem_on_64x64_output_planes_stores_via_scratch():
    from fastconv.engine import channel_tiles

    assert channel_tiles.stores_via_scratch(24, 64 * 64, 3 * 3 * 3, 4)  # 24 channels' lines in one set
    assert not channel_tiles.stores_via_scratch(24, 63 * 63, 3 * 3 * 3, 4)  # spread over the sets
    assert not channel_tiles.stores_via_scratch(8, 64 * 64, 3 * 3 * 3, 4)  # as many as a set's ways
    assert not channel_tiles.stores_via_scratch(24, 64 * 64, 3 * 7 * 7, 4)  # taps enough to hide the stores
    assert_direct_passes_match_reference((1, 3, 128, 128, 24, 3, 3, 2, 1, 1, 1), np.float32, 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=30, deadline=None)
@given(geometry=geometries(), seed=st.integers(0, 2**32 - 1))
@example(geometry=(1, 1, 8, 8, 2, 3, 3, (1, 1), (0, 0), (1, 1), 1), seed=0)  # the benchmark's tiny layer
def test_smallest_passes_run_on_plain_loops(dtype, geometry, seed):
    # Passes below PLAIN_LOOPS_BELOW_FLOPS skip the tiles' planes, packing and offsets: the plain loops
    # of fastconv/kernels/direct.py, any stride, dilation and groups; larger ones keep the tiles.
    from fastconv.engine import direct

    calls = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(direct, "PLAIN_LOOPS_BELOW_FLOPS", SHIPPED_PLAIN_LOOPS_BELOW_FLOPS)
        for name in [
            "conv2d_forward_direct_serial",
            "conv2d_grad_input_direct_serial",
            "conv2d_grad_weight_direct_serial",
        ]:
            original = getattr(direct, name)
            patch.setattr(direct, name, lambda *a, name=name, run=original: calls.append(name) or run(*a))
        assert_direct_passes_match_reference(geometry, dtype, seed)
    N, C, H, W, K, R, S, stride, padding, dilation, groups = geometry
    geom = fastconv._geometry.conv_geometry(
        (N, C, H, W), (K, C // groups, R, S), stride=stride, padding=padding, dilation=dilation, groups=groups
    )
    if geom.flops < SHIPPED_PLAIN_LOOPS_BELOW_FLOPS:
        assert calls == [
            "conv2d_forward_direct_serial",
            "conv2d_grad_input_direct_serial",
            "conv2d_grad_weight_direct_serial",
        ]
    else:  # larger dilated strided passes run the same loops, but the parallel ones
        assert calls == []


def test_plain_loops_launch_no_threads(monkeypatch):
    # The smallest passes run the plain loops compiled a second time without threads, outside the
    # launch lock and the thread switch, and numba's cache keeps that compilation apart from the
    # parallel one (same source, its own name).
    from fastconv import engine
    from fastconv.engine import direct
    from fastconv.kernels import direct as kernels

    monkeypatch.setattr(direct, "PLAIN_LOOPS_BELOW_FLOPS", SHIPPED_PLAIN_LOOPS_BELOW_FLOPS)
    launched = []
    monkeypatch.setattr(
        engine,
        "_run",
        lambda work, threshold, function, *args, run=engine._run: (
            launched.append(function) or run(work, threshold, function, *args)
        ),
    )
    assert_direct_passes_match_reference((1, 1, 8, 8, 2, 3, 3, (1, 1), (0, 0), (1, 1), 1), np.float32, 0)
    assert engine._elementwise_kernels.add_bias in launched  # the bias still launches, through the lock
    assert not {direct.forward_direct, direct.grad_input_direct, direct.grad_weight_direct} & set(launched)
    for name in ["forward", "grad_input", "grad_weight"]:
        parallel, serial = getattr(kernels, f"conv2d_{name}_direct"), getattr(kernels, f"conv2d_{name}_direct_serial")
        if not hasattr(parallel, "py_func"):  # NUMBA_DISABLE_JIT: plain Python, nothing compiled or cached
            continue
        assert parallel.targetoptions.get("parallel") and not serial.targetoptions.get("parallel")
        # numba's private cache attributes (numba 0.59-0.68): the twin's index file is its own
        assert serial._cache._cache_file._index_name != parallel._cache._cache_file._index_name


@settings(max_examples=300, deadline=None)
@given(
    tiles=st.integers(1, 6),
    per_tile=st.integers(1, 12),
    per_row=st.integers(1, 9),
    stride_h=st.integers(1, 3),
    top=st.integers(-4, 10),
    h=st.integers(1, 12),
    R=st.integers(1, 9),
    dilation_h=st.integers(1, 4),
    planes=st.integers(1, 3),
)
def test_tile_filter_rows_holds_every_row_a_tile_needs(
    tiles, per_tile, per_row, stride_h, top, h, R, dilation_h, planes
):  # fmt: skip
    # Against brute force: the filter rows with a tap inside the image rows for some item of the tile
    # lie in [lo, hi), exactly so when the tile lies in one output row (of one plane). Items run
    # through ``planes`` planes of ``limit`` items, as the channel tiles' runs across images do.
    from fastconv.kernels._window import tile_filter_rows

    limit = max(1, tiles * per_tile // planes)
    tiles = -(-(planes * limit) // per_tile)
    bounds = tile_filter_rows(tiles, per_tile, per_row, limit, stride_h, top, h, R, dilation_h, planes)
    for t in range(tiles):
        items = range(t * per_tile, min(t * per_tile + per_tile, planes * limit))
        rows = {item % limit // per_row * stride_h for item in items}
        needed = {r for r in range(R) for row in rows if top <= row + r * dilation_h < top + h}
        lo, hi = bounds[t]
        assert 0 <= lo <= hi <= max(R, lo) and needed <= set(range(lo, hi))
        if len(rows) == 1 and len({item // limit for item in items}) == 1 and needed:
            assert (lo, hi) == (min(needed), max(needed) + 1)


@pytest.mark.parametrize("tiles", ["row", "channel"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(1, 9),
    plane=st.tuples(st.integers(1, 12), st.integers(1, 12)),
    padding=st.integers(0, 8),
    dilation=st.integers(1, 3),
    stride=st.integers(1, 2),
)
def test_tiles_with_filters_tall_against_the_plane(tiles, dtype, seed, rows, plane, padding, dilation, stride):
    # Tiles that skip the filter rows meeting only padding for all the positions of a tile: filters
    # up to 9 rows (dilated up to 25) on planes of 1-12 rows, padding up to 8 rows, so that tiles
    # cover rows of padding only, the plane's edges, or both; input gradients (their output gradient
    # padded by the filter's span) too. Three channels keep the row tiles, two vectors of them take
    # the channel tiles (at stride 1 with AVX2 tiles; forward passes at stride 2 with either). At
    # stride 2 the other passes run over phase planes, or dilated, on the general loops.
    H = max(plane[0], dilation * (rows - 1) + 1 - 2 * padding)
    channels = 3 if tiles == "row" else 2 * lanes(np.dtype(dtype))
    N, W, S = 1 + seed % 2, plane[1] + 2, 1 + seed % 3
    geometry = (N, channels, H, W, channels, rows, S, stride, (padding, 1), (dilation, 1), 1)
    assert_direct_passes_match_reference(geometry, dtype, seed)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    groups=st.integers(1, 6),
    inputs=st.integers(1, 3),
    size=st.tuples(st.integers(1, 8), st.integers(1, 8)),
    plane=st.tuples(st.integers(0, 9), st.integers(0, 40)),
    padding=st.tuples(st.integers(0, 3), st.integers(0, 3)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 3)),
    stride=st.tuples(st.integers(1, 2), st.integers(1, 2)),
)
def test_depthwise_passes(dtype, seed, groups, inputs, size, plane, padding, dilation, stride):
    # One output channel per group, 1-3 input channels, filters of 1-8 rows (more than 7 and dilated
    # rows leave the depthwise tiles), outputs that the 4-row blocks and 2-4 vectors tile exactly or
    # overrun, strides (phase planes with several channels per group) and padding.
    R, S = size
    H = max(1, dilation[0] * (R - 1) + 1 - 2 * padding[0]) + plane[0]
    W = max(1, dilation[1] * (S - 1) + 1 - 2 * padding[1]) + plane[1]
    geometry = (1 + seed % 3, groups * inputs, H, W, groups, R, S, stride, padding, dilation, groups)
    assert_direct_passes_match_reference(geometry, dtype, seed)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", range(len(DEPTHWISE_TILES)))
def test_every_depthwise_tile_shape_matches_the_reference(shape, dtype):
    # a plane whose rows the shape's tiles cover with the least work, exactly or with columns past the end
    from fastconv.kernels.depthwise import depthwise_shape

    rows, vectors = DEPTHWISE_TILES[shape]
    P, Q, R = rows, vectors * lanes(np.dtype(dtype)), 3
    while depthwise_shape(P, Q, R, lanes(np.dtype(dtype))) != shape:
        P, Q = P + 1, Q - 1
        assert Q > 0, "no plane picks this tile shape"
    geometry = (2, 4, P + 2, Q, 4, R, 5, 1, (0, 2), 1, 4)
    assert_direct_passes_match_reference(geometry, dtype, shape)


@pytest.mark.parametrize("height", range(1, 10))
@pytest.mark.parametrize("name", ["depthwise_blocks_overrun", "depthwise_blocks_whole"])
def test_depthwise_layers_run_on_depthwise_tiles_one_image_at_a_time(name, height, rng, monkeypatch):
    # filters of 1-7 rows on the depthwise tiles, taller ones on the row tiles
    import importlib

    from fastconv.engine import direct

    workspace = importlib.import_module("fastconv.engine.workspace")  # the module, not its Workspace
    calls = []
    original = direct.conv2d_forward_depthwise
    monkeypatch.setattr(direct, "conv2d_forward_depthwise", lambda *a: calls.append(a[-1]) or original(*a))
    monkeypatch.setattr(workspace, "PLANES_BUDGET_BYTES", 1)
    N, C, H, W, K, R, S, stride, padding, dilation, groups = GEOMETRIES[name]
    geometry = (N, C, H + height - R, W, K, height, S, stride, padding, dilation, groups)
    x, weight, bias, g, options = make_case(geometry, np.float64, rng)
    for ours, expected in zip(
        _all_passes(x, weight, g, "direct", **options),
        (
            reference.conv2d(x, weight, **options),
            reference.conv2d_grad_input(g, weight, x.shape, **options),
            reference.conv2d_grad_weight(g, x, weight.shape, **options),
        ),
    ):
        assert_close(ours, expected, np.float64)
    # the forward pass and the input gradient, one image per chunk
    assert calls == ([1, 1] if height <= DEPTHWISE_MAX_HEIGHT else [])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("stride", [(2, 2), (1, 2), (3, 1)])
def test_strided_depthwise_passes_split_each_plane_in_their_task(stride, dtype, rng, monkeypatch):
    from fastconv.engine import direct

    monkeypatch.setattr(direct, "SCRATCH_PARTS_PER_THREAD", 1)  # each task reuses its scratch for several planes
    calls = []
    forward, grad_input = direct.conv2d_forward_depthwise_strided, direct.conv2d_grad_input_depthwise_strided
    monkeypatch.setattr(direct, "conv2d_forward_depthwise_strided", lambda *a: calls.append(a[3:5]) or forward(*a))
    monkeypatch.setattr(
        direct, "conv2d_grad_input_depthwise_strided", lambda *a: calls.append(a[4:6]) or grad_input(*a)
    )
    x, weight, bias, g, options = make_case((3, 8, 13, 11, 4, 5, 3, stride, (2, 1), 1, 4), dtype, rng)
    assert_close(
        fastconv.conv2d(x, weight, bias, method="direct", **options),
        reference.conv2d(x, weight, bias, **options),
        dtype,
    )
    assert_close(  # the input gradient: each task computes its planes' phases and joins them
        fastconv.conv2d_grad_input(g, weight, x.shape, method="direct", **options),
        reference.conv2d_grad_input(g, weight, x.shape, **options),
        dtype,
    )
    assert calls == [stride, stride]
    assert_close(  # its weight gradient likewise (conv2d_grad_weight_depthwise)
        fastconv.conv2d_grad_weight(g, x, weight.shape, method="direct", **options),
        reference.conv2d_grad_weight(g, x, weight.shape, **options),
        dtype,
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "geometry",
    [
        (2, 3, 17, 15, 20, 5, 5, 2, 2, 1, 1),  # a 5x5 stem: 9 sub-filter taps of 4 phases for 25 real ones
        (2, 6, 13, 11, 4, 3, 3, (2, 3), 1, 1, 2),  # fewer output channels than a vector, groups, two strides
    ],
)
def test_strided_forward_passes_over_phase_planes_with_the_filters_own_taps(dtype, geometry, rng, monkeypatch):
    # Strided forward passes off the channel tiles (float32 stems on an Intel core, fewer output channels
    # per group than a vector) on the row tiles over the stride phases, each channel's phases one tall
    # plane, with the filter's own taps only.
    from fastconv.engine import direct

    calls = []
    original = direct.conv2d_forward_tiled
    monkeypatch.setattr(direct, "conv2d_forward_tiled", lambda *a: calls.append(a[2].shape) or original(*a))
    x, weight, _, _, options = make_case(geometry, dtype, rng)
    assert_close(fastconv.conv2d(x, weight, method="direct", **options), reference.conv2d(x, weight, **options), dtype)
    stem_on_phases = (
        INTEL_WIDE_TILES
        and dtype == np.float32
        and fastconv._geometry.conv_geometry(x.shape, weight.shape, **options).stem
    )
    if stem_on_phases or geometry[4] // geometry[10] < lanes(np.dtype(dtype)):
        assert calls == [(geometry[1] // geometry[10] * geometry[5] * geometry[6],)]  # the filter's own taps
    else:
        assert calls == []  # the channel tiles


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "geometry",
    [
        (3, 3, 32, 32, 5, 3, 3, 2, 1, 1, 1),  # a 3x3 stem, 16x16 outputs, a partial block of output channels
        (2, 4, 31, 48, 6, 5, 4, (2, 3), (2, 1), 1, 2),  # groups of 3 output channels, 16x16 outputs
        (2, 3, 30, 30, 7, 3, 3, 2, 0, 1, 1),  # 14x14 outputs: the rows widened into a scratch
        (2, 3, 7, 10, 3, 3, 3, (1, 2), 1, 1, 1),  # widened 5-pixel rows: the last runs read past the last phase
    ],
)
def test_strided_weight_gradients_over_phase_planes_with_the_filters_own_taps(dtype, geometry, rng, monkeypatch):
    # Weight gradients of strided layers off the channel tiles (stems, few output channels per group) on
    # the dot-product tiles over phase planes, one image per chunk: the output gradient read in place
    # where its rows are whole vectors, else widened into a scratch.
    import importlib

    from fastconv.engine import direct

    workspace = importlib.import_module("fastconv.engine.workspace")
    monkeypatch.setattr(workspace, "PLANES_BUDGET_BYTES", 1)
    in_place = []
    original = direct.conv2d_grad_weight_tiled
    monkeypatch.setattr(direct, "conv2d_grad_weight_tiled", lambda *a: in_place.append(a[11].size == 0) or original(*a))
    x, weight, _, g, options = make_case(geometry, dtype, rng)
    fastconv.conv2d_grad_weight(g, x, weight.shape, method="direct", **options)  # the scratch buffers, made
    for buffer in workspace.workspace._buffers.values():
        buffer[:] = 0xFF  # every float in them NaN, as an earlier call may leave them: none may reach the result
    assert_close(
        fastconv.conv2d_grad_weight(g, x, weight.shape, method="direct", **options),
        reference.conv2d_grad_weight(g, x, weight.shape, **options),
        dtype,
    )
    assert in_place == [g.shape[3] % lanes(np.dtype(dtype)) == 0] * 2


@pytest.mark.parametrize(
    "geometry",
    [
        (3, 32, 3, 3, 32, 3, 3, 1, 1, 1, 1),  # 3x3 planes
        (2, 48, 4, 5, 40, 3, 3, 1, 1, 1, 1),  # 4x5 planes, a partial vector of channels
        (2, 64, 5, 5, 64, 3, 3, 1, 1, 1, 2),  # 5x5 planes, groups of 32 channels
        (2, 32, 7, 6, 32, 3, 2, 1, (1, 0), 2, 1),  # dilated onto 3x4 planes, a rectangular filter
    ],
)
def test_stride1_small_planes_on_channel_tiles_match_the_reference(geometry, monkeypatch):
    # Float32 small planes with two vectors of channels per group run on the channel tiles (AVX2 tiles, and
    # AVX-512 tiles on an Intel core): every pass against the reference, and the tiles were used.
    from fastconv.engine import channel_tiles

    calls = []
    original = channel_tiles.forward
    monkeypatch.setattr(channel_tiles, "forward", lambda *a: calls.append(1) or original(*a))
    assert_direct_passes_match_reference(geometry, np.float32, seed=0)
    assert bool(calls) == (not AMD_WIDE_TILES)


def test_strided_layers_with_a_vector_of_channels_run_on_channel_tiles(rng, monkeypatch):
    from fastconv.engine import channel_tiles

    calls = []
    for name in ["forward", "grad_weight"]:
        original = getattr(channel_tiles, name)
        monkeypatch.setattr(channel_tiles, name, lambda *a, name=name, run=original: calls.append(name) or run(*a))
    x, weight, _, g, options = make_case(GEOMETRIES["strided_channel_tiles"], np.float64, rng)
    _all_passes(x, weight, g, "direct", **options)
    # The input gradient: a stride-1 forward pass over 6x5 phase planes of 20 channels, with AVX2 tiles (with
    # AVX-512 tiles the row tiles: on an Intel core float64 of 20*2*2 taps, on AMD's at any stride-1 pass).
    assert calls == (["forward", "grad_weight"] if WIDE_TILES else ["forward", "forward", "grad_weight"])
    calls.clear()
    x, weight, _, g, options = make_case((2, 1, 9, 8, 4, 3, 3, 2, 1, 1, 1), np.float32, rng)  # 4 and 1*2*2 channels
    _all_passes(x, weight, g, "direct", **options)
    assert calls == []  # all on phase planes


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rotated", [False, True])
@pytest.mark.parametrize(
    ("shape", "groups", "vectors"),
    [
        ((512, 64, 3, 3), 1, 2),  # big enough for threads
        ((40, 3, 5, 5), 1, 3),  # a partial block, taps past the last whole square
        ((96, 16, 3, 1), 2, 2),  # groups; rotated, fewer taps than a square
        ((24, 8, 2, 2), 4, 1),  # fewer channels per group than a vector
        ((32, 3, 5, 1), 1, 2),  # a partial last square at the end of the weights
        ((3, 32, 5, 3), 1, 2),  # the same, rotated
        ((29, 3, 5, 1), 1, 2),  # rows past the last whole square
        ((3, 29, 5, 3), 1, 2),  # the same, rotated
    ],
)
def test_packed_filters_are_each_blocks_taps_by_channel_zero_padded(
    shape, groups, vectors, rotated, dtype, rng, monkeypatch
):
    # Blocks of whole vectors of rows (the channel tiles'; in squares where pack_forward_weight says) and
    # of any count (the row tiles'), both with and without threads.
    from fastconv.kernels import tiled

    weight = rng.standard_normal(shape).astype(dtype)
    kept = weight.copy()
    filters = tiled.rotated_transposed(weight, groups) if rotated else weight
    K, Cg = filters.shape[:2]
    for rows in (vectors * lanes(np.dtype(dtype)), 3):
        blocks = -(-(K // groups) // rows)
        padded = np.zeros((groups, blocks * rows, Cg * shape[2] * shape[3]), dtype)
        padded[:, : K // groups] = filters.reshape(groups, K // groups, -1)
        want = padded.reshape(groups, blocks, rows, -1).transpose(0, 1, 3, 2)
        for threads_from in (tiled.PACK_THREADS_MIN_ELEMENTS, 1):
            monkeypatch.setattr(tiled, "PACK_THREADS_MIN_ELEMENTS", threads_from)
            np.testing.assert_array_equal(tiled.pack_forward_weight(weight, groups, rows, rotated), want)
    np.testing.assert_array_equal(weight, kept)


@pytest.mark.parametrize(
    ("name", "method"),
    [
        (name, method)
        for method in ["direct", "im2col"]
        for name in ["basic", "stride2_pad1", "groups2", "odd_nonsquare_mixed"]
    ]
    + [("basic", "winograd"), ("groups2", "winograd")],
)
def test_numerical_gradients(name, method, rng):
    """Centred differences of L = 0.5*sum(conv2d(x, w)**2) match both analytic gradients."""
    x, weight, _, _, options = make_case(GEOMETRIES[name], np.float64, rng)

    def loss(x_, w_):
        return 0.5 * np.sum(fastconv.conv2d(x_, w_, method=method, **options) ** 2)

    out = fastconv.conv2d(x, weight, method=method, **options)
    analytic = {
        "x": fastconv.conv2d_grad_input(out, weight, x.shape, method=method, **options),
        "w": fastconv.conv2d_grad_weight(out, x, weight.shape, method=method, **options),
    }
    eps = 1e-6
    for which, array in (("x", x), ("w", weight)):
        numeric = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            plus, minus = array.copy(), array.copy()
            plus[index] += eps
            minus[index] -= eps
            args_plus = (plus, weight) if which == "x" else (x, plus)
            args_minus = (minus, weight) if which == "x" else (x, minus)
            numeric[index] = (loss(*args_plus) - loss(*args_minus)) / (2 * eps)
        np.testing.assert_allclose(analytic[which], numeric, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("method", ["direct", "im2col"])
@pytest.mark.parametrize("name", GEOMETRIES)
def test_adjoint_identities(name, method, rng):
    """<conv2d(x, w), g> == <x, grad_input(g, w)> == <w, grad_weight(g, x)>."""
    x, weight, _, g, options = make_case(GEOMETRIES[name], np.float64, rng)
    lhs = np.vdot(fastconv.conv2d(x, weight, method=method, **options), g)
    via_x = np.vdot(x, fastconv.conv2d_grad_input(g, weight, x.shape, method=method, **options))
    via_w = np.vdot(weight, fastconv.conv2d_grad_weight(g, x, weight.shape, method=method, **options))
    assert via_x == pytest.approx(lhs, rel=1e-12, abs=1e-12)
    assert via_w == pytest.approx(lhs, rel=1e-12, abs=1e-12)


def _all_passes(x, weight, g, method, **options):
    return (
        fastconv.conv2d(x, weight, method=method, **options),
        fastconv.conv2d_grad_input(g, weight, x.shape, method=method, **options),
        fastconv.conv2d_grad_weight(g, x, weight.shape, method=method, **options),
    )


@pytest.mark.heavy
@pytest.mark.parametrize("method", ["direct", "im2col", "winograd"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_bitwise_repeatable(dtype, method, rng):
    x, weight, _, g, options = make_case((9, 8, 13, 12, 16, 3, 3, 1, 1, 1, 1), dtype, rng)
    first = _all_passes(x, weight, g, method, **options)
    for _ in range(3):
        for a, b in zip(first, _all_passes(x, weight, g, method, **options)):
            assert np.array_equal(a, b)


@pytest.mark.parametrize("method", ["direct", "im2col", "winograd"])
def test_layouts_and_inputs_untouched(method, rng):
    """Fortran-ordered, strided and read-only inputs give the C-contiguous result; nothing is modified."""
    x, weight, bias, g, options = make_case(
        GEOMETRIES["basic" if method == "winograd" else "stride2_pad1"], np.float64, rng
    )
    expected = _all_passes(x, weight, g, method, **options)
    big_x = np.zeros((x.shape[0] * 2,) + x.shape[1:])
    big_x[::2] = x
    wide_w = np.zeros(weight.shape[:3] + (weight.shape[3] * 3,))
    wide_w[..., ::3] = weight
    variants = {
        "fortran": (np.asfortranarray(x), np.asfortranarray(weight), np.asfortranarray(g)),
        "strided": (big_x[::2], wide_w[..., ::3], g[:, ::-1][:, ::-1]),
        "readonly": tuple(a.copy() for a in (x, weight, g)),
    }
    for a in variants["readonly"]:
        a.flags.writeable = False
    for name, (vx, vw, vg) in variants.items():
        before = [a.copy() for a in (vx, vw, vg)]
        for got, want in zip(_all_passes(vx, vw, vg, method, **options), expected):
            np.testing.assert_array_equal(got, want, err_msg=name)
        for a, b in zip((vx, vw, vg), before):
            np.testing.assert_array_equal(a, b, err_msg=f"{name}: an input was modified")


def test_mixed_dtypes_promote_like_numpy(rng):
    x, weight, bias, g, options = make_case(GEOMETRIES["basic"], np.float32, rng)
    out = fastconv.conv2d(x, weight.astype(np.float64), bias)
    assert out.dtype == np.float64
    assert_close(out, reference.conv2d(x, weight, bias), np.float64)
    assert fastconv.conv2d_grad_input(g.astype(np.float64), weight, x.shape).dtype == np.float64
    assert fastconv.conv2d_grad_weight(g, x.astype(np.float64), weight.shape).dtype == np.float64


@pytest.mark.parametrize("method", METHODS + ["winograd"])
def test_empty_batch(method, rng):
    weight = rng.uniform(-1, 1, (4, 3, 3, 3))
    x = np.zeros((0, 3, 8, 8))
    out = fastconv.conv2d(x, weight, method=method, padding=1)
    assert out.shape == (0, 4, 8, 8)
    assert fastconv.conv2d_grad_input(out, weight, x.shape, method=method, padding=1).shape == x.shape
    gw = fastconv.conv2d_grad_weight(out, x, weight.shape, method=method, padding=1)
    np.testing.assert_array_equal(gw, np.zeros_like(weight))


@pytest.mark.parametrize(
    ("method", "module", "budgets"),
    [
        ("im2col", "engine.im2col", ["COLUMN_BUDGET_BYTES"]),
        ("direct", "engine.workspace", ["PLANES_BUDGET_BYTES"]),
        ("direct", "engine.channel_tiles", ["RUN_PIXELS", "SUMS_BUDGET_BYTES"]),
        ("winograd", "engine.winograd", ["TRANSFORM_BUDGET_BYTES"]),
    ],
)
def test_large_batch_is_chunked_and_exact(method, module, budgets, rng, monkeypatch):
    """One image per chunk gives the same result as the whole batch in one chunk."""
    import importlib

    passes = importlib.import_module(f"fastconv.{module}")
    strided = module == "engine.channel_tiles"  # its layers: strided, a vector of output channels, no stem
    geometry = (7, 8, 9, 9, 12, 3, 3, 2, 1, 1, 1) if strided else (7, 3, 9, 9, 5, 3, 3, 1, 1, 1, 1)
    x, weight, _, g, options = make_case(geometry, np.float64, rng)
    whole = _all_passes(x, weight, g, method, **options)
    for budget in budgets:
        monkeypatch.setattr(passes, budget, 1)
    for a, b in zip(_all_passes(x, weight, g, method, **options), whole):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    if method == "im2col":
        geom = fastconv._geometry.conv_geometry(x.shape, weight.shape, padding=1)
        assert passes.images_per_chunk(geom, x.itemsize) == 1


@pytest.mark.parametrize("per_image", [True, False])
@pytest.mark.parametrize("images_per_chunk", [None, 1, 2])
@pytest.mark.parametrize(
    "name", ["im2col_image_runs", "groups2", "depthwise_blocks_whole", "strided_dilated_grouped_channels"]
)
def test_im2col_products_per_image_or_over_the_chunk(name, images_per_chunk, per_image, rng, monkeypatch):
    """Both layouts of im2col's products (fastconv/engine/im2col.py, PER_IMAGE_MAX_ROWS), on chunks of the whole
    batch, one image or two (the last chunk shorter), every product on the compiled kernel where it exists."""
    from fastconv.engine import im2col

    x, weight, _, grad_out, options = make_case(GEOMETRIES[name], np.float64, rng)
    if images_per_chunk is not None:
        geom = fastconv._geometry.conv_geometry(x.shape, weight.shape, **options)
        per_image_bytes = (geom.C // geom.groups) * geom.R * geom.S * geom.P * geom.Q * x.itemsize
        monkeypatch.setattr(im2col, "COLUMN_BUDGET_BYTES", images_per_chunk * per_image_bytes)
        assert im2col.images_per_chunk(geom, x.itemsize) == images_per_chunk
    monkeypatch.setattr(im2col, "products_per_image", lambda geom: per_image)
    calls, kernel = [], blas.products
    monkeypatch.setattr(blas, "products", lambda *args: calls.append(args) or kernel(*args))
    out, gx, gw = _all_passes(x, weight, grad_out, "im2col", **options)
    assert_close(out, reference.conv2d(x, weight, None, **options), np.float64)
    assert_close(gx, reference.conv2d_grad_input(grad_out, weight, x.shape, **options), np.float64)
    assert_close(gw, reference.conv2d_grad_weight(grad_out, x, weight.shape, **options), np.float64)
    assert bool(calls) == (blas.BLAS is not None)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=30, deadline=None)
@given(geometry=geometries(), seed=st.integers(0, 2**32 - 1))
@example(geometry=(1, 1, 1, 3, 1, 2, 1, 1, (2, 0), (3, 1), 1), seed=0)  # no filter row meets the input
def test_im2col_column_filters_on_views(dtype, geometry, seed):
    # kx1 filters at stride 1, unpadded along the width (dilated, grouped and padded along the height,
    # filter rows that meet only padding included): im2col's products on views of the input, one per
    # filter row, with or without a first row covering the whole result, every size taking them.
    from fastconv.engine import im2col

    N, C, H, W, K, R, S, stride, padding, dilation, groups = geometry
    geometry = (N, C, H, W, K, R, 1, 1, (padding[0], 0), dilation, groups)
    x, weight, _, grad_out, options = make_case(geometry, dtype, np.random.default_rng(seed))
    views, rows_of = [], im2col._column_filter_rows
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(im2col, "COLUMN_VIEWS_MIN_FLOPS", 0)
        patch.setattr(im2col, "_column_filter_rows", lambda geom: views.append(geom) or rows_of(geom))
        out, gx, gw = _all_passes(x, weight, grad_out, "im2col", **options)
    assert_close(out, reference.conv2d(x, weight, None, **options), dtype)
    assert_close(gx, reference.conv2d_grad_input(grad_out, weight, x.shape, **options), dtype)
    assert_close(gw, reference.conv2d_grad_weight(grad_out, x, weight.shape, **options), dtype)
    assert len(views) == (0 if R == 1 and padding[0] == 0 else 3)  # 1x1 layers keep their own products


def test_column_filters_on_views_from_a_size():
    from fastconv.engine.im2col import COLUMN_VIEWS_MIN_FLOPS, columns_are_views

    assert COLUMN_VIEWS_MIN_FLOPS == 2**20  # products of 2*64*64*P*W FLOP: 128 output pixels on the limit

    def geom(H, W, R=3, S=1, padding=0, stride=1):
        return fastconv._geometry.conv_geometry((2, 64, H, W), (64, 64, R, S), padding=padding, stride=stride)

    assert columns_are_views(geom(10, 16))  # 8x16 output pixels
    assert not columns_are_views(geom(10, 15))  # 8x15
    assert columns_are_views(geom(8, 16, padding=(1, 0)))  # padded along the height
    assert not columns_are_views(geom(10, 16, padding=(0, 1)))  # along the width: rows no longer line up
    assert not columns_are_views(geom(10, 16, R=1, S=3))  # a 1x3 filter
    assert not columns_are_views(geom(10, 16, stride=(2, 1)))
    assert not columns_are_views(geom(16, 16, R=1))  # 1x1 layers keep their own products


def test_im2col_products_per_image_for_few_rows_on_large_planes():
    from fastconv.engine.im2col import PER_IMAGE_MAX_ROWS, PER_IMAGE_MIN_PIXELS, products_per_image

    assert (PER_IMAGE_MAX_ROWS, PER_IMAGE_MIN_PIXELS) == (256, 64)  # the cases below sit on both limits

    def geom(C, H, W, groups=1, R=4):  # 4x4 filters: H - 3 by W - 3 output pixels
        return fastconv._geometry.conv_geometry((2, C, H, W), (groups, C // groups, R, R), groups=groups)

    assert products_per_image(geom(16, 11, 11))  # 256 rows, 8x8 pixels
    assert not products_per_image(geom(17, 11, 11))  # 272 rows
    assert products_per_image(geom(32, 11, 11, groups=2))  # 256 rows per group
    assert not products_per_image(geom(16, 12, 10))  # 9x7 pixels
    assert not products_per_image(geom(16, 11, 11, R=1))  # 1x1 layers keep their own rule


@pytest.mark.parametrize("method", ["direct", "im2col", "winograd"])
def test_scratch_buffers_never_leak_into_results(method, rng):
    """Reused scratch buffers full of NaN from an earlier call change nothing."""
    from fastconv.engine.workspace import workspace

    direct = ["nine_channels_dilated", "strided_channel_tiles", "depthwise_blocks_overrun"]
    names = ["many_channels"] if method == "winograd" else direct
    for name in names:
        x, weight, _, g, options = make_case(GEOMETRIES[name], np.float64, rng)
        clean = _all_passes(x, weight, g, method, **options)
        for buffer in workspace._buffers.values():
            buffer[:] = 0xFF  # every float in it is now NaN
        for a, b in zip(_all_passes(x, weight, g, method, **options), clean):
            np.testing.assert_array_equal(a, b)


@pytest.mark.heavy
@pytest.mark.parametrize("method", ["direct", "im2col"])
def test_concurrent_calls_from_python_threads(method, rng):
    cases = [make_case(GEOMETRIES["many_channels"], np.float32, rng) for _ in range(4)]
    expected = [fastconv.conv2d(x, w, b, method=method, **o) for x, w, b, _, o in cases]
    results = [None] * len(cases)
    errors = []

    def work(i):
        try:
            x, w, b, _, o = cases[i]
            for _ in range(5):
                results[i] = fastconv.conv2d(x, w, b, method=method, **o)
        except Exception as exc:  # reported below, in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(cases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for got, want in zip(results, expected):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("method", ["direct", "im2col", "winograd"])
def test_nan_and_inf_inputs_are_never_hidden(method, rng):
    """Every result the reference makes NaN/inf is non-finite here too (fastmath keeps NaN and inf)."""
    x, weight, _, g, options = make_case(GEOMETRIES["basic"], np.float64, rng)
    x[0, 1, 2, 3], x[1, 0, 5, 1], g[1, 2, 0, 0] = np.nan, np.inf, np.nan
    expected = (
        reference.conv2d(x, weight, None, **options),
        reference.conv2d_grad_input(g, weight, x.shape, **options),
        reference.conv2d_grad_weight(g, x, weight.shape, **options),
    )
    with np.errstate(invalid="ignore"):
        got = _all_passes(x, weight, g, method, **options)
    for a, want in zip(got, expected):
        assert not np.isfinite(a[~np.isfinite(want)]).any()
        # and finite where the reference is finite, except that the Winograd transforms spread a
        # non-finite input over its 4x4 block and the direct weight gradient sums padding columns
        if method == "im2col" or (method == "direct" and a is not got[2]):
            np.testing.assert_allclose(a[np.isfinite(want)], want[np.isfinite(want)], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("method", ["direct", "im2col"])
@pytest.mark.parametrize(
    "geometry",
    [
        (2, 16, 20, 20, 32, 3, 3, 1, 1, 1, 1),  # row tiles
        (2, 8, 5, 6, 32, 3, 3, 1, 1, 1, 1),  # channel tiles across images
        (2, 3, 24, 24, 32, 4, 4, 4, 0, 1, 1),  # channel tiles, strided, and their weight gradient
        (2, 4, 9, 9, 4, 3, 3, 1, 1, 1, 4),  # depthwise tiles
    ],
)
def test_warm_passes_skip_numbas_dispatch_compiler(geometry, method, rng, monkeypatch):
    # A kernel called from Python with an argument left to its default goes through numba's
    # compiling dispatch on every call (0.38 ms per pass, measured): warm passes never do.
    from numba.core.dispatcher import Dispatcher

    x, weight, _, grad_out, options = make_case(geometry, np.float32, rng)
    _all_passes(x, weight, grad_out, method, **options)
    compiling = []
    original = Dispatcher._compile_for_args
    monkeypatch.setattr(Dispatcher, "_compile_for_args", lambda *a, **k: compiling.append(a[0]) or original(*a, **k))
    _all_passes(x, weight, grad_out, method, **options)
    assert compiling == []
