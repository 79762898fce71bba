"""method="auto" follows the rule documented (with its measurements) in fastconv._method."""

import numpy as np
import pytest

from fastconv._geometry import conv_geometry
from fastconv._method import choose_method


def choice(x_shape, w_shape, pass_name="forward", dtype=np.float32, **options):
    return choose_method(conv_geometry(x_shape, w_shape, **options), pass_name, np.dtype(dtype))


@pytest.mark.parametrize("pass_name", ["forward", "grad_input", "grad_weight"])
def test_strided_and_pointwise_layers_use_the_blas_products(pass_name):
    assert choice((8, 16, 32, 32), (16, 16, 3, 3), pass_name, stride=2, padding=1) == "im2col"
    pointwise = "direct" if pass_name == "grad_weight" else "im2col"
    assert choice((8, 256, 14, 14), (256, 256, 1, 1), pass_name) == pointwise


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_small_and_mid_stride1_layers_use_the_direct_tiles(dtype):
    assert choice((64, 3, 32, 32), (16, 3, 5, 5), dtype=dtype) == "direct"  # cifar_l1
    assert choice((64, 64, 16, 16), (64, 64, 3, 3), dtype=dtype, padding=1) == "direct"  # mid_3x3
    assert choice((8, 32, 16, 16), (32, 1, 3, 3), dtype=dtype, padding=1, groups=32) == "direct"  # depthwise
    assert choice((8, 128, 28, 28), (128, 128, 1, 1), dtype=dtype, padding=1) == "direct"  # padded 1x1
    assert choice((8, 128, 28, 28), (128, 128, 3, 3), dtype=dtype, padding=2, dilation=2) == "direct"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_wide_3x3_layers_use_winograd(dtype):
    big = ((32, 128, 28, 28), (128, 128, 3, 3))
    for pass_name in ("forward", "grad_input", "grad_weight"):
        assert choice(*big, pass_name, dtype, padding=1) == "winograd"
    assert choice((32, 128, 28, 28), (128, 64, 3, 3), "forward", dtype, padding=1, groups=2) == "direct"


def test_winograd_threshold_differs_by_dtype_and_needs_large_images():
    assert choice((16, 256, 7, 7), (256, 256, 3, 3), dtype=np.float64, padding=1) == "direct"
    assert choice((16, 64, 56, 56), (64, 64, 3, 3), dtype=np.float32, padding=1) == "winograd"
    shape = ((32, 96, 28, 28), (96, 96, 3, 3))
    assert choice(*shape, dtype=np.float32, padding=1) == "direct"
    assert choice(*shape, dtype=np.float64, padding=1) == "winograd"
