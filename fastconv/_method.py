"""What method="auto" chooses, from crossovers measured with ``fastconv bench``.

Milliseconds on 2 threads (this project's machine, `fastconv bench --repeat 5..7`):

=========  =======  ===========  ======  ======
shape      dtype    pass         direct  im2col
=========  =======  ===========  ======  ======
lecture    float32  forward        0.83    2.04
lecture    float32  grad_weight    0.95    4.91
lecture    float64  forward        2.81    4.02
cifar_l1   float32  forward        4.08    2.55
cifar_l1   float32  grad_weight    2.50    4.17
cifar_l1   float64  grad_input    10.00    3.54
cifar_l1   float64  grad_weight    4.19    5.66
mid_3x3    float32  forward       22.80   10.39
mid_3x3    float32  grad_weight   23.80   12.68
big_3x3    float64  grad_weight  373.11   88.00
pointwise  float32  forward       19.09    4.77
=========  =======  ===========  ======  ======

The direct stride-1 kernels stream each input row once per filter tap and
output channel; they win while there are few output channels per group (the
lecture's K=4, depthwise layers), where a GEMM would be a thin sliver. The
direct weight gradient keeps one image's rows in L1 for all taps and wins up
to 16 output channels per group (cifar_l1). Above that im2col + BLAS wins by
1.5x to 4x. With a stride above 1 the direct loops cannot use the
contiguous-row kernels and run at 3-5 GFLOP/s, so im2col is chosen there too.
"""

# Largest K/groups for which the direct stride-1 kernels beat im2col, per pass.
DIRECT_MAX_CHANNELS_PER_GROUP = {"forward": 8, "grad_input": 8, "grad_weight": 16}


def choose_method(geom, pass_name):
    """"direct" or "im2col" for one pass ("forward", "grad_input", "grad_weight")."""
    if geom.stride == (1, 1) and geom.K // geom.groups <= DIRECT_MAX_CHANNELS_PER_GROUP[pass_name]:
        return "direct"
    return "im2col"
