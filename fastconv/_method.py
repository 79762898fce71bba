"""What method="auto" chooses, from crossovers measured with ``fastconv bench``.

(table filled in from the measured run)
"""

from ._winograd_passes import applies as winograd_applies


def _is_pointwise(geom):
    return (geom.R, geom.S, geom.stride, geom.pad_top, geom.pad_bottom, geom.pad_left, geom.pad_right) == (
        1, 1, (1, 1), 0, 0, 0, 0)


def choose_method(geom, pass_name):
    """"direct", "im2col" or "winograd" for one pass ("forward", "grad_input", "grad_weight")."""
    if winograd_applies(geom) and geom.groups == 1 and min(geom.C, geom.K) >= WINOGRAD_MIN_CHANNELS:
        return "winograd"
    if geom.stride == (1, 1) and not _is_pointwise(geom):
        return "direct"
    return "im2col"


# Fewest input and output channels at which the Winograd products beat the direct tiles.
WINOGRAD_MIN_CHANNELS = 32


def resolve_method(method, geom, pass_name):
    """The method to run: auto's choice, or ``method`` if it can compute this geometry (else ValueError)."""
    if method == "auto":
        return choose_method(geom, pass_name)
    if method == "winograd" and not winograd_applies(geom):
        raise ValueError(f"method='winograd' needs 3x3 filters, stride 1 and dilation 1; got filters "
                         f"{geom.R}x{geom.S}, stride {geom.stride}, dilation {geom.dilation}")
    return method
