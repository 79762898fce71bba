"""method="auto" follows the rule documented (with its measurements) in fastconv/engine/choice.py."""

import numpy as np
import pytest

from fastconv._geometry import conv_geometry
from fastconv.engine.choice import (
    AMD_WIDE_TILES,
    IM2COL_ON_IDLE_ROW_TILES,
    INTEL_WIDE_TILES,
    MIN_TILE_USE,
    WIDE_TILES,
    choose_method,
    direct_tile_use,
)
from fastconv.kernels._simd import FORWARD_VECTORS, forward_rows, lanes

F32 = np.dtype(np.float32)


def choice(x_shape, w_shape, pass_name="forward", **options):
    return choose_method(conv_geometry(x_shape, w_shape, **options), pass_name, F32)


@pytest.mark.parametrize("pass_name", ["forward", "grad_input", "grad_weight"])
def test_strided_layers_use_the_channel_tiles_and_pointwise_layers_the_blas_products(pass_name):
    channel_tiles = "im2col" if pass_name == "grad_input" else "direct"  # zero taps in the input gradient
    assert choice((8, 16, 32, 32), (16, 16, 3, 3), pass_name, stride=2, padding=1) == channel_tiles
    patches = "im2col" if pass_name == "grad_input" else "direct"  # the columns a reshuffle of the products
    assert choice((8, 3, 44, 40), (48, 3, 4, 4), pass_name, stride=4) == patches  # patch embedding
    wide_patches = "im2col" if INTEL_WIDE_TILES and pass_name == "grad_weight" else patches  # 64: deep there
    assert choice((8, 64, 32, 32), (128, 64, 2, 2), pass_name, stride=2) == wide_patches  # 2x2 downsampling
    overlapping = "direct" if pass_name == "grad_input" else channel_tiles  # the stride divides the filter
    assert choice((8, 16, 64, 64), (32, 16, 4, 4), pass_name, stride=2, padding=1) == overlapping
    assert choice((8, 16, 32, 32), (4, 16, 3, 3), pass_name, stride=2, padding=1) == "im2col"  # 4 < a vector
    assert choice((8, 3, 96, 96), (64, 3, 7, 7), pass_name, stride=2, padding=3) == "direct"  # a stem
    assert choice((2, 3, 96, 96), (24, 3, 5, 5), pass_name, stride=2, padding=2) == "direct"  # 11 of 36 taps zero
    stem = "im2col" if pass_name == "grad_input" else "direct"
    assert choice((2, 3, 96, 96), (24, 3, 3, 3), pass_name, stride=2, padding=1) == stem  # 7 of 16 taps zero
    assert choice((1, 3, 96, 96), (64, 3, 7, 7), pass_name, stride=2, padding=3) == stem  # one image
    assert choice((1, 3, 96, 96), (64, 3, 4, 4), pass_name, stride=2, padding=1) == "direct"  # no zero taps
    pointwise = "direct" if pass_name == "grad_weight" and AMD_WIDE_TILES else "im2col"
    assert choice((8, 256, 14, 14), (256, 256, 1, 1), pass_name) == pointwise


def test_deep_strided_layers_use_the_blas_products():
    # Weight gradients whose channel-tile sums outgrow STRIDED_SUMS_MAX_BYTES; forward passes of 384
    # channels or more on planes of at most 64 pixels.
    from fastconv.engine import channel_tiles
    from fastconv.engine.choice import STRIDED_SUMS_MAX_BYTES

    deep, shallow = (
        conv_geometry((16, 128, 14, 14), (256, 128, 3, 3), stride=2, padding=1),
        conv_geometry((16, 96, 28, 28), (192, 96, 3, 3), stride=2, padding=1),
    )
    assert (
        channel_tiles.grad_sums_bytes(deep, F32) > STRIDED_SUMS_MAX_BYTES >= channel_tiles.grad_sums_bytes(shallow, F32)
    )
    intel = "im2col" if INTEL_WIDE_TILES else "direct"  # 64 channels or more there (float32: gradients)
    assert [choose_method(g, p, F32) for g in (deep, shallow) for p in ("forward", "grad_weight")] == [
        "direct", "im2col", "direct", intel,
    ]  # fmt: skip
    assert choose_method(deep, "forward", np.dtype(np.float64)) == intel
    assert choice((8, 512, 8, 8), (512, 512, 3, 3), "forward", stride=2, padding=1) == "im2col"
    assert choice((8, 320, 8, 8), (512, 320, 3, 3), "forward", stride=2, padding=1) == "direct"  # < 384 channels
    assert choice((8, 512, 20, 20), (512, 512, 3, 3), "forward", stride=2, padding=1) == "direct"  # 100 pixels
    assert choice((8, 32, 20, 20), (64, 32, 3, 3), "forward", stride=2, padding=1) == "direct"  # < 64 channels
    assert choice((8, 32, 20, 20), (64, 32, 3, 3), "grad_weight", stride=2, padding=1) == "direct"
    # A stem's weight gradient stays on the phase planes whatever its sums.
    stem = conv_geometry((8, 3, 64, 64), (2048, 3, 7, 7), stride=2, padding=3)
    assert channel_tiles.grad_sums_bytes(stem, F32) > STRIDED_SUMS_MAX_BYTES
    assert choose_method(stem, "grad_weight", F32) == "direct"


def test_narrow_small_and_grouped_stride1_layers_use_the_direct_tiles():
    assert choice((64, 3, 32, 32), (16, 3, 5, 5)) == "direct"  # cifar_l1
    assert choice((32, 16, 32, 32), (16, 16, 3, 3), padding=1) == "direct"  # 16 channels
    assert choice((64, 32, 8, 8), (32, 32, 3, 3), padding=1) == "direct"  # 32 channels on 8x8 outputs
    assert choice((16, 64, 6, 6), (64, 64, 3, 3), padding=1) == "direct"  # 6x6 outputs
    assert choice((8, 32, 16, 16), (32, 1, 3, 3), padding=1, groups=32) == "direct"  # depthwise
    assert choice((8, 128, 28, 28), (128, 128, 1, 1), padding=1) == "direct"  # padded 1x1
    assert choice((32, 128, 28, 28), (128, 32, 3, 3), padding=1, groups=4) == "direct"  # groups of 32 channels
    assert choice((8, 256, 14, 14), (256, 64, 3, 3), padding=1, groups=4) == "direct"  # of 64 on 14x14 outputs
    few_filters = "im2col" if AMD_WIDE_TILES else "direct"  # 8 filters fill a third of a wide tile's positions
    assert choice((64, 16, 4, 4), (8, 16, 3, 3), padding=1) == few_filters  # small plane
    assert choice((8, 32, 4, 4), (32, 1, 3, 3), padding=1, groups=32) == "direct"  # depthwise on a small plane
    assert choice((8, 32, 16, 16), (32, 1, 5, 5), stride=2, padding=2, groups=32) == "direct"  # strided depthwise


@pytest.mark.parametrize("pass_name", ["forward", "grad_input", "grad_weight"])
def test_shapes_that_idle_the_tiles_use_the_blas_products(pass_name):
    # one-hot text, one output row: the input gradient a one-row forward pass (AMD's wide tiles: im2col)
    one_hot = "im2col" if AMD_WIDE_TILES else "direct"
    assert choice((64, 1, 38, 14), (26, 1, 38, 2), pass_name) == one_hot
    # filters padded along the rows: the input gradient's correlation multiplies zero rows
    one_hot_padded = "im2col" if pass_name == "grad_input" or AMD_WIDE_TILES else "direct"
    assert choice((64, 1, 36, 14), (26, 1, 38, 2), pass_name, padding=(1, 0)) == one_hot_padded
    assert choice((8, 512, 2, 2), (512, 512, 3, 3), pass_name, padding=1) == "im2col"  # 4-pixel planes
    # deep, 16-pixel planes (an Intel core's forward pass and input gradient: by window, from 65 pixels
    # over the batch)
    deep_16 = "direct" if INTEL_WIDE_TILES and pass_name != "grad_weight" else "im2col"
    assert choice((8, 512, 4, 4), (512, 512, 3, 3), pass_name, padding=1) == deep_16
    assert choice((4, 512, 4, 4), (512, 512, 3, 3), pass_name, padding=1) == "im2col"  # 64 pixels
    # deep, 49-pixel planes (forward passes on an Intel core: the channel tiles, across images)
    deep_49 = "direct" if INTEL_WIDE_TILES and pass_name == "forward" else "im2col"
    assert choice((4, 256, 7, 7), (256, 256, 3, 3), pass_name, padding=1) == deep_49
    # 5x5 filters on 7x7 planes: an Intel core's input gradient too (by window, a third of the taps padding)
    by_window = "direct" if INTEL_WIDE_TILES and pass_name != "grad_weight" else "im2col"
    assert choice((16, 128, 7, 7), (128, 128, 5, 5), pass_name, padding=2) == by_window
    one_channel = "im2col" if INTEL_WIDE_TILES and pass_name == "grad_input" else "direct"  # one-row tiles
    assert choice((32, 1, 48, 48), (16, 1, 3, 3), pass_name, padding=1) == one_channel
    assert choice((16, 1, 48, 48), (24, 1, 7, 7), pass_name, padding=3) == "direct"  # 7x7: direct there too


@pytest.mark.parametrize("pass_name", ["grad_input", "grad_weight"])
def test_gradients_of_deep_layers_with_few_output_pixels_use_the_blas_products(pass_name):
    assert choice((1, 256, 14, 14), (256, 256, 3, 3), pass_name, padding=1) == "im2col"
    assert choice((2, 384, 12, 12), (384, 384, 3, 3), pass_name, padding=1) == "im2col"
    assert choice((1, 128, 14, 14), (128, 128, 5, 5), pass_name, padding=2) == "im2col"
    assert choice((8, 128, 14, 14), (128, 128, 5, 5), pass_name, padding=2) == "direct"  # 1568 pixels in all
    assert choice((1, 256, 28, 28), (256, 256, 3, 3), pass_name, padding=1) == (
        "im2col" if AMD_WIDE_TILES else "direct"
    )
    assert choice((1, 256, 14, 14), (256, 256, 3, 3), "forward", padding=1) == (
        "im2col" if AMD_WIDE_TILES else "direct"
    )
    assert choice((2, 384, 12, 12), (384, 384, 3, 3), "forward", padding=1) == "im2col"  # the deepest layers


@pytest.mark.parametrize("pass_name", ["forward", "grad_input", "grad_weight"])
def test_dilated_rectangular_and_single_image_layers_follow_the_tiles(pass_name):
    wide = "im2col" if AMD_WIDE_TILES else "direct"
    assert choice((8, 128, 28, 28), (128, 128, 3, 3), pass_name, padding=2, dilation=2) == wide
    one_row = "im2col" if pass_name == "grad_input" else wide  # zero taps in the input gradient
    assert choice((16, 128, 12, 12), (128, 128, 1, 5), pass_name) == one_row  # one-row filters
    assert choice((16, 64, 12, 12), (64, 64, 1, 5), pass_name) == wide  # too few channels for the products
    assert choice((8, 32, 12, 12), (32, 32, 3, 1), pass_name) == wide  # one column, too few channels for views
    assert choice((1, 64, 28, 28), (64, 64, 5, 5), pass_name, padding=2) == wide  # one image


@pytest.mark.parametrize("pass_name", ["forward", "grad_input", "grad_weight"])
def test_column_filters_run_im2col_on_views_of_the_input(pass_name):
    def column_choice(x_shape, w_shape, dtype, **options):
        return choose_method(conv_geometry(x_shape, w_shape, **options), pass_name, np.dtype(dtype))

    for dtype in (np.float32, np.float64):
        on_views = "im2col" if pass_name != "forward" or dtype == np.float64 or AMD_WIDE_TILES else "direct"
        if INTEL_WIDE_TILES:  # only float32 input gradients
            on_views = "im2col" if pass_name == "grad_input" and dtype == np.float32 else "direct"
        assert column_choice((16, 128, 12, 12), (128, 128, 5, 1), dtype) == on_views
        assert column_choice((32, 128, 17, 17), (128, 128, 7, 1), dtype, padding=(3, 0)) == on_views
        sixty_four = "direct" if pass_name == "grad_weight" and not AMD_WIDE_TILES else on_views
        assert column_choice((8, 64, 24, 24), (64, 64, 5, 1), dtype) == sixty_four


@pytest.mark.parametrize("pass_name", ["forward", "grad_input", "grad_weight"])
def test_wide_3x3_layers_use_winograd(pass_name):
    assert choice((64, 64, 16, 16), (64, 64, 3, 3), pass_name, padding=1) == "winograd"  # mid_3x3
    assert choice((32, 128, 28, 28), (128, 128, 3, 3), pass_name, padding=1) == "winograd"  # big_3x3
    assert choice((16, 512, 7, 7), (512, 512, 3, 3), pass_name, padding=1) == "winograd"
    assert choice((64, 64, 9, 9), (64, 64, 3, 3), pass_name) == "winograd"  # unpadded: 7x7 outputs
    # 64 tiles of 64 channels: in float32 on an Intel core too little work for winograd's products
    few_tiles = conv_geometry((4, 64, 14, 14), (64, 64, 3, 3), padding=1)
    assert choose_method(few_tiles, pass_name, F32) == ("direct" if INTEL_WIDE_TILES else "winograd")
    assert choose_method(few_tiles, pass_name, np.dtype(np.float64)) == "winograd"
    assert choice((64, 64, 8, 8), (64, 64, 3, 3), pass_name) == "direct"  # unpadded: 6x6 outputs
    narrow = "direct" if WIDE_TILES else "winograd"  # measured with AVX2 tiles (wide ones: crossovers.md)
    assert choice((64, 32, 32, 32), (32, 32, 3, 3), pass_name, padding=1) == narrow  # 32 channels, 32x32
    assert choice((1, 32, 56, 56), (32, 32, 3, 3), pass_name, padding=1) in (narrow, "im2col")  # 196 tiles
    assert choice((1, 32, 28, 28), (32, 32, 3, 3), pass_name, padding=1) != "winograd"  # 49 tiles
    assert choice((32, 128, 28, 28), (128, 64, 3, 3), pass_name, padding=1, groups=2) == narrow  # 64 per group


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tile_use_counts_the_padded_rows_rounded_up_to_whole_tiles(dtype):
    dtype = np.dtype(dtype)
    geom = conv_geometry((32, 16, 4, 4), (4, 16, 3, 3), padding=1)  # 4x4 outputs, rows 6 wide, no channel tiles
    tile = FORWARD_VECTORS[forward_rows(4)] * lanes(dtype)
    assert direct_tile_use(geom, dtype) == 16 / (-(-24 // tile) * tile)
    idle = IM2COL_ON_IDLE_ROW_TILES and direct_tile_use(geom, dtype) < MIN_TILE_USE
    expected = "im2col" if idle else "direct"
    assert choose_method(geom, "forward", dtype) == expected
    wide = conv_geometry((8, 16, 64, 64), (32, 16, 3, 3), padding=1)
    assert direct_tile_use(wide, dtype) > 0.9


@pytest.mark.parametrize("pass_name", ["forward", "grad_input", "grad_weight"])
def test_small_planes_with_two_vectors_of_channels_use_the_channel_tiles(pass_name, monkeypatch):
    # 3x3 and 4x4 planes idle the row tiles but not the channel tiles (AVX2 tiles, and AVX-512 tiles on an
    # Intel core; on AMD's: unmeasured, the row tiles' rule)
    assert direct_tile_use(conv_geometry((64, 64, 3, 3), (64, 64, 3, 3), padding=1), F32) < MIN_TILE_USE
    from fastconv.engine import channel_tiles

    # Their stride-1 weight gradients with AVX2 tiles by plane; on an Intel core by the batch instead
    # (every layer here has whole vectors of channels and, on 2 threads, images enough for each task:
    # see the next test).
    monkeypatch.setattr(channel_tiles, "thread_count", lambda: 2)
    owned = INTEL_WIDE_TILES and pass_name == "grad_weight"
    on_channel_tiles = not AMD_WIDE_TILES and (pass_name != "grad_weight" or not WIDE_TILES) or owned
    for x_shape, w_shape in [((64, 64, 3, 3), (64, 64, 3, 3)), ((32, 32, 4, 4), (32, 32, 3, 3))]:
        geom = conv_geometry(x_shape, w_shape, padding=1)
        assert channel_tiles.runs(geom, pass_name, F32) == on_channel_tiles
        if on_channel_tiles:
            assert choice(x_shape, w_shape, pass_name, padding=1) == "direct"
    # planes up to 15x15, both dtypes; 16x16 planes: the row tiles (with AVX2 tiles the channel tiles, and
    # on an Intel core the weight gradient's, by the batch)
    for dtype in (F32, np.dtype(np.float64)):
        geom = conv_geometry((16, 64, 15, 15), (64, 64, 3, 3), padding=1)
        assert channel_tiles.runs(geom, pass_name, dtype) == on_channel_tiles
        geom = conv_geometry((16, 64, 16, 16), (64, 64, 3, 3), padding=1)
        assert channel_tiles.runs(geom, pass_name, dtype) == (not WIDE_TILES or owned)
    # filters of one row or column, or few taps (one input channel): float64 keeps the row tiles on an Intel core
    few_taps = conv_geometry((16, 1, 12, 12), (64, 1, 3, 3), padding=1)
    assert channel_tiles.runs(few_taps, pass_name, F32) == (on_channel_tiles and pass_name != "grad_input")
    expected = on_channel_tiles and not INTEL_WIDE_TILES and pass_name != "grad_input"
    assert channel_tiles.runs(few_taps, pass_name, np.dtype(np.float64)) == (expected or owned)
    column = conv_geometry((16, 64, 12, 12), (64, 64, 5, 1))
    assert channel_tiles.runs(column, pass_name, F32) == on_channel_tiles
    expected = on_channel_tiles and not INTEL_WIDE_TILES
    assert channel_tiles.runs(column, pass_name, np.dtype(np.float64)) == (expected or owned)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_intel_weight_gradients_on_channel_tiles_where_each_task_owns_its_images(dtype, monkeypatch):
    # On an Intel core with AVX-512 tiles, any weight gradient whose output channels fill whole vectors
    # and whose batch gives every task a slice of its own (sums and one image's scratch within their
    # budgets) runs on the channel tiles: stride 1 and stems included. Elsewhere, and otherwise, the rule
    # by plane and stride.
    from fastconv.engine import channel_tiles

    dtype = np.dtype(dtype)
    monkeypatch.setattr(channel_tiles, "thread_count", lambda: 2)
    vector = lanes(dtype)

    def runs(N, K, groups=1, **options):
        geom = conv_geometry((N, 8 * groups, 20, 20), (K * groups, 8, 3, 3), groups=groups, **options)
        return channel_tiles.runs(geom, "grad_weight", dtype)

    assert runs(4, 2 * vector) == INTEL_WIDE_TILES  # four images: one slice for each of 2 x 2 tasks
    assert runs(8, vector, groups=2) == INTEL_WIDE_TILES
    assert not runs(3, 2 * vector)  # fewer images than tasks (20x20 planes: not small ones either)
    assert not runs(8, vector + vector // 2)  # a partial vector of channels
    assert runs(8, 2 * vector, stride=2)  # strided (no stem): the channel tiles anyway
    stem = conv_geometry((8, 3, 64, 64), (2 * vector, 3, 5, 5), stride=2, padding=2)
    assert channel_tiles.runs(stem, "grad_weight", dtype) == INTEL_WIDE_TILES
    big = conv_geometry((8, 64, 200, 200), (2 * vector, 64, 3, 3), padding=1)  # one image's planes: 10+ MiB
    assert not channel_tiles.runs(big, "grad_weight", dtype)
    monkeypatch.setattr(channel_tiles, "SUMS_BUDGET_BYTES", channel_tiles.grad_sums_bytes(stem, dtype) * 3)
    assert not channel_tiles.runs(stem, "grad_weight", dtype)  # three slices of sums: a part shared


@pytest.mark.parametrize("pass_name", ["forward", "grad_input", "grad_weight"])
def test_passes_on_the_plain_loops_run_direct(pass_name, monkeypatch):
    # Ahead of the rule: under PLAIN_LOOPS_BELOW_FLOPS the direct method's plain loops (as shipped;
    # the tests' autouse fixture turns them off), above it the rule, here a 1x1 layer's.
    from conftest import SHIPPED_PLAIN_LOOPS_BELOW_FLOPS

    from fastconv.engine import direct

    monkeypatch.setattr(direct, "PLAIN_LOOPS_BELOW_FLOPS", SHIPPED_PLAIN_LOOPS_BELOW_FLOPS)
    assert choice((1, 1, 3, 3), (4, 1, 3, 3), pass_name, padding=1) == "direct"  # 648 FLOP on a 3x3 plane
    assert choice((1, 2, 4, 4), (2, 2, 1, 1), pass_name) == "direct"  # a 1x1 layer of 128 FLOP
    pointwise = "direct" if pass_name == "grad_weight" and AMD_WIDE_TILES else "im2col"
    assert choice((1, 16, 8, 8), (8, 16, 1, 1), pass_name) == pointwise  # a 1x1 layer of 16384 FLOP


def test_float32_layers_whose_row_tiles_idle_run_on_the_channel_tiles():
    from fastconv.engine import channel_tiles

    # the one-hot layer: one-row outputs, 26 channels (under two vectors with AVX-512, whose row tiles
    # use 13 of 48 positions; two vectors or more with AVX2, whose channel tiles take it anyway)
    one_hot = conv_geometry((64, 1, 38, 14), (26, 1, 38, 2))
    assert direct_tile_use(one_hot, F32) < MIN_TILE_USE or not WIDE_TILES
    assert channel_tiles.runs(one_hot, "forward", F32) == (not AMD_WIDE_TILES)
    assert not channel_tiles.runs(conv_geometry((64, 1, 30, 12), (8, 1, 30, 3)), "forward", F32)  # 8 channels
    busier = conv_geometry((64, 1, 36, 29), (20, 1, 36, 3))  # 27 of 48 positions used
    assert direct_tile_use(busier, F32) >= MIN_TILE_USE
    assert channel_tiles.runs(busier, "forward", F32) == (not WIDE_TILES)


def test_float32_stems_run_over_stride_phases_on_an_intel_core():
    from fastconv.engine import channel_tiles

    stem = conv_geometry((1, 3, 224, 224), (24, 3, 5, 5), stride=2, padding=2)
    assert choose_method(stem, "forward", F32) == "direct"
    assert channel_tiles.runs(stem, "forward", F32) == (not INTEL_WIDE_TILES)  # else the row tiles over phases
    assert channel_tiles.runs(stem, "forward", np.dtype(np.float64))
