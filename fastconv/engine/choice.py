"""What ``method="auto"`` runs: a rule drawn from crossovers measured with ``fastconv bench``.

* Stride above 1: im2col; the direct loops have no tiles for strides.
* Pointwise layers (1x1 filters, stride 1, no padding): im2col for the
  forward pass and the input gradient (plain BLAS products), direct for the
  weight gradient.
* 3x3 filters at stride 1 and dilation 1, no groups, at least 64 channels in
  and out, outputs of at least 7x7: winograd, whose 4x fewer multiplications
  only wide layers repay (its transforms cost a fixed time per pixel and
  channel). The same rule in both dtypes.
* Every other stride-1 layer: direct.

``crossovers.md`` beside this file holds the measurements behind the numbers.
"""

from .._geometry import check_method_applies, winograd_applies

WINOGRAD_MIN_CHANNELS = 64  # fewest channels in and out
WINOGRAD_MIN_SIDE = 7  # fewest output rows and columns


def _winograd_wins(geom):
    return (
        geom.groups == 1
        and winograd_applies(geom.kernel_size, geom.stride, geom.dilation)
        and min(geom.C, geom.K) >= WINOGRAD_MIN_CHANNELS
        and min(geom.P, geom.Q) >= WINOGRAD_MIN_SIDE
    )


def choose_method(geom, pass_name):
    """ "direct", "im2col" or "winograd" for one pass ("forward", "grad_input", "grad_weight") of ``geom``."""
    if geom.stride != (1, 1) or (geom.pointwise and pass_name != "grad_weight"):
        return "im2col"
    if _winograd_wins(geom):
        return "winograd"
    return "direct"


def resolve_method(method, geom, pass_name):
    """The method to run: auto's choice, or ``method`` if it can compute ``geom`` (else ValueError)."""
    if method == "auto":
        return choose_method(geom, pass_name)
    check_method_applies(method, geom.kernel_size, geom.stride, geom.dilation)
    return method
