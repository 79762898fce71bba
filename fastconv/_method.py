"""What method="auto" chooses, from crossovers measured with ``fastconv bench``.

Milliseconds on 2 threads (this project's machine, `fastconv bench --repeat 5`):

=========  =======  ===========  ======  ======
shape      dtype    pass         direct  im2col
=========  =======  ===========  ======  ======
lecture    float32  forward        0.93    2.01
lecture    float32  grad_weight    2.29    4.84
lecture    float64  forward        3.14    4.08
cifar_l1   float32  forward        4.15    2.92
cifar_l1   float64  grad_input    10.31    3.75
mid_3x3    float32  forward       22.89   10.50
big_3x3    float64  grad_weight  432.87  107.93
pointwise  float32  forward       16.94    6.89
=========  =======  ===========  ======  ======

The direct stride-1 kernels stream each input row once per filter tap and
output channel; they win while there are few output channels per group (the
lecture's K=4, depthwise layers), where a GEMM would be a thin sliver. From
K/groups = 16 up (cifar_l1 and larger), im2col + BLAS wins by 1.5x to 4x.
With a stride above 1 the direct loops cannot use the contiguous-row kernels
and run at 3-5 GFLOP/s, so im2col is chosen there too.
"""

DIRECT_MAX_CHANNELS_PER_GROUP = 8


def choose_method(geom, pass_name):
    """"direct" or "im2col" for one pass ("forward", "grad_input", "grad_weight")."""
    if geom.stride == (1, 1) and geom.K // geom.groups <= DIRECT_MAX_CHANNELS_PER_GROUP:
        return "direct"
    return "im2col"
