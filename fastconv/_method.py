"""What method="auto" chooses, from crossovers measured with ``fastconv bench``.

* Stride above 1: im2col; the direct loops have no tiles for strides (3-5
  GFLOP/s). Pointwise (1x1, unpadded) layers, forward and input gradient:
  im2col, whose products are then plain BLAS calls (4.8-5.3 ms against
  5.5-5.9 direct for the pointwise shape in float32); their weight gradient
  is direct (5.8 ms against 6.6-6.7 im2col in float32, 10.1-10.5 against
  11.3-11.5 in float64).
* 3x3 filters at stride 1 and dilation 1, no groups, many channels and
  large images: winograd, which does 2.25x fewer multiplications but whose
  transforms cost more per pixel than the tiles'.
* Every other stride-1 layer: direct.

Milliseconds, 2 threads (one run of ``fastconv bench --methods direct
winograd --shapes N,C,H,W,K,3,3,1,1 ...`` on this project's machine):

=================================  =======  ===========  ======  ========
N, C, HxW, K (3x3, padding 1)      dtype    pass         direct  winograd
=================================  =======  ===========  ======  ========
64, 32, 32x32, 32                  float32  forward        6.84      8.91
64, 64, 16x16, 64 (mid_3x3)        float32  forward        8.26      9.63
32, 64, 32x32, 64                  float32  forward       13.03     13.59
16, 64, 56x56, 64                  float32  forward       18.67     16.68
32, 96, 28x28, 96                  float32  forward       23.57     33.90
32, 128, 14x14, 128                float32  forward       11.48     10.57
32, 128, 28x28, 128 (big_3x3)      float32  forward       39.19     32.43
16, 256, 7x7, 256                  float32  forward        9.22     11.27
16, 256, 14x14, 256                float32  forward       21.20     16.30
64, 32, 32x32, 32                  float64  forward       14.99     25.69
64, 64, 16x16, 64 (mid_3x3)        float64  forward       13.61     15.59
32, 64, 32x32, 64                  float64  forward       24.80     27.61
16, 64, 56x56, 64                  float64  forward       36.25     31.92
32, 96, 28x28, 96                  float64  forward       45.32     37.63
32, 128, 14x14, 128                float64  forward       22.84     16.88
32, 128, 28x28, 128 (big_3x3)      float64  forward       85.01     56.16
16, 256, 7x7, 256                  float64  forward       14.70     18.06
16, 256, 14x14, 256                float64  forward       43.05     31.04
64, 64, 16x16, 64 (mid_3x3)        float32  grad_weight    7.11      7.64
16, 64, 56x56, 64                  float32  grad_weight   18.94     18.17
32, 128, 28x28, 128 (big_3x3)      float32  grad_weight   37.53     35.93
16, 256, 14x14, 256                float32  grad_weight   19.88     18.06
64, 64, 16x16, 64 (mid_3x3)        float64  grad_weight   13.48     13.57
16, 64, 56x56, 64                  float64  grad_weight   37.78     31.28
32, 128, 28x28, 128 (big_3x3)      float64  grad_weight   73.68     60.12
16, 256, 14x14, 256                float64  grad_weight   39.52     33.91
=================================  =======  ===========  ======  ========

Winograd wins from 128 channels (96 in float64) on 14x14 images and up, and
from 64 channels on 56x56 images: below that, its transforms and the unused
slot of each band of tiles cost more than the 2.25x fewer multiplications
save. The 96-channel float32 layer swung between runs (17.9 ms with
winograd against 23.0 direct in the run before this one) and stays direct.
The input gradient is a forward pass of the output gradient and followed
the forward column within a few percent in every row; the weight-gradient
rows (a later run, after its tiles learned to sum their lanes in registers)
cross over at the same sizes. The direct tiles beat im2col at stride 1
everywhere measured (mid_3x3 float32 forward 6.8 vs 10.6 ms, cifar_l1 0.9
vs 2.0 ms); pointwise layers run 4.7-5.1 ms with im2col's plain product and
5.4-6.6 ms direct (float32 forward, earlier runs).
"""

import numpy as np

from ._winograd_passes import applies as winograd_applies

# (fewest input and output channels, fewest output pixels P*Q) pairs from
# which the Winograd passes beat the direct tiles (table above).
WINOGRAD_FROM = {
    np.dtype(np.float32): ((128, 14 * 14), (64, 48 * 48)),
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
    if geom.stride != (1, 1) or (_is_pointwise(geom) and pass_name != "grad_weight"):
        return "im2col"
    if geom.groups == 1 and winograd_applies(geom) and _winograd_wins(geom, dtype):
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
