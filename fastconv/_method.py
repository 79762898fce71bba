"""What method="auto" chooses, from crossovers measured with ``fastconv bench``.

* Stride above 1, or a pointwise (1x1, unpadded) layer: im2col. Its products
  are plain BLAS calls; the direct loops have no tiles for strides (3-5
  GFLOP/s).
* 3x3 filters at stride 1 and dilation 1, no groups, many channels and
  large images, forward and input gradient: winograd, which does 2.25x fewer
  multiplications but whose transforms cost more per pixel than the tiles'.
* Every other stride-1 layer, and every weight gradient at stride 1: direct.

Milliseconds, 2 threads (``fastconv bench --methods direct winograd
--shapes N,C,H,W,K,3,3,1,1 ...``, this project's machine); the winning
column is the one auto uses:

=============================  =======  ==========  ======  ========
N, C, HxW, K (3x3, padding 1)  dtype    pass        direct  winograd
=============================  =======  ==========  ======  ========
64, 64, 16x16, 64 (mid_3x3)    float32  forward       6.77      7.50
32, 64, 32x32, 64              float32  forward      11.97     12.91
32, 96, 28x28, 96              float32  forward      22.13     21.01
32, 96, 28x28, 96 (again)      float32  forward      23.09     26.68
32, 128, 14x14, 128            float32  forward      10.48     12.26
32, 128, 28x28, 128 (big_3x3)  float32  forward      37.38     32.43
16, 64, 56x56, 64              float32  forward      18.28     17.11
32, 64, 56x56, 64              float32  forward      36.88     36.15
16, 256, 14x14, 256            float32  forward      21.27     27.92
64, 64, 16x16, 64 (mid_3x3)    float64  forward      12.19     12.99
32, 64, 32x32, 64              float64  forward      23.39     26.53
32, 128, 14x14, 128            float64  forward      20.93     18.06
32, 128, 28x28, 128 (big_3x3)  float64  forward      72.20     52.48
16, 64, 56x56, 64              float64  forward      36.09     29.04
16, 256, 14x14, 256            float64  forward      42.29     39.74
32, 128, 28x28, 128 (big_3x3)  float64  grad_weight  77.70     89.85
16, 64, 56x56, 64              float32  grad_weight  19.03     22.79
=============================  =======  ==========  ======  ========

In float32 only big_3x3's width wins clearly; 96 channels and 56x56 images
are ties within the machine's run-to-run noise and stay direct. The input
gradient follows the forward pass within a few percent (it is a
forward pass of the output gradient). The Winograd weight gradient won only
for float64 on 56x56 images (34.2 ms vs 38.0) and lost by 15-100% elsewhere,
so auto never picks it. The direct tiles beat im2col at stride 1 everywhere
measured (mid_3x3 float32 forward 6.8 vs 10.2 ms; cifar_l1 0.9 vs 2.0 ms);
pointwise layers ran 5.0 ms with im2col's plain product and 5.3 direct.
"""

import numpy as np

from ._winograd_passes import applies as winograd_applies

# (fewest input and output channels, fewest output pixels P*Q) pairs from
# which the Winograd forward pass beats the direct tiles (table above).
WINOGRAD_FROM = {
    np.dtype(np.float32): ((128, 28 * 28),),
    np.dtype(np.float64): ((96, 14 * 14), (64, 48 * 48)),
}


def _is_pointwise(geom):
    return (geom.R, geom.S, geom.stride, geom.pad_top, geom.pad_bottom, geom.pad_left, geom.pad_right) == (
        1, 1, (1, 1), 0, 0, 0, 0)


def _winograd_wins(geom, dtype):
    channels, pixels = min(geom.C, geom.K), geom.P * geom.Q
    return any(channels >= c and pixels >= p for c, p in WINOGRAD_FROM[np.dtype(dtype)])


def choose_method(geom, pass_name, dtype):
    """"direct", "im2col" or "winograd" for one pass ("forward", "grad_input", "grad_weight") in ``dtype``."""
    if geom.stride != (1, 1) or _is_pointwise(geom):
        return "im2col"
    if (pass_name != "grad_weight" and geom.groups == 1 and winograd_applies(geom)
            and _winograd_wins(geom, dtype)):
        return "winograd"
    return "direct"


def resolve_method(method, geom, pass_name, dtype):
    """The method to run: auto's choice, or ``method`` if it can compute this geometry (else ValueError)."""
    if method == "auto":
        return choose_method(geom, pass_name, dtype)
    if method == "winograd" and not winograd_applies(geom):
        raise ValueError(f"method='winograd' needs 3x3 filters, stride 1 and dilation 1; got filters "
                         f"{geom.R}x{geom.S}, stride {geom.stride}, dilation {geom.dilation}")
    return method
