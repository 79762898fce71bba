"""Public 2-D convolution API, PyTorch-compatible (NCHW).

``conv2d`` computes the lecture's ``S = X * F + b``: a cross-correlation,
identical to ``torch.nn.functional.conv2d``::

    out[n, k, p, q] = bias[k] + sum_{c, r, s} x[n, g*C/groups + c, p*sh - pt + r*dh, q*sw - pl + s*dw]
                                              * weight[k, c, r, s]

with g = k // (K/groups) and zero padding. ``conv2d_grad_input`` and
``conv2d_grad_weight`` are its two gradients (vector-Jacobian products): given
``grad_output = dL/dout`` they return ``dL/dx`` and ``dL/dweight``.

Conventions shared by every function here:

* float32 and float64; results keep the input dtype. Mixed float32/float64
  arguments follow NumPy promotion (the result is float64).
* Inputs are never modified. Non-contiguous, Fortran-ordered and read-only
  arrays are accepted (copied to C order first when needed).
* An empty batch (N = 0) gives an empty result (zeros for the weight gradient).
* Thread safety: calls from several Python threads are safe; the engine
  serialises kernel launches (see :mod:`fastconv.engine`).
"""

import numpy as np
from numpy.typing import ArrayLike

from ._geometry import (
    ConvGeometry,
    FloatArray,
    IntPair,
    Padding,
    Shape4,
    as_float_array,
    check_method,
    conv_geometry,
    shape4,
)
from .engine import add_bias, resolve_method, run_pass


def _kernel_array(array, dtype):
    """C-contiguous, writeable array of ``dtype`` (a copy only when needed).

    Writeable because numba compiles read-only arrays as a separate type; a
    copy is cheaper than a second compilation. The kernels never write to it.
    """
    if array.dtype == dtype and array.flags.c_contiguous and array.flags.writeable:
        return array  # the common case, without np.require's checks (1 us a call)
    return np.require(array, dtype=dtype, requirements=("C", "W"))


def _check_grad_output(grad_output, geom):
    if grad_output.shape != geom.output_shape:
        raise ValueError(f"grad_output must have shape {geom.output_shape} for this geometry, got {grad_output.shape}")


def conv2d(
    x: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    stride: IntPair = 1,
    padding: Padding = 0,
    dilation: IntPair = 1,
    groups: int = 1,
    method: str = "auto",
) -> FloatArray:
    """2-D convolution (cross-correlation), as torch.nn.functional.conv2d.

    Parameters
    ----------
    x : array (N, C, H, W)
    weight : array (K, C/groups, R, S)
    bias : array (K,), optional
    stride, dilation : int or (int, int), each >= 1
    padding : int, (int, int), "valid" or "same"
        Zero padding on both sides; "same" (stride 1 only) keeps H x W and, as
        in PyTorch, puts the extra row/column at the bottom/right when the
        total is odd.
    groups : int
        C and K are split into ``groups`` independent convolutions.
    method : {"auto", "direct", "im2col", "winograd"}
        How to compute it; "auto" runs the method ``fastconv.tune`` measured
        fastest on this machine for this layer, or else follows the rule in
        ``fastconv/engine/choice.py``. "winograd" (F(4x4, 3x3)) takes only 3x3
        filters at stride 1 and dilation 1.

    Returns
    -------
    out : array (N, K, P, Q)
    """
    method = check_method(method)
    x = as_float_array(x, "x", 4)
    weight, bias, geom, method = check_conv2d(x, weight, bias, stride, padding, dilation, groups, method)
    return forward_pass(x, weight, bias, geom, method)


def check_conv2d(
    x, weight, bias, stride, padding, dilation, groups, method
) -> tuple[FloatArray, FloatArray | None, ConvGeometry, str]:
    """:func:`conv2d`'s checks: (weight, bias, geom, concrete method) for x of checked dtype and 4 dimensions.

    Only ``x``'s shape and dtype are read, so ``x`` may stand in for a larger
    array (:func:`fastconv.distributed.conv.conv2d` passes a view of zeros).
    """
    weight = as_float_array(weight, "weight", 4)
    geom = conv_geometry(x.shape, weight.shape, stride=stride, padding=padding, dilation=dilation, groups=groups)
    if bias is not None:
        bias = as_float_array(bias, "bias", 1)
        if bias.shape != (geom.K,):
            raise ValueError(f"bias must have shape ({geom.K},) to match weight, got {bias.shape}")
    dtype = np.result_type(x, weight) if bias is None else np.result_type(x, weight, bias)
    return weight, bias, geom, resolve_method(method, geom, "forward", dtype)


def forward_pass(
    x: FloatArray, weight: FloatArray, bias: FloatArray | None, geom: ConvGeometry, method: str
) -> FloatArray:
    """The forward convolution of checked operands with ``geom`` (padding per side) and a concrete method.

    Returns
    -------
    out : array (N, K, P, Q) of the operands' result dtype
    """
    dtype = np.result_type(x, weight) if bias is None else np.result_type(x, weight, bias)
    out = np.empty(geom.output_shape, dtype=dtype)
    run_pass("forward", method, geom, out, _kernel_array(x, dtype), _kernel_array(weight, dtype))
    if bias is not None:
        add_bias(out, np.ascontiguousarray(bias, dtype=dtype))
    return out


def conv2d_grad_input(
    grad_output: ArrayLike,
    weight: ArrayLike,
    input_shape: Shape4,
    *,
    stride: IntPair = 1,
    padding: Padding = 0,
    dilation: IntPair = 1,
    groups: int = 1,
    method: str = "auto",
) -> FloatArray:
    """Gradient of :func:`conv2d` with respect to its input.

    The lecture's dL/dX: the full correlation of the zero-padded output
    gradient with the 180-degree rotated filters, summed over filters.

    Parameters
    ----------
    grad_output : array (N, K, P, Q)
    weight : array (K, C/groups, R, S)
    input_shape : tuple (N, C, H, W)
    stride, padding, dilation, groups, method : as in :func:`conv2d`

    Returns
    -------
    grad_input : array (N, C, H, W)
    """
    method = check_method(method)
    grad_output = as_float_array(grad_output, "grad_output", 4)
    weight = as_float_array(weight, "weight", 4)
    input_shape = shape4(input_shape, "input_shape")
    geom = conv_geometry(
        input_shape,
        weight.shape,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        input_name="input_shape",
    )
    _check_grad_output(grad_output, geom)
    dtype = np.result_type(grad_output, weight)
    method = resolve_method(method, geom, "grad_input", dtype)
    grad_x = np.zeros(input_shape, dtype=dtype)
    return run_pass("grad_input", method, geom, grad_x, _kernel_array(grad_output, dtype), _kernel_array(weight, dtype))


def conv2d_grad_weight(
    grad_output: ArrayLike,
    x: ArrayLike,
    weight_shape: Shape4,
    *,
    stride: IntPair = 1,
    padding: Padding = 0,
    dilation: IntPair = 1,
    groups: int = 1,
    method: str = "auto",
) -> FloatArray:
    """Gradient of :func:`conv2d` with respect to the weights.

    The lecture's dL/dF_k = sum_c X_c * dL/dS_k, summed over the batch.

    Parameters
    ----------
    grad_output : array (N, K, P, Q)
    x : array (N, C, H, W)
    weight_shape : tuple (K, C/groups, R, S)
    stride, padding, dilation, groups, method : as in :func:`conv2d`

    Returns
    -------
    grad_weight : array (K, C/groups, R, S)
    """
    method = check_method(method)
    grad_output = as_float_array(grad_output, "grad_output", 4)
    x = as_float_array(x, "x", 4)
    weight_shape = shape4(weight_shape, "weight_shape")
    geom = conv_geometry(
        x.shape,
        weight_shape,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        weight_name="weight_shape",
    )
    _check_grad_output(grad_output, geom)
    dtype = np.result_type(grad_output, x)
    method = resolve_method(method, geom, "grad_weight", dtype)
    grad_weight = np.zeros(weight_shape, dtype=dtype)
    return run_pass(
        "grad_weight", method, geom, grad_weight, _kernel_array(grad_output, dtype), _kernel_array(x, dtype)
    )


def conv2d_grad_bias(grad_output: ArrayLike) -> FloatArray:
    """Gradient of :func:`conv2d` with respect to the bias.

    Parameters
    ----------
    grad_output : array (N, K, P, Q)

    Returns
    -------
    grad_bias : array (K,)
    """
    grad_output = as_float_array(grad_output, "grad_output", 4)
    return grad_output.sum(axis=(0, 2, 3), dtype=grad_output.dtype)
