"""The layers beyond the lecture's: BatchNorm2d, Dropout, AvgPool2d, AdaptiveAvgPool2d, Conv1d, ConvTranspose2d.

Each against formulas written here in plain NumPy (loops over window taps,
PyTorch's documented rules), its gradients against centred differences in
float64, train/eval behaviour and save/load round trips.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastconv
from fastconv import nn
from fastconv.nn import gradcheck
from fastconv.nn.models import build_model

GRAD_TOL = 1e-6


# ----------------------------------------------------------------------------- references


def batch_norm_reference(x, weight, bias, eps, mean=None, var=None):
    """(x - mean) / sqrt(var + eps) * weight + bias per channel; batch statistics (biased var) if not given."""
    if mean is None:
        mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    c = lambda v: np.asarray(v, dtype=np.float64).reshape(1, -1, 1, 1)
    return (x - c(mean)) / np.sqrt(c(var) + eps) * c(weight) + c(bias)


def pool_windows(size, k, s, pad, ceil_mode):
    """PyTorch's avg_pool2d windows along one axis: (start, end) in padded-clipped input coordinates."""
    out = (size + 2 * pad - k + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + pad:
        out -= 1
    return [(o * s - pad, min(o * s - pad + k, size + pad)) for o in range(out)]


def avg_pool_reference(x, k, s, pad, ceil_mode=False, count_include_pad=True, divisor_override=None):
    """One output at a time, straight from PyTorch's documented rule."""
    N, C, H, W = x.shape
    rows, cols = pool_windows(H, k, s, pad, ceil_mode), pool_windows(W, k, s, pad, ceil_mode)
    out = np.zeros((N, C, len(rows), len(cols)))
    for p, (h0, h1) in enumerate(rows):
        for q, (w0, w1) in enumerate(cols):
            pool_size = (h1 - h0) * (w1 - w0)
            a0, a1, b0, b1 = max(h0, 0), min(h1, H), max(w0, 0), min(w1, W)
            total = x[:, :, a0:a1, b0:b1].sum(axis=(2, 3))
            if divisor_override:
                divisor = divisor_override
            else:
                divisor = pool_size if count_include_pad else (a1 - a0) * (b1 - b0)
            out[:, :, p, q] = total / divisor
    return out


def adaptive_avg_pool_reference(x, P, Q):
    N, C, H, W = x.shape
    out = np.zeros((N, C, P, Q))
    for p in range(P):
        for q in range(Q):
            h0, h1 = (p * H) // P, -(-((p + 1) * H) // P)
            w0, w1 = (q * W) // Q, -(-((q + 1) * W) // Q)
            out[:, :, p, q] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return out


def conv1d_reference(x, w, b, stride, pad, dilation, groups):
    """out[n, k, l] = b[k] + sum_{c, s} x_padded[n, group(k) * C/groups + c, l*stride + s*dilation] * w[k, c, s]."""
    N, C, L = x.shape
    K, Cg, S = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad)))
    L_out = (L + 2 * pad - dilation * (S - 1) - 1) // stride + 1
    out = np.zeros((N, K, L_out)) + (0 if b is None else b.reshape(1, -1, 1))
    for k in range(K):
        g = k // (K // groups)
        for c in range(Cg):
            for s in range(S):
                taps = xp[:, g * Cg + c, s * dilation : s * dilation + stride * (L_out - 1) + 1 : stride]
                out[:, k] += taps * w[k, c, s]
    return out


def conv_transpose_reference(x, w, b, stride, pad, output_padding, groups, dilation):
    """Scatter form: every x[n, ci, i, j] adds x * w[ci, co, r, s] at output (i*sh - ph + r*dh, j*sw - pw + s*dw)."""
    N, C_in, H, W = x.shape
    _, Cg_out, R, S = w.shape
    (sh, sw), (ph, pw), (oh, ow), (dh, dw) = stride, pad, output_padding, dilation
    H_out = (H - 1) * sh - 2 * ph + dh * (R - 1) + oh + 1
    W_out = (W - 1) * sw - 2 * pw + dw * (S - 1) + ow + 1
    # Scatter into an output framed by ph/pw rows on each side (plus room for the last taps), then crop.
    full = np.zeros((N, Cg_out * groups, H_out + 2 * ph + sh + dh * R, W_out + 2 * pw + sw + dw * S))
    Cg_in = C_in // groups
    for ci in range(C_in):
        g = ci // Cg_in
        for co in range(Cg_out):
            for r in range(R):
                for s in range(S):
                    rows = slice(r * dh, r * dh + sh * (H - 1) + 1, sh)
                    cols = slice(s * dw, s * dw + sw * (W - 1) + 1, sw)
                    full[:, g * Cg_out + co, rows, cols] += x[:, ci] * w[ci, co, r, s]
    out = full[:, :, ph : ph + H_out, pw : pw + W_out]
    return out + (0 if b is None else b.reshape(1, -1, 1, 1))


# ----------------------------------------------------------------------------- gradient checks


def _dropout_with_fixed_mask(p):
    """A Dropout whose every forward draws the same mask, so centred differences see one function."""

    class FixedMask(nn.Dropout):
        def _forward(self, x):
            self.rng = np.random.default_rng(7)
            return super()._forward(x)

    return FixedMask(p)


def _batch_norm(affine=True, track=True, eval_mode=False, momentum=0.1):
    layer = nn.BatchNorm2d(3, affine=affine, track_running_stats=track, momentum=momentum, dtype=np.float64)
    if affine:
        layer.params["weight"][...] = [0.5, 1.5, -2.0]
        layer.params["bias"][...] = [0.1, 0.2, -0.3]
    if track:
        layer.buffers["running_mean"][...] = [0.3, -0.2, 0.1]
        layer.buffers["running_var"][...] = [0.7, 1.3, 2.0]
    return layer.train(not eval_mode)


LAYERS = {
    "batchnorm_train": (lambda: _batch_norm(), (4, 3, 5, 5)),
    "batchnorm_no_affine": (lambda: _batch_norm(affine=False), (4, 3, 3, 2)),
    "batchnorm_eval": (lambda: _batch_norm(eval_mode=True), (2, 3, 4, 4)),
    "batchnorm_eval_untracked": (lambda: _batch_norm(track=False, eval_mode=True), (3, 3, 2, 3)),
    "dropout": (lambda: _dropout_with_fixed_mask(0.3), (3, 4, 5, 5)),
    "dropout_2d_input": (lambda: _dropout_with_fixed_mask(0.6), (6, 7)),
    "avgpool": (lambda: nn.AvgPool2d(2), (2, 3, 6, 7)),
    "avgpool_overlap_pad": (lambda: nn.AvgPool2d(3, stride=2, padding=1), (2, 2, 7, 8)),
    "avgpool_ceil_exclude_pad": (
        lambda: nn.AvgPool2d((3, 2), stride=(2, 3), padding=(1, 1), ceil_mode=True, count_include_pad=False),
        (2, 2, 8, 9),
    ),
    "avgpool_divisor": (lambda: nn.AvgPool2d(2, stride=1, divisor_override=3), (1, 2, 4, 5)),
    "adaptive_global": (lambda: nn.AdaptiveAvgPool2d(1), (3, 4, 5, 6)),
    "adaptive_divides": (lambda: nn.AdaptiveAvgPool2d((2, 3)), (2, 3, 6, 6)),
    "adaptive_overlapping": (lambda: nn.AdaptiveAvgPool2d((3, 4)), (2, 2, 7, 5)),
    "adaptive_none": (lambda: nn.AdaptiveAvgPool2d((None, 2)), (2, 2, 3, 5)),
    "conv1d": (lambda: nn.Conv1d(3, 4, 3, dtype=np.float64, rng=0), (2, 3, 9)),
    "conv1d_options": (
        lambda: nn.Conv1d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2, dtype=np.float64, rng=0),
        (2, 4, 11),
    ),
    "conv1d_same_no_bias": (lambda: nn.Conv1d(2, 3, 4, padding="same", bias=False, dtype=np.float64, rng=0), (2, 2, 7)),
    "convT": (lambda: nn.ConvTranspose2d(3, 4, 3, dtype=np.float64, rng=0), (2, 3, 5, 4)),
    "convT_stride_pad_outpad": (
        lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, dtype=np.float64, rng=0),
        (2, 4, 4, 5),
    ),
    "convT_dilation_outpad_above_stride": (
        lambda: nn.ConvTranspose2d(2, 3, (2, 3), padding=(1, 0), output_padding=1, dilation=2, dtype=np.float64, rng=0),
        (2, 2, 4, 5),
    ),
    "convT_no_bias_rect": (
        lambda: nn.ConvTranspose2d(
            2, 2, (3, 2), stride=(3, 2), output_padding=(2, 0), bias=False, dtype=np.float64, rng=0
        ),
        (1, 2, 3, 4),
    ),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_gradients_against_centred_differences(name, rng):
    make, shape = LAYERS[name]
    layer = make()
    if "bias" in layer.params:
        layer.params["bias"][...] += 0.1
    errors = gradcheck.check_layer(layer, rng.standard_normal(shape))
    assert set(errors) == set(layer.params) | {"input"}
    assert max(errors.values()) < GRAD_TOL, errors


# ----------------------------------------------------------------------------- BatchNorm2d


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_training_and_running_statistics_follow_pytorchs_formulas(dtype, rng):
    layer = nn.BatchNorm2d(3, eps=1e-3, momentum=0.2, dtype=dtype)
    layer.params["weight"][...] = [0.5, 1.5, -2.0]
    layer.params["bias"][...] = [0.1, 0.2, -0.3]
    running_mean, running_var = np.zeros(3), np.ones(3)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for step in range(3):
        x = (rng.standard_normal((4, 3, 5, 6)) * [1.0, 2.0, 0.5][step] + step).astype(dtype)
        out = layer.forward(x)
        assert out.dtype == dtype
        np.testing.assert_allclose(
            out, batch_norm_reference(x.astype(np.float64), [0.5, 1.5, -2.0], [0.1, 0.2, -0.3], 1e-3), **tol
        )
        x64 = x.astype(np.float64)
        running_mean = 0.8 * running_mean + 0.2 * x64.mean(axis=(0, 2, 3))
        running_var = 0.8 * running_var + 0.2 * x64.var(axis=(0, 2, 3), ddof=1)  # unbiased
        np.testing.assert_allclose(layer.buffers["running_mean"], running_mean, **tol)
        np.testing.assert_allclose(layer.buffers["running_var"], running_var, **tol)
        assert layer.buffers["num_batches_tracked"] == step + 1
    layer.eval()
    x = rng.standard_normal((2, 3, 4, 4)).astype(dtype)
    expected = batch_norm_reference(
        x.astype(np.float64), [0.5, 1.5, -2.0], [0.1, 0.2, -0.3], 1e-3, running_mean, running_var
    )
    np.testing.assert_allclose(layer.forward(x), expected, **tol)
    assert layer.buffers["num_batches_tracked"] == 3  # evaluation leaves the statistics alone
    np.testing.assert_allclose(layer.buffers["running_mean"], running_mean, **tol)


def test_batch_norm_cumulative_average_and_untracked(rng):
    layer = nn.BatchNorm2d(2, momentum=None, dtype=np.float64)
    xs = [rng.standard_normal((3, 2, 4, 4)) + i for i in range(4)]
    for x in xs:
        layer.forward(x)
    np.testing.assert_allclose(layer.buffers["running_mean"], np.mean([x.mean(axis=(0, 2, 3)) for x in xs], axis=0))
    np.testing.assert_allclose(
        layer.buffers["running_var"], np.mean([x.var(axis=(0, 2, 3), ddof=1) for x in xs], axis=0)
    )
    untracked = nn.BatchNorm2d(2, affine=False, track_running_stats=False, dtype=np.float64).eval()
    assert untracked.params == {} and untracked.buffers == {}
    np.testing.assert_allclose(untracked.forward(xs[0]), batch_norm_reference(xs[0], 1.0, 0.0, 1e-5))


def test_batch_norm_refuses_one_value_per_channel_when_training():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm2d(2).forward(np.zeros((1, 2, 1, 1), dtype=np.float32))
    assert nn.BatchNorm2d(2).eval().forward(np.ones((1, 2, 1, 1), dtype=np.float32)).shape == (1, 2, 1, 1)


# ----------------------------------------------------------------------------- Dropout


def test_dropout_zeroes_and_scales_in_training_and_is_identity_in_eval(rng):
    x = rng.standard_normal((50, 40, 10)).astype(np.float32)
    x_before = x.copy()
    layer = nn.Dropout(0.3, rng=0)
    out = layer.forward(x)
    kept = out != 0
    assert out.dtype == np.float32
    assert abs(1 - kept.mean() - 0.3) < 0.01
    np.testing.assert_array_equal(out[kept], x[kept] * np.float32(1 / 0.7))
    grad = rng.standard_normal(x.shape).astype(np.float32)
    np.testing.assert_array_equal(layer.backward(grad), grad * kept * np.float32(1 / 0.7))
    # Seeded: the same masks in a new layer with the same seed, a new mask on the next call.
    np.testing.assert_array_equal(nn.Dropout(0.3, rng=0).forward(x), out)
    assert not np.array_equal(layer.forward(x) != 0, kept)
    layer.eval()
    np.testing.assert_array_equal(layer.forward(x), x)
    np.testing.assert_array_equal(layer.backward(grad), grad)
    np.testing.assert_array_equal(nn.Dropout(0.0).forward(x), x)
    np.testing.assert_array_equal(nn.Dropout(1.0).forward(x), np.zeros_like(x))
    np.testing.assert_array_equal(x, x_before)  # the input is never modified


# ----------------------------------------------------------------------------- pooling


def max_pool_reference(x, R, S, sh, sw):
    """PyTorch's max-pool loop: scan each window row-major, take v if v > best or v is NaN."""
    N, C, H, W = x.shape
    P, Q = (H - R) // sh + 1, (W - S) // sw + 1
    out, argmax = np.empty((N, C, P, Q), x.dtype), np.empty((N, C, P, Q), np.int64)
    for n, c, p, q in np.ndindex(N, C, P, Q):
        best, at = -np.inf, -1
        for r in range(R):
            for s in range(S):
                h, w = p * sh + r, q * sw + s
                if at < 0 or x[n, c, h, w] > best or np.isnan(x[n, c, h, w]):
                    best, at = x[n, c, h, w], h * W + w
        out[n, c, p, q], argmax[n, c, p, q] = best, at
    return out, argmax


@settings(max_examples=60, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 9), st.integers(1, 9)),
    window=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**32 - 1),
)
def test_max_pool_matches_pytorchs_loop_on_ties_nans_and_infinities(shape, window, stride, dtype, seed):
    N, C, H, W = shape
    R, S = min(window[0], H), min(window[1], W)
    rng = np.random.default_rng(seed)
    # Few distinct values, so windows hold ties; some NaNs and infinities.
    x = rng.choice(
        np.array([-np.inf, -1.0, 0.0, 1.0, 2.0, np.inf, np.nan]), size=shape, p=[0.05, 0.3, 0.25, 0.2, 0.1, 0.05, 0.05]
    )
    x = x.astype(dtype)
    x_before = x.copy()
    out, argmax = fastconv.pool.max_pool2d(x, (R, S), stride)
    expected, expected_argmax = max_pool_reference(x, R, S, *stride)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(argmax, expected_argmax)
    np.testing.assert_array_equal(x, x_before)
    g = rng.standard_normal(out.shape).astype(dtype)
    grad_x = fastconv.pool.max_pool2d_grad_input(g, argmax, x.shape)
    expected_grad = np.zeros(N * C * H * W)
    flat = (np.arange(N * C)[:, None] * (H * W) + argmax.reshape(N * C, -1)).ravel()
    np.add.at(expected_grad, flat, g.ravel().astype(np.float64))
    np.testing.assert_allclose(grad_x.ravel(), expected_grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "args",
    [
        dict(k=2, s=2, pad=0),
        dict(k=3, s=2, pad=1),
        dict(k=3, s=2, pad=1, ceil_mode=True),
        dict(k=3, s=2, pad=1, ceil_mode=True, count_include_pad=False),
        dict(k=2, s=3, pad=1, ceil_mode=True),
        dict(k=4, s=1, pad=2, count_include_pad=False),
        dict(k=3, s=2, pad=0, divisor_override=5),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_avg_pool_matches_pytorchs_rule(args, dtype, rng):
    x = rng.standard_normal((2, 3, 7, 10)).astype(dtype)
    expected = avg_pool_reference(x.astype(np.float64), **args)
    layer = nn.AvgPool2d(
        args["k"],
        args["s"],
        args["pad"],
        ceil_mode=args.get("ceil_mode", False),
        count_include_pad=args.get("count_include_pad", True),
        divisor_override=args.get("divisor_override"),
    )
    out = layer.forward(x)
    assert out.dtype == dtype and out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)
    # The gradient is the transpose of the same linear map: <pool(x), g> = <x, pool_grad(g)>.
    g = rng.standard_normal(out.shape)
    grad_x = layer.backward(g.astype(dtype))
    assert grad_x.dtype == dtype and grad_x.shape == x.shape
    assert np.sum(grad_x * x) == pytest.approx(np.sum(expected * g), rel=1e-4 if dtype == np.float32 else 1e-10)


@pytest.mark.parametrize("size", [1, (2, 5), (3, 4), (7, 10), (4, 13), (None, 3)])
def test_adaptive_avg_pool_matches_pytorchs_windows(size, rng):
    x = rng.standard_normal((2, 3, 7, 10))
    P, Q = (size, size) if isinstance(size, int) else size
    P, Q = P or 7, Q or 10
    out = fastconv.pool.adaptive_avg_pool2d(x, size)
    np.testing.assert_allclose(out, adaptive_avg_pool_reference(x, P, Q), rtol=1e-12, atol=1e-14)
    out32 = nn.AdaptiveAvgPool2d(size).forward(x.astype(np.float32))
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, out, rtol=1e-5, atol=1e-6)


def test_global_average_pooling_feeds_a_linear_layer(rng):
    x = rng.standard_normal((4, 6, 5, 5)).astype(np.float32)
    model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3, rng=0))
    np.testing.assert_allclose(model.layers[0].forward(x)[:, :, 0, 0], x.mean(axis=(2, 3)), rtol=1e-6)
    assert model.forward(x).shape == (4, 3)
    grad = model.backward(np.ones((4, 3), dtype=np.float32))
    np.testing.assert_allclose(grad, np.broadcast_to(grad[:, :, :1, :1], grad.shape))


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: nn.AvgPool2d(3, padding=2), ValueError, "padding must be at most half of kernel_size"),
        (lambda: nn.AvgPool2d(0), ValueError, "kernel_size must be >= 1"),
        (lambda: nn.AvgPool2d(2, divisor_override=0), ValueError, "divisor_override must be >= 1"),
        (lambda: nn.AdaptiveAvgPool2d(0), ValueError, "output_size must be >= 1"),
        (lambda: nn.AdaptiveAvgPool2d("1"), TypeError, "output_size must be"),
        (lambda: nn.Dropout(1.5), ValueError, r"p must be in \[0.0, 1.0\]"),
        (lambda: nn.Dropout("0.5"), TypeError, "p must be a real number"),
        (lambda: nn.BatchNorm2d(0), ValueError, "num_features must be >= 1"),
        (lambda: nn.BatchNorm2d(3, eps=-1.0), ValueError, "eps must be in"),
        (lambda: nn.BatchNorm2d(3, momentum=2.0), ValueError, "momentum must be in"),
        (lambda: nn.Conv1d(3, 4, (3, 3)), TypeError, "kernel_size must be an int or a 1-tuple"),
        (lambda: nn.Conv1d(3, 4, 3, stride=0), ValueError, "stride must be >= 1"),
        (lambda: nn.Conv1d(3, 4, 3, groups=2), ValueError, "groups=2 must divide"),
        (lambda: nn.ConvTranspose2d(3, 4, 3, padding="same"), TypeError, "padding must be an int or a pair"),
        (lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, output_padding=2), ValueError, "output_padding must be smaller"),
        (lambda: nn.ConvTranspose2d(4, 3, 3, groups=2), ValueError, "groups=2 must divide"),
        (lambda: nn.ConvTranspose2d(3, 4, 5, method="winograd"), ValueError, "method='winograd' needs 3x3"),
    ],
)
def test_constructors_reject_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_pooling_of_a_too_small_input_is_a_value_error():
    with pytest.raises(ValueError, match="larger than the padded input"):
        nn.AvgPool2d(3).forward(np.zeros((1, 1, 2, 5)))


# ----------------------------------------------------------------------------- Conv1d and ConvTranspose2d


@pytest.mark.parametrize(
    "args",
    [
        dict(in_channels=3, out_channels=4, kernel_size=3),
        dict(in_channels=4, out_channels=6, kernel_size=5, stride=2, padding=2, dilation=1, groups=2),
        dict(in_channels=2, out_channels=2, kernel_size=(3,), stride=(1,), padding=(3,), dilation=(3,), bias=False),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv1d_matches_formula_and_pytorchs_layout(args, dtype, rng):
    layer = nn.Conv1d(**args, dtype=dtype, rng=0)
    K, Cg = args["out_channels"], args["in_channels"] // args.get("groups", 1)
    k = args["kernel_size"] if isinstance(args["kernel_size"], int) else args["kernel_size"][0]
    assert layer.params["weight"].shape == (K, Cg, k) and layer.params["weight"].dtype == dtype
    if "bias" in layer.params:
        layer.params["bias"][...] = rng.standard_normal(K)
    x = rng.standard_normal((3, args["in_channels"], 12)).astype(dtype)
    single = lambda v: v if isinstance(v, int) else v[0]
    expected = conv1d_reference(
        x.astype(np.float64),
        layer.params["weight"].astype(np.float64),
        layer.params.get("bias"),
        single(args.get("stride", 1)),
        single(args.get("padding", 0)),
        single(args.get("dilation", 1)),
        args.get("groups", 1),
    )
    out = layer.forward(x)
    assert out.dtype == dtype
    np.testing.assert_allclose(
        out, expected, rtol=2e-4 if dtype == np.float32 else 1e-10, atol=2e-4 if dtype == np.float32 else 1e-10
    )


@pytest.mark.parametrize(
    "args",
    [
        dict(in_channels=3, out_channels=4, kernel_size=3),
        dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=1, output_padding=1, groups=2),
        dict(in_channels=2, out_channels=3, kernel_size=(2, 3), stride=(2, 1), padding=(1, 2), dilation=(1, 2)),
        dict(in_channels=2, out_channels=2, kernel_size=2, output_padding=1, dilation=2, bias=False),
        dict(in_channels=6, out_channels=3, kernel_size=4, stride=3, padding=1, output_padding=(2, 0), groups=3),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_transpose_matches_scatter_formula_and_is_conv2d_grad_input(args, dtype, rng):
    layer = nn.ConvTranspose2d(**args, dtype=dtype, rng=0)
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)
    groups = args.get("groups", 1)
    R, S = pair(args["kernel_size"])
    assert layer.params["weight"].shape == (args["in_channels"], args["out_channels"] // groups, R, S)
    if "bias" in layer.params:
        layer.params["bias"][...] = rng.standard_normal(args["out_channels"])
    x = rng.standard_normal((2, args["in_channels"], 5, 4)).astype(dtype)
    expected = conv_transpose_reference(
        x.astype(np.float64),
        layer.params["weight"].astype(np.float64),
        layer.params.get("bias"),
        pair(args.get("stride", 1)),
        pair(args.get("padding", 0)),
        pair(args.get("output_padding", 0)),
        groups,
        pair(args.get("dilation", 1)),
    )
    out = layer.forward(x)
    assert out.dtype == dtype and out.shape == expected.shape == layer.output_shape(x.shape)
    tol = 2e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(out, expected, rtol=tol, atol=tol)
    if args.get("output_padding", 0) == 0:
        options = {k: args[k] for k in ("stride", "padding", "dilation", "groups") if k in args}
        direct = fastconv.conv2d_grad_input(x, layer.params["weight"], out.shape, **options)
        bias = layer.params.get("bias", np.zeros(args["out_channels"], dtype=dtype))
        np.testing.assert_array_equal(out, direct + bias.reshape(1, -1, 1, 1))


def test_conv_transpose_upsamples_a_conv2d_output_back_to_its_input_shape(rng):
    down = nn.Conv2d(3, 8, 3, stride=2, padding=1, dtype=np.float64, rng=0)
    up = nn.ConvTranspose2d(8, 3, 3, stride=2, padding=1, output_padding=1, dtype=np.float64, rng=1)
    x = rng.standard_normal((2, 3, 8, 8))
    assert up.forward(down.forward(x)).shape == x.shape


# ----------------------------------------------------------------------------- modes and save/load


def _model_with_every_new_layer(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, dtype=dtype, rng=rng),
        nn.BatchNorm2d(4, momentum=0.3, dtype=dtype),
        nn.ReLU(),
        nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1, dtype=dtype, rng=rng),
        nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
        nn.BatchNorm2d(3, affine=False, momentum=None, dtype=dtype),
        nn.AdaptiveAvgPool2d((2, 3)),
        nn.Dropout(0.25, rng=rng),
        nn.Flatten(),
        nn.Linear(18, 5, dtype=dtype, rng=rng),
    )


def test_train_and_eval_switch_every_layer(rng):
    model = _model_with_every_new_layer(np.float64)
    assert model.training and all(layer.training for layer in model.layers)
    assert model.eval() is model and not any(layer.training for layer in model.layers) and not model.training
    x = rng.standard_normal((3, 2, 6, 6))
    np.testing.assert_array_equal(model.forward(x), model.forward(x))  # no dropout, running statistics
    assert model.buffers()["1.num_batches_tracked"] == 0
    model.train()
    assert model.training
    assert not np.array_equal(model.forward(x), model.forward(x))  # dropout draws new masks
    assert model.buffers()["1.num_batches_tracked"] == 2
    # predict works in evaluation mode and gives the mode back.
    before = {k: v.copy() for k, v in model.buffers().items()}
    np.testing.assert_array_equal(model.predict_proba(x), model.eval().predict_proba(x))
    model.train()
    model.predict(x)
    assert model.training
    for name, value in model.buffers().items():
        np.testing.assert_array_equal(value, before[name])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_load_round_trip_with_every_new_layer_is_bit_exact(dtype, tmp_path, rng):
    model = _model_with_every_new_layer(dtype)
    x = rng.standard_normal((4, 2, 6, 6)).astype(dtype)
    for _ in range(3):  # running statistics move away from their initial values
        model.forward(x + rng.standard_normal(x.shape).astype(dtype))
    for p in model.parameters().values():
        p += rng.standard_normal(p.shape).astype(dtype) * 0.1
    model.layers.append(nn.Conv1d(1, 2, 3, padding=1, dtype=dtype, rng=3))  # a 1-D tail: (N, 1, 5) sequences
    model.layers.insert(-1, nn.Dropout(0.0))
    path = tmp_path / "model.npz"
    model.save(path)
    restored = nn.load(path)
    assert repr(restored) == repr(model)
    assert set(restored.buffers()) == {
        f"{i}.{k}" for i in (1, 5) for k in ("running_mean", "running_var", "num_batches_tracked")
    }
    for get in (nn.Sequential.parameters, nn.Sequential.buffers):
        saved, loaded = get(model), get(restored)
        assert set(saved) == set(loaded)
        for name, value in saved.items():
            assert loaded[name].dtype == value.dtype
            np.testing.assert_array_equal(loaded[name], value)
    assert restored.buffers()["1.num_batches_tracked"] == 3
    head = nn.Sequential(*model.layers[:-2]).eval()
    restored_head = nn.Sequential(*restored.layers[:-2]).eval()
    np.testing.assert_array_equal(restored_head.forward(x), head.forward(x))
    seq = rng.standard_normal((2, 1, 5)).astype(dtype)
    np.testing.assert_array_equal(restored.layers[-1].forward(seq), model.layers[-1].forward(seq))


def test_load_rejects_missing_buffers(tmp_path):
    model = nn.Sequential(nn.BatchNorm2d(2))
    path = tmp_path / "model.npz"
    model.save(path)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files if not k.endswith("running_var")}
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="do not match the architecture.s .*buffer:0.running_var"):
        nn.load(path)


# ----------------------------------------------------------------------------- fused ReLU


def _unfused_pass(model, x, grad):
    """Output, input gradient and parameter gradients of ``model`` run layer by layer (no fusion)."""
    h = x
    for layer in model.layers:
        h = layer.forward(h)
    g = grad
    for layer in reversed(model.layers):
        g = layer.backward(g)
    return h, g, {k: v.copy() for k, v in model.gradients().items()}


@pytest.mark.parametrize(
    "build, shape",
    [
        (lambda: build_model("default", (1, 8, 8), 10, seed=1), (5, 1, 8, 8)),
        (lambda: build_model("cifar", (3, 12, 12), 10, seed=2), (4, 3, 12, 12)),
        (lambda: build_model("names1d", (7, 9), 5, seed=3), (6, 7, 9)),
        (
            lambda: nn.Sequential(nn.Conv2d(2, 3, 3, bias=False, rng=4), nn.ReLU(), nn.BatchNorm2d(3), nn.ReLU()),
            (3, 2, 6, 6),
        ),
    ],
)
@pytest.mark.parametrize("training", [True, False])
def test_a_fused_relu_gives_the_unfused_results_bit_for_bit(build, shape, training, rng):
    import copy

    model = build().train(training)
    reference = copy.deepcopy(model)
    x = rng.standard_normal(shape).astype(np.float32)
    out = model.forward(x)
    grad = rng.standard_normal(out.shape).astype(np.float32)
    grad_x = model.backward(grad)
    expected_out, expected_grad_x, expected_grads = _unfused_pass(reference, x, grad)
    np.testing.assert_array_equal(out, expected_out)
    np.testing.assert_array_equal(grad_x, expected_grad_x)
    for name, value in model.gradients().items():
        np.testing.assert_array_equal(value, expected_grads[name], err_msg=name)
    for name, value in model.buffers().items():
        np.testing.assert_array_equal(value, reference.buffers()[name], err_msg=name)


def test_only_layers_that_can_fuse_a_relu_accept_rectify():
    with pytest.raises(ValueError, match="rectify"):
        nn.MaxPool2d(2).forward(np.zeros((1, 1, 4, 4), np.float32), rectify=True)
    out = nn.Conv2d(1, 2, 3, rng=0).forward(np.ones((1, 1, 5, 5), np.float32) * -1, rectify=True)
    assert out.min() >= 0


def test_fused_layers_take_an_empty_batch():
    model = build_model("cifar", (3, 8, 8), 4, seed=0).eval()
    out = model.forward(np.zeros((0, 3, 8, 8), np.float32))
    assert out.shape == (0, 4)
    assert model.backward(np.zeros((0, 4), np.float32)).shape == (0, 3, 8, 8)
