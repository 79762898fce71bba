"""What method="auto" chooses, from crossovers measured with ``fastconv bench``.

* Stride above 1: im2col; the direct loops have no tiles for strides (3-5
  GFLOP/s). Pointwise (1x1, unpadded) layers, forward and input gradient:
  im2col, whose products are then plain BLAS calls (4.8-5.3 ms against
  5.5-5.9 direct for the pointwise shape in float32); their weight gradient
  is direct (5.8 ms against 6.6-6.7 im2col in float32, 10.1-10.5 against
  11.3-11.5 in float64).
* 3x3 filters at stride 1 and dilation 1, no groups, at least 64 input and
  output channels, outputs of at least 7x7: winograd, which does 4x fewer
  multiplications but spends a fixed time per pixel and channel on its
  transforms, which only wide layers amortise. The same rule for both dtypes.
* Every other stride-1 layer: direct.

Milliseconds, direct / winograd, 2 threads (``fastconv bench --methods
direct winograd --no-torch --repeat 7 --shapes N,C,H,W,K,3,3,1,1 ...`` on this
project's machine, two runs of the final code):

=================================  =======  ===============  ===============  ===============
N, C, HxW, K (3x3, padding 1)      dtype    forward          grad_input       grad_weight
=================================  =======  ===============  ===============  ===============
64, 3, 32x32, 16                   float32    0.52 /   1.21    0.70 /   1.51    0.72 /   1.45
64, 16, 32x32, 16                  float32    2.64 /   5.28    2.64 /   3.26    2.79 /   3.17
64, 32, 16x16, 32                  float32    1.93 /   2.77    2.05 /   2.88    3.24 /   3.13
64, 32, 32x32, 32                  float32    7.52 /  10.79    7.89 /  11.08   10.64 /  12.16
64, 64, 3x3, 64                    float32    1.41 /   1.13    1.39 /   1.05    0.85 /   1.16
64, 64, 5x5, 64                    float32    2.28 /   2.28    1.63 /   1.87    1.85 /   2.09
64, 64, 6x6, 64                    float32    1.35 /   1.98    1.50 /   2.64    2.76 /   2.62
64, 64, 8x8, 64                    float32    2.47 /   1.77    2.50 /   1.70    2.82 /   2.10
64, 64, 9x9, 64                    float32    3.63 /   3.14    3.72 /   2.84    3.28 /   2.95
64, 64, 10x10, 64                  float32    3.70 /   3.36    3.80 /   3.45    3.80 /   3.26
32, 64, 12x12, 64                  float32    2.45 /   1.24    2.32 /   1.51    2.50 /   1.42
32, 64, 13x13, 64                  float32    3.08 /   2.61    3.11 /   2.19    2.72 /   2.36
64, 64, 16x16, 64 (mid_3x3)        float32    7.68 /   4.84    7.62 /   4.80    8.12 /   5.02
32, 64, 32x32, 64                  float32   13.24 /  10.43   13.50 /   7.33   13.04 /   8.33
16, 64, 56x56, 64                  float32   18.51 /  10.55   19.26 /  11.49   19.16 /  10.47
32, 96, 28x28, 96                  float32   21.94 /  12.02   22.52 /  12.40   21.83 /  11.97
64, 128, 2x2, 128                  float32    4.39 /   1.53    4.54 /   1.82    2.08 /   1.90
64, 128, 4x4, 128                  float32    4.50 /   1.73    4.69 /   2.48    4.19 /   2.81
32, 128, 14x14, 128                float32   11.11 /   6.05   11.23 /   6.33   10.32 /   7.50
32, 128, 28x28, 128 (big_3x3)      float32   38.38 /  18.98   39.55 /  19.75   37.98 /  19.73
16, 256, 7x7, 256                  float32    8.89 /   5.98    9.69 /   5.97    6.38 /   6.44
16, 256, 14x14, 256                float32   21.37 /  11.17   22.04 /  12.09   19.96 /  14.71
64, 3, 32x32, 16                   float64    0.88 /   2.43    1.23 /   2.70    1.18 /   2.32
64, 16, 32x32, 16                  float64    4.42 /   8.66    5.07 /   9.65    7.81 /   8.39
64, 32, 16x16, 32                  float64    4.53 /   5.22    4.64 /   5.51    6.22 /   5.75
64, 32, 32x32, 32                  float64   14.16 /  17.60   15.17 /  18.83   20.27 /  18.56
64, 64, 3x3, 64                    float64    1.40 /   1.26    1.42 /   1.45    1.81 /   1.61
64, 64, 5x5, 64                    float64    2.76 /   3.15    2.59 /   2.88    2.63 /   2.85
64, 64, 6x6, 64                    float64    2.48 /   3.48    2.67 /   3.53    3.56 /   2.92
64, 64, 8x8, 64                    float64    4.06 /   3.36    3.83 /   2.59    4.45 /   2.91
64, 64, 9x9, 64                    float64    6.10 /   4.61    5.80 /   4.33    5.34 /   5.57
64, 64, 10x10, 64                  float64    6.46 /   5.21    6.46 /   5.75    7.06 /   5.69
32, 64, 12x12, 64                  float64    4.21 /   2.42    3.99 /   2.10    4.18 /   2.44
32, 64, 13x13, 64                  float64    5.31 /   3.83    5.38 /   3.71    5.01 /   4.11
64, 64, 16x16, 64 (mid_3x3)        float64   13.28 /   7.33   12.85 /  11.71   17.42 /  11.59
32, 64, 32x32, 64                  float64   23.96 /  13.10   24.67 /  14.16   25.41 /  14.47
16, 64, 56x56, 64                  float64   36.12 /  21.59   37.14 /  23.75   38.24 /  20.41
32, 96, 28x28, 96                  float64   42.12 /  22.36   43.16 /  22.74   42.75 /  22.53
64, 128, 2x2, 128                  float64    4.57 /   2.24    4.84 /   2.47    2.13 /   2.59
64, 128, 4x4, 128                  float64    5.04 /   3.97    5.07 /   3.10    5.22 /   3.14
32, 128, 14x14, 128                float64   22.01 /  11.75   22.00 /  12.08   20.25 /  12.77
32, 128, 28x28, 128 (big_3x3)      float64   73.88 /  37.17   76.49 /  38.09   74.97 /  37.77
16, 256, 7x7, 256                  float64   13.44 /   7.05   14.68 /   8.48   11.98 /  10.08
16, 256, 14x14, 256                float64   42.87 /  19.74   44.98 /  22.20   39.77 /  27.70
=================================  =======  ===============  ===============  ===============

Winograd wins from 64 channels on outputs from 7x7 up (1.1-2.2x; the
weight gradients of the 7x7 float32 and 9x9 float64 layers tie), and loses
below 64 channels (0.4-1.0x; three 32-channel weight gradients win, by
4-9%). Below 7x7 its 4x4 tiles are partly empty: it loses on 5x5 and 6x6
outputs (0.6-1.0x, except the 6x6 weight gradients) and mostly wins on 4x4,
3x3 and 2x2, where the direct tiles are slow too; planes that small stay
direct (they are rare, and their weight gradients go either way). The
direct tiles beat im2col at stride 1 everywhere measured (mid_3x3 float32
forward 6.8 vs 10.6 ms, cifar_l1 0.9 vs 2.0 ms, in earlier runs); pointwise
layers run 4.7-5.1 ms with im2col's plain product and 5.4-6.6 ms direct
(float32 forward, earlier runs).
"""

from ._winograd_passes import applies as winograd_applies

# Winograd's thresholds (table above): fewest channels in and out, fewest
# output rows and columns.
WINOGRAD_MIN_CHANNELS = 64
WINOGRAD_MIN_SIDE = 7


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
