"""Argument checking and normalised geometry for 2-D convolution.

Everything a kernel needs to know about the shapes is computed (and checked)
here once: stride/padding/dilation as pairs, asymmetric padding for
``padding="same"``, and the output size. Errors name the argument, what was
expected and what was given.
"""

import numbers
import warnings
from dataclasses import dataclass, fields, replace
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._names import DTYPE_NAMES, METHOD_CHOICES

SUPPORTED_DTYPES = tuple(np.dtype(name) for name in DTYPE_NAMES)

# Type hints of the public API.
IntPair = int | tuple[int, int]
Padding = int | tuple[int, int] | str
Shape4 = tuple[int, int, int, int]
FloatArray = NDArray[np.floating]


STEM_MAX_CHANNELS = 4  # input channels per group of a stem (ConvGeometry.stem)


@dataclass(frozen=True)
class ConvGeometry:
    """Shapes of one convolution, with padding split per side.

    The output is (N, K, P, Q) with
    ``P = (H + pad_top + pad_bottom - dilation_h*(R-1) - 1) // stride_h + 1``
    and Q likewise.
    """

    N: int
    C: int
    H: int
    W: int
    K: int
    R: int
    S: int
    groups: int
    stride: tuple
    dilation: tuple
    pad_top: int
    pad_bottom: int
    pad_left: int
    pad_right: int
    P: int
    Q: int

    @cached_property
    def _hash(self):
        return hash(tuple(getattr(self, f.name) for f in fields(self)))

    def __hash__(self):
        """Computed once: auto's memo hashes the geometry on every call."""
        return self._hash

    @property
    def input_shape(self):
        return (self.N, self.C, self.H, self.W)

    @property
    def weight_shape(self):
        return (self.K, self.C // self.groups, self.R, self.S)

    @property
    def kernel_size(self):
        return (self.R, self.S)

    @property
    def padded_size(self):
        """(height, width) of the input's zero-padded planes: (H + pad_top + pad_bottom, W + pad_left + pad_right)."""
        return (self.H + self.pad_top + self.pad_bottom, self.W + self.pad_left + self.pad_right)

    @property
    def span(self):
        """Rows and columns of input one dilated filter covers: (dilation_h*(R-1)+1, dilation_w*(S-1)+1)."""
        return (self.dilation[0] * (self.R - 1) + 1, self.dilation[1] * (self.S - 1) + 1)

    @property
    def pointwise(self):
        """1x1 filters, stride 1, no padding: an image's column matrix is the image itself."""
        return (self.R, self.S, self.stride, self.pad_top, self.pad_bottom, self.pad_left, self.pad_right) == (
            1,
            1,
            (1, 1),
            0,
            0,
            0,
            0,
        )

    @property
    def column_filter(self):
        """Filters one column wide (S == 1) at stride 1, unpadded along the width, other than pointwise: an
        image's columns of filter row r are its planes' rows shifted by r*dilation_h, runs of each plane."""
        unpadded_width = self.pad_left == self.pad_right == 0
        return self.S == 1 and self.stride == (1, 1) and unpadded_width and not self.pointwise

    @property
    def stem(self):
        """A network's first strided layer: at most STEM_MAX_CHANNELS input channels per group, undilated
        filters wider than the stride (they overlap)."""
        overlapping = self.R > self.stride[0] or self.S > self.stride[1]
        strided = self.stride != (1, 1)
        return strided and overlapping and self.dilation == (1, 1) and self.C // self.groups <= STEM_MAX_CHANNELS

    @property
    def output_shape(self):
        return (self.N, self.K, self.P, self.Q)

    @property
    def kernel_args(self):
        """The trailing scalar arguments every kernel takes, in order."""
        return (self.stride[0], self.stride[1], self.pad_top, self.pad_left, self.dilation[0], self.dilation[1])

    @cached_property
    def flops(self):
        """Multiply-adds times two of one pass: 2*N*K*P*Q*(C/groups)*R*S (computed once: every call asks)."""
        return 2 * self.N * self.K * self.P * self.Q * (self.C // self.groups) * self.R * self.S


# Largest size, stride, padding or dilation taken: index arithmetic in the kernels stays far from int64 overflow.
MAX_INT = 2**31 - 1


def _is_int(value):
    if type(value) is int:  # the common case, without the slower abstract-class check below
        return True
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _check_at_most(values, name, original):
    if any(v > MAX_INT for v in values):
        raise ValueError(f"{name} must be at most {MAX_INT}, got {original!r}")


def positive_int(value, name):
    """``value`` as an int >= 1, or a clear error naming ``name``."""
    if not _is_int(value):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    _check_at_most((value,), name, value)
    return int(value)


def float_dtype(dtype, name="dtype"):
    """float32 or float64 as a NumPy dtype, or a TypeError naming ``name``."""
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be float32 or float64, got {dtype!r}") from None
    if dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got {dtype}")
    return dtype


def int_pair(value: Any, name: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints, each >= minimum, as a tuple of two Python ints."""
    items = (value, value) if _is_int(value) else value
    try:
        items = tuple(items)
    except TypeError:
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}") from None
    if len(items) != 2 or not all(_is_int(v) for v in items):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if any(v < minimum for v in items):
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    _check_at_most(items, name, value)
    return int(items[0]), int(items[1])


def single_int(value: Any, name: str, minimum: int) -> int:
    """An int or a 1-tuple of an int (PyTorch's 1-D sizes), >= minimum, as a Python int."""
    items = (value,) if _is_int(value) else value
    try:
        items = tuple(items)
    except TypeError:
        raise TypeError(f"{name} must be an int or a 1-tuple of an int, got {value!r}") from None
    if len(items) != 1 or not _is_int(items[0]):
        raise TypeError(f"{name} must be an int or a 1-tuple of an int, got {value!r}")
    if items[0] < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    _check_at_most(items, name, value)
    return int(items[0])


def optional_int_pair(value: Any, name: str) -> tuple[int | None, int | None]:
    """An int or a pair whose entries are ints >= 1 or None (adaptive pooling's output_size)."""
    items = (value, value) if _is_int(value) else value
    try:
        items = tuple(items)
    except TypeError:
        raise TypeError(f"{name} must be an int or a pair of ints or None, got {value!r}") from None
    if len(items) != 2 or not all(v is None or _is_int(v) for v in items):
        raise TypeError(f"{name} must be an int or a pair of ints or None, got {value!r}")
    if any(v is not None and v < 1 for v in items):
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    _check_at_most([v for v in items if v is not None], name, value)
    return tuple(None if v is None else int(v) for v in items)  # type: ignore[return-value]


def real_in(
    value: Any, name: str, low: float, high: float = float("inf"), *, low_open: bool = False, high_open: bool = False
) -> float:
    """A finite real number between ``low`` and ``high`` (each end closed unless said open) as a float, or a clear error."""
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    above = low < value if low_open else low <= value
    below = value < high if high_open else value <= high
    if not (above and below):
        raise ValueError(
            f"{name} must be in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}, got {value!r}"
        )
    return value


def output_padding_pair(output_padding: Any, stride: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, int]:
    """A transposed convolution's output_padding: >= 0 and, as in PyTorch, below stride or dilation."""
    pair = int_pair(output_padding, "output_padding", 0)
    if any(o >= max(s, d) for o, s, d in zip(pair, stride, dilation)):
        raise ValueError(
            f"output_padding must be smaller than either stride or dilation, got output_padding={pair}, "
            f"stride={stride}, dilation={dilation}"
        )
    return pair


def _padding_per_side(padding, kernel_size, dilation, stride):
    """(top, bottom, left, right) from an int, a pair, "valid" or "same"."""
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0, 0, 0
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"padding='same' needs stride=1 (as in PyTorch), got stride={stride}")
            sides = []
            for k, d in zip(kernel_size, dilation):
                total = d * (k - 1)
                # PyTorch's rule: an odd total puts the extra row/column at the end.
                sides += [total // 2, total - total // 2]
            return tuple(sides)
        raise ValueError(f"padding must be an int, a pair of ints, 'valid' or 'same', got {padding!r}")
    ph, pw = int_pair(padding, "padding", 0)
    return ph, ph, pw, pw


def shape4(value: Any, name: str) -> Shape4:
    """A 4-tuple of non-negative ints (a shape argument such as input_shape)."""
    try:
        items = tuple(value)
    except TypeError:
        raise TypeError(f"{name} must be a tuple of 4 ints, got {value!r}") from None
    if len(items) != 4 or not all(_is_int(v) for v in items):
        raise TypeError(f"{name} must be a tuple of 4 ints, got {value!r}")
    if any(v < 0 for v in items):
        raise ValueError(f"{name} must not have negative sizes, got {items}")
    _check_at_most(items, name, value)
    N, C, H, W = (int(v) for v in items)
    return N, C, H, W


def check_groups(groups):
    """``groups`` as an int >= 1, or a clear error."""
    return positive_int(groups, "groups")


def conv_options(C, weight_shape, *, stride=1, padding=0, dilation=1, groups=1, input_name="x", weight_name="weight"):
    """Check everything about a convolution but the input's spatial size.

    C is the input's channel count, weight_shape (K, C/groups, R, S). Returns
    ``(stride, dilation, (pad_top, pad_bottom, pad_left, pad_right))``.
    """
    K, Cg, R, S = weight_shape
    groups = check_groups(groups)
    if C % groups:
        raise ValueError(f"groups={groups} must divide the input channels of {input_name}, got C={C}")
    if K % groups:
        raise ValueError(f"groups={groups} must divide the output channels of {weight_name}, got K={K}")
    if min(K, Cg, R, S) < 1:
        raise ValueError(f"{weight_name} must have every dimension >= 1, got shape {tuple(weight_shape)}")
    if Cg * groups != C:
        raise ValueError(
            f"{input_name} has C={C} channels but {weight_name} of shape {tuple(weight_shape)} with "
            f"groups={groups} expects C = {weight_name}.shape[1]*groups = {Cg * groups}"
        )
    stride = int_pair(stride, "stride", 1)
    dilation = int_pair(dilation, "dilation", 1)
    return stride, dilation, _padding_per_side(padding, (R, S), dilation, stride)


# Geometries computed before, by their arguments: a training loop asks for the same few on every step.
_GEOMETRIES: dict = {}
_MAX_REMEMBERED = 1024


def conv_geometry(
    input_shape, weight_shape, *, stride=1, padding=0, dilation=1, groups=1, input_name="x", weight_name="weight"
):
    """Check a convolution's shapes and options; return its :class:`ConvGeometry`.

    input_shape is (N, C, H, W), weight_shape (K, C/groups, R, S), each a
    tuple of ints >= 0 (an array's shape, or checked by :func:`shape4`). Valid
    arguments seen before are answered from memory.
    """
    key = (input_shape, weight_shape, stride, padding, dilation, groups, input_name, weight_name)
    # Options equal to remembered ones but of another type (True for 1, 1.0 for 1) are checked.
    plain = _plain(stride) and _plain(padding) and _plain(dilation) and _plain(groups)
    if plain and key in _GEOMETRIES:
        return _GEOMETRIES[key]
    geom = _checked_geometry(input_shape, weight_shape, stride, padding, dilation, groups, input_name, weight_name)
    if plain and len(_GEOMETRIES) < _MAX_REMEMBERED:
        _GEOMETRIES[key] = geom
    return geom


def _plain(value):
    """Whether ``value`` is a str, an int or a pair of ints, each of exactly that type."""
    kind = type(value)
    return kind is int or kind is str or (kind is tuple and len(value) == 2 and type(value[0]) is type(value[1]) is int)


def _checked_geometry(input_shape, weight_shape, stride, padding, dilation, groups, input_name, weight_name):
    N, C, H, W = input_shape
    K, _, R, S = weight_shape
    stride, dilation, (top, bottom, left, right) = conv_options(
        C,
        weight_shape,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        input_name=input_name,
        weight_name=weight_name,
    )
    span_h = dilation[0] * (R - 1) + 1
    span_w = dilation[1] * (S - 1) + 1
    if span_h > H + top + bottom or span_w > W + left + right:
        raise ValueError(
            f"kernel of {weight_name} (dilated size {span_h}x{span_w}) is larger than the padded "
            f"input of {input_name} ({H + top + bottom}x{W + left + right})"
        )
    return block_geometry(
        ConvGeometry(N, C, H, W, K, R, S, groups, stride, dilation, top, bottom, left, right, 0, 0),
        N,
        H,
        W,
        (top, bottom, left, right),
    )


def block_geometry(geom: ConvGeometry, N: int, H: int, W: int, padding: tuple[int, int, int, int]) -> ConvGeometry:
    """``geom``'s convolution over another input size (N, C, H, W) with padding (top, bottom, left, right).

    For a block of a larger input (:mod:`fastconv.distributed.conv`); the
    caller makes sure the padded block holds at least one filter.
    """
    top, bottom, left, right = padding
    span_h, span_w = geom.span
    P = (H + top + bottom - span_h) // geom.stride[0] + 1
    Q = (W + left + right - span_w) // geom.stride[1] + 1
    return replace(geom, N=N, H=H, W=W, pad_top=top, pad_bottom=bottom, pad_left=left, pad_right=right, P=P, Q=Q)


def as_float_array(value: object, name: str, ndim: int | None = None) -> FloatArray:
    """``value`` as a NumPy float32/float64 array (not yet copied), or a clear error."""
    if type(value) is np.ndarray and value.dtype in SUPPORTED_DTYPES and (ndim is None or value.ndim == ndim):
        return value  # the common case, without the checks below
    try:
        with warnings.catch_warnings():
            # numpy < 1.24 only warns about ragged sequences; treat that as the error it became.
            warnings.simplefilter("error")
            array = np.asarray(value)
    except (ValueError, TypeError, Warning) as exc:
        raise TypeError(f"{name} must be an array of float32 or float64, got {type(value).__name__}: {exc}") from None
    if array.dtype.kind == "f" and not array.dtype.isnative and array.dtype.newbyteorder("=") in SUPPORTED_DTYPES:
        array = array.astype(array.dtype.newbyteorder("="))  # big-endian data, as files from other machines hold
    if array.dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"{name} must have dtype float32 or float64, got {array.dtype}")
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got {array.ndim}-D with shape {array.shape}")
    return array


def check_method(method):
    """``method`` if it is one of ``METHOD_CHOICES``, else a ValueError."""
    if not isinstance(method, str) or method not in METHOD_CHOICES:
        raise ValueError(f"method must be one of {METHOD_CHOICES}, got {method!r}")
    return method


def winograd_applies(kernel_size, stride, dilation):
    """Whether F(4x4, 3x3) computes a layer: 3x3 filters, stride 1, dilation 1 (pairs)."""
    return (tuple(kernel_size), tuple(stride), tuple(dilation)) == ((3, 3), (1, 1), (1, 1))


def check_method_applies(method, kernel_size, stride, dilation):
    """A ValueError naming ``method`` unless it can compute layers with these filters (pairs)."""
    if method == "winograd" and not winograd_applies(kernel_size, stride, dilation):
        R, S = kernel_size
        raise ValueError(
            f"method='winograd' needs 3x3 filters, stride 1 and dilation 1; got filters {R}x{S} "
            f"(kernel_size {(R, S)}), stride {tuple(stride)}, dilation {tuple(dilation)}"
        )
