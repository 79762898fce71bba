"""What method="auto" chooses, from crossovers measured with ``fastconv bench``.

* Stride above 1: im2col; the direct loops have no tiles for strides (3-5
  GFLOP/s). Pointwise (1x1, unpadded) layers, forward and input gradient:
  im2col, whose products are then plain BLAS calls (4.8-5.3 ms against
  5.5-5.9 direct for the pointwise shape in float32); their weight gradient
  is direct (5.8 ms against 6.6-6.7 im2col in float32, 10.1-10.5 against
  11.3-11.5 in float64).
* 3x3 filters at stride 1 and dilation 1, no groups, at least 64 input and
  output channels, images of at least 8x8 outputs: winograd, which does 4x
  fewer multiplications but spends a fixed time per pixel and channel on its
  transforms, which only wide layers amortise. The same rule for both dtypes.
* Every other stride-1 layer: direct.

Milliseconds, direct / winograd, 2 threads (``fastconv bench --methods
direct winograd --no-torch --repeat 7 --shapes N,C,H,W,K,3,3,1,1 ...`` on this
project's machine):

=================================  =======  ===============  ===============  ===============
N, C, HxW, K (3x3, padding 1)      dtype    forward          grad_input       grad_weight
=================================  =======  ===============  ===============  ===============
64, 3, 32x32, 16                   float32    0.63 /   3.42    1.30 /   4.38    1.92 /   3.09
64, 16, 32x32, 16                  float32    2.31 /   5.50    3.41 /   5.84    3.77 /   5.97
64, 32, 16x16, 32                  float32    1.87 /   3.69    2.05 /   3.74    3.18 /   3.73
64, 32, 32x32, 32                  float32    7.54 /  12.70    7.91 /  12.43   10.69 /  13.48
64, 64, 6x6, 64                    float32    1.30 /   1.88    1.32 /   1.89    1.50 /   1.85
64, 64, 8x8, 64                    float32    2.25 /   1.91    2.34 /   2.00    2.25 /   1.86
32, 64, 12x12, 64                  float32    2.30 /   1.78    2.32 /   1.92    2.40 /   2.35
64, 64, 16x16, 64 (mid_3x3)        float32    6.98 /   6.09    7.15 /   6.03    7.31 /   5.51
32, 64, 32x32, 64                  float32   13.01 /  12.00   13.69 /  13.01   14.34 /  13.50
16, 64, 56x56, 64                  float32   19.28 /  19.68   20.04 /  21.15   23.75 /  20.51
32, 96, 28x28, 96                  float32   21.63 /  14.32   22.16 /  14.28   21.79 /  13.34
64, 128, 2x2, 128                  float32    4.36 /   2.91    4.55 /   4.20    3.56 /   4.13
64, 128, 4x4, 128                  float32    4.42 /   2.91    4.51 /   3.13    3.38 /   2.74
32, 128, 14x14, 128                float32   10.64 /   7.72   10.91 /   7.87   10.27 /   8.18
32, 128, 28x28, 128 (big_3x3)      float32   37.54 /  21.73   38.66 /  22.45   37.72 /  20.98
16, 256, 7x7, 256                  float32    8.72 /   8.88    9.31 /   9.94    6.41 /   8.56
16, 256, 14x14, 256                float32   21.52 /  16.58   22.15 /  17.01   20.22 /  17.87
64, 3, 32x32, 16                   float64    1.17 /   5.04    1.61 /   4.50    1.70 /   3.70
64, 16, 32x32, 16                  float64    4.40 /  10.69    4.74 /  10.49    7.80 /  10.13
64, 32, 16x16, 32                  float64    4.33 /   5.97    4.65 /   6.52    6.19 /   6.15
64, 32, 32x32, 32                  float64   14.11 /  16.61   15.04 /  13.07   14.10 /  12.02
64, 64, 6x6, 64                    float64    2.37 /   2.70    2.36 /   2.93    2.54 /   2.96
64, 64, 8x8, 64                    float64    3.36 /   2.77    3.46 /   3.09    4.05 /   3.16
32, 64, 12x12, 64                  float64    4.29 /   3.87    4.79 /   5.21    7.71 /   3.27
64, 64, 16x16, 64 (mid_3x3)        float64   12.47 /   8.04   12.52 /   8.52   13.63 /   9.17
32, 64, 32x32, 64                  float64   23.67 /  15.13   25.25 /  16.70   25.96 /  16.39
16, 64, 56x56, 64                  float64   37.93 /  34.31   38.29 /  34.08   46.80 /  34.96
32, 96, 28x28, 96                  float64   41.50 /  22.21   42.44 /  22.52   42.72 /  22.91
64, 128, 2x2, 128                  float64    4.54 /   3.45    4.79 /   3.82    2.20 /   3.41
64, 128, 4x4, 128                  float64    4.77 /   4.35    5.43 /   4.52    6.48 /   4.04
32, 128, 14x14, 128                float64   21.00 /  13.50   21.62 /  13.89   19.96 /  19.68
32, 128, 28x28, 128 (big_3x3)      float64   72.61 /  38.90   73.27 /  39.97   74.56 /  42.98
16, 256, 7x7, 256                  float64   13.51 /  11.39   14.75 /  12.47   11.95 /  10.52
16, 256, 14x14, 256                float64   43.14 /  24.12   43.68 /  28.46   44.68 /  33.93
=================================  =======  ===============  ===============  ===============

Winograd wins from 64 channels on images from 8x8 up (1.05-1.9x), loses
below 64 channels (0.2-0.85x in float32) and on small planes, where a 6x6
output fills 36 of the 64 outputs of its 2x2 tiles (0.7-0.9x). Rows at the
edge of the rule: 16x56x56 float32 (within 5% either way: winograd), 7x7
(direct: 2-25% faster in float32, 10-20% slower in float64), 4x4 and 2x2
(direct, up to 1.5x slower; planes that small are rare). The direct tiles
beat im2col at stride 1 everywhere measured (mid_3x3 float32 forward 6.8 vs
10.6 ms, cifar_l1 0.9 vs 2.0 ms, in earlier runs); pointwise layers run
4.7-5.1 ms with im2col's plain product and 5.4-6.6 ms direct (float32
forward, earlier runs).
"""

from ._winograd_passes import applies as winograd_applies

# Winograd's thresholds (table above): fewest channels in and out, fewest
# output rows and columns.
WINOGRAD_MIN_CHANNELS = 64
WINOGRAD_MIN_SIDE = 8


def _is_pointwise(geom):
    return (geom.R, geom.S, geom.stride, geom.pad_top, geom.pad_bottom, geom.pad_left, geom.pad_right) == (
        1, 1, (1, 1), 0, 0, 0, 0)


def _winograd_wins(geom):
    return min(geom.C, geom.K) >= WINOGRAD_MIN_CHANNELS and min(geom.P, geom.Q) >= WINOGRAD_MIN_SIDE


def choose_method(geom, pass_name, dtype):
    """"direct", "im2col" or "winograd" for one pass ("forward", "grad_input", "grad_weight") in ``dtype``."""
    if geom.stride != (1, 1) or (_is_pointwise(geom) and pass_name != "grad_weight"):
        return "im2col"
    if geom.groups == 1 and winograd_applies(geom) and _winograd_wins(geom):
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
