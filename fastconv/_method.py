"""What method="auto" chooses.

Rule of thumb until the crossovers are measured: im2col + GEMM pays off once
the matrices it multiplies are GEMM-sized, i.e. both the reduction depth
(C/groups)*R*S and the output channels per group are reasonably large;
otherwise the direct loops, which allocate nothing, win.
"""

GEMM_MIN_DEPTH = 32
GEMM_MIN_CHANNELS = 8


def choose_method(geom, pass_name):
    """"direct" or "im2col" for one pass ("forward", "grad_input", "grad_weight")."""
    depth = (geom.C // geom.groups) * geom.R * geom.S
    channels = geom.K // geom.groups
    if depth >= GEMM_MIN_DEPTH and channels >= GEMM_MIN_CHANNELS:
        return "im2col"
    return "direct"
