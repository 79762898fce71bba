"""Bad input raises a ValueError/TypeError that names the offending argument."""

import numpy as np
import pytest

import fastconv

X = np.zeros((2, 4, 8, 8), dtype=np.float32)
W = np.zeros((6, 4, 3, 3), dtype=np.float32)
G = np.zeros((2, 6, 6, 6), dtype=np.float32)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(x=X[0]), ValueError, "x must be 4-D"),
        (dict(weight=W[0]), ValueError, "weight must be 4-D"),
        (dict(weight=np.zeros((6, 3, 3, 3), np.float32)), ValueError, "x has C=4 channels"),
        (dict(weight=np.zeros((6, 4, 3, 3), np.float32), groups=2), ValueError, "expects C"),
        (dict(weight=np.zeros((6, 1, 3, 3), np.float32), groups=3), ValueError, "groups=3 must divide the input"),
        (dict(weight=np.zeros((5, 2, 3, 3), np.float32), groups=2), ValueError, "groups=2 must divide the output"),
        (dict(groups=0), ValueError, "groups must be >= 1"),
        (dict(groups=1.0), TypeError, "groups must be an int"),
        (dict(x=X.astype(np.int32)), TypeError, "x must have dtype float32 or float64, got int32"),
        (dict(x=X.astype(bool)), TypeError, "x must have dtype .* got bool"),
        (dict(weight=W.astype(np.complex64)), TypeError, "weight must have dtype .* got complex64"),
        (dict(x=X.astype(np.float16)), TypeError, "x must have dtype"),
        (dict(x=[[1, 2], [3]]), TypeError, "x must be an array"),
        (dict(x="not an array"), TypeError, "x must have dtype"),
        (dict(bias=np.zeros(5, np.float32)), ValueError, r"bias must have shape \(6,\)"),
        (dict(bias=np.zeros((6, 1), np.float32)), ValueError, "bias must be 1-D"),
        (dict(bias=np.zeros(6, np.int64)), TypeError, "bias must have dtype"),
        (dict(stride=0), ValueError, "stride must be >= 1"),
        (dict(stride=(1, 0)), ValueError, "stride must be >= 1"),
        (dict(stride=(1, 2, 3)), TypeError, "stride must be an int or a pair"),
        (dict(stride=1.5), TypeError, "stride must be an int or a pair"),
        (dict(stride=True), TypeError, "stride must be an int or a pair"),
        (dict(dilation=0), ValueError, "dilation must be >= 1"),
        (dict(stride=2**63), ValueError, "stride must be at most 2147483647"),
        (dict(stride=(1, 2**70)), ValueError, "stride must be at most 2147483647"),
        (dict(padding=2**40), ValueError, "padding must be at most 2147483647"),
        (dict(padding=-1), ValueError, "padding must be >= 0"),
        (dict(padding=(0, -2)), ValueError, "padding must be >= 0"),
        (dict(padding="full"), ValueError, "padding must be an int, a pair of ints, 'valid' or 'same'"),
        (dict(padding="same", stride=2), ValueError, "padding='same' needs stride=1"),
        (dict(method="fast"), ValueError, "method must be one of"),
        (dict(method=None), ValueError, "method must be one of"),
        (dict(method="winograd", stride=2), ValueError, "method='winograd' needs 3x3 filters, stride 1"),
        (dict(method="winograd", dilation=2, padding=2), ValueError, r"method='winograd' .* dilation \(2, 2\)"),
        (dict(method="winograd", weight=np.zeros((6, 4, 5, 3), np.float32)), ValueError, "got filters 5x3"),
        (dict(weight=np.zeros((6, 4, 9, 3), np.float32)), ValueError, "larger than the padded input"),
        (dict(weight=np.zeros((6, 4, 3, 3), np.float32), dilation=4), ValueError, "dilated size 9x9"),
        (dict(weight=np.zeros((0, 4, 3, 3), np.float32)), ValueError, "weight must have every dimension >= 1"),
    ],
)
def test_conv2d_rejects(kwargs, error, match):
    args = dict(x=X, weight=W)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        fastconv.conv2d(**args)


def test_kernel_fits_once_padded():
    out = fastconv.conv2d(X, np.zeros((6, 4, 9, 3), np.float32), padding=1)
    assert out.shape == (2, 6, 2, 8)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: fastconv.conv2d_grad_input(G[:, :, :5], W, X.shape), r"grad_output must have shape \(2, 6, 6, 6\)"),
        (lambda: fastconv.conv2d_grad_input(G, W, X.shape, padding=1), r"grad_output must have shape \(2, 6, 8, 8\)"),
        (lambda: fastconv.conv2d_grad_weight(G, X, W.shape, stride=2), r"grad_output must have shape \(2, 6, 3, 3\)"),
        (lambda: fastconv.conv2d_grad_weight(G[0], X, W.shape), "grad_output must be 4-D"),
        (lambda: fastconv.conv2d_grad_input(G, W, (2, 4, 8)), "input_shape must be a tuple of 4 ints"),
        (lambda: fastconv.conv2d_grad_input(G, W, (2, 4, 8, 8.0)), "input_shape must be a tuple of 4 ints"),
        (lambda: fastconv.conv2d_grad_input(G, W, 5), "input_shape must be a tuple of 4 ints"),
        (lambda: fastconv.conv2d_grad_input(G, W, (2, 4, -8, 8)), "input_shape must not have negative"),
        (lambda: fastconv.conv2d_grad_input(G, W, (2, 3, 8, 8)), "input_shape has C=3 channels"),
        (lambda: fastconv.conv2d_grad_weight(G, X, (6, 4, 3)), "weight_shape must be a tuple of 4 ints"),
        (lambda: fastconv.conv2d_grad_weight(G, X, (6, 4, 3, 3), method="gemm"), "method must be one of"),
        (lambda: fastconv.conv2d_grad_weight(G.astype(np.int8), X, W.shape), "grad_output must have dtype"),
        (
            lambda: fastconv.conv2d_grad_input(G[:, :, :4, :4], W, X.shape, dilation=2, method="winograd"),
            "method='winograd' needs 3x3 filters",
        ),
        (lambda: fastconv.conv2d_grad_bias(G[0]), "grad_output must be 4-D"),
        (lambda: fastconv.conv2d_grad_bias(G.astype(complex)), "grad_output must have dtype"),
    ],
)
def test_gradients_reject(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
