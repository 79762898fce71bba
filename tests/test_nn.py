"""Layers, loss, model container and save/load."""

import numpy as np
import pytest

from fastconv import nn
from fastconv.nn import gradcheck

GRAD_TOL = 1e-6


@pytest.mark.parametrize(
    ("method", "layer_args"),
    [
        (method, args)
        for method in ["direct", "im2col"]
        for args in [
            dict(in_channels=3, out_channels=4, kernel_size=3),
            dict(in_channels=4, out_channels=6, kernel_size=(2, 3), stride=2, padding=1, groups=2),
            dict(in_channels=2, out_channels=3, kernel_size=3, padding="same", dilation=2, bias=False),
        ]
    ]
    + [
        ("winograd", dict(in_channels=3, out_channels=4, kernel_size=3, padding=1)),
        ("winograd", dict(in_channels=4, out_channels=6, kernel_size=3, groups=2, bias=False)),
    ],
)
def test_conv2d_layer_gradients(layer_args, method, rng):
    layer = nn.Conv2d(**layer_args, method=method, dtype=np.float64, rng=0)
    layer.params["bias" if "bias" in layer.params else "weight"][...] += 0.1
    x = rng.standard_normal((2, layer_args["in_channels"], 7, 6))
    errors = gradcheck.check_layer(layer, x)
    assert set(errors) == set(layer.params) | {"input"}
    assert max(errors.values()) < GRAD_TOL, errors


@pytest.mark.parametrize(
    "layer, shape",
    [
        (lambda: nn.Linear(12, 5, dtype=np.float64, rng=1), (4, 12)),
        (lambda: nn.ReLU(), (3, 2, 5, 5)),
        (lambda: nn.MaxPool2d(2), (2, 3, 6, 7)),
        (lambda: nn.MaxPool2d(3, stride=2), (2, 2, 9, 8)),
        (lambda: nn.Flatten(), (3, 2, 4, 4)),
    ],
)
def test_other_layer_gradients(layer, shape, rng):
    # Values spread apart so no ReLU input sits near 0 and no pool window has a near-tie.
    x = rng.permutation(np.prod(shape)).reshape(shape) / 7.0 - np.prod(shape) / 14.0 + 0.05
    errors = gradcheck.check_layer(layer(), x)
    assert max(errors.values()) < GRAD_TOL, errors


def test_max_pool_matches_numpy_and_routes_gradient(rng):
    x = rng.standard_normal((2, 3, 6, 8))
    pool = nn.MaxPool2d(2)
    out = pool.forward(x)
    np.testing.assert_array_equal(out, x.reshape(2, 3, 3, 2, 4, 2).max(axis=(3, 5)))
    grad = pool.backward(np.ones_like(out))
    assert grad.sum() == out.size
    np.testing.assert_array_equal(grad != 0, x == np.repeat(np.repeat(out, 2, 2), 2, 3))


def _loss_by_formula(scores, labels, weights, smoothing):
    scores = scores.astype(np.float64)
    n, c = scores.shape
    log_p = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    total, norm = 0.0, 0.0
    for i in range(n):
        for k in range(c):
            target = (1 - smoothing) * (k == labels[i]) + smoothing / c
            total -= weights[k] * target * log_p[i, k]
        norm += weights[labels[i]]
    return total / norm


@pytest.mark.parametrize(
    "weights, smoothing", [(None, 0.0), ([1.0, 2.0, 0.5, 1.5], 0.0), (None, 0.1), ([1.0, 2.0, 0.5, 1.5], 0.2)]
)
def test_softmax_cross_entropy_against_formula_and_differences(weights, smoothing, rng):
    scores = rng.standard_normal((6, 4)) * 3
    labels = rng.integers(0, 4, 6)
    loss = nn.SoftmaxCrossEntropy(class_weights=weights, label_smoothing=smoothing)
    w = np.ones(4) if weights is None else np.array(weights)
    assert loss.forward(scores, labels) == pytest.approx(_loss_by_formula(scores, labels, w, smoothing), rel=1e-12)
    analytic = loss.backward()
    numeric, _ = gradcheck.numerical_gradient(lambda: loss.forward(scores, labels), scores)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


def test_softmax_cross_entropy_is_stable_for_huge_scores():
    loss = nn.SoftmaxCrossEntropy()
    value = loss.forward(np.array([[1000.0, 0.0], [0.0, -1000.0]]), np.array([0, 1]))
    assert value == pytest.approx(500.0)
    assert np.all(np.isfinite(loss.backward()))


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(scores=np.zeros(3)), "scores must be 2-D"),
        (dict(labels=np.array([0, 5])), r"labels must lie in \[0, 3\)"),
        (dict(labels=np.array([0.0, 1.0])), "labels must be integers"),
        (dict(labels=np.array([0])), "labels must be integers of shape"),
    ],
)
def test_loss_rejects_bad_input(bad, match):
    args = dict(scores=np.zeros((2, 3)), labels=np.array([0, 1]))
    args.update(bad)
    with pytest.raises(ValueError, match=match):
        nn.SoftmaxCrossEntropy().forward(**args)


def _small_model(dtype=np.float64, seed=0, method="auto"):
    return nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1, method=method, dtype=dtype, rng=seed),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(3 * 3 * 3, 4, dtype=dtype, rng=seed + 1),
    )


@pytest.mark.parametrize("method", ["direct", "im2col", "winograd"])
def test_whole_model_gradcheck(method, rng):
    model = _small_model(method=method)
    x = rng.standard_normal((5, 1, 6, 6))
    y = rng.integers(0, 4, 5)
    errors = gradcheck.check_model(model, x, y)
    assert set(errors) == {"0.weight", "0.bias", "4.weight", "4.bias", "input"}
    assert max(errors.values()) < GRAD_TOL, errors


def test_gradcheck_catches_a_wrong_gradient(rng):
    """The checker is not vacuous: a layer whose backward is off by 10% fails it."""
    layer = nn.Linear(5, 3, dtype=np.float64, rng=0)
    real_backward = layer.backward

    def wrong_backward(grad, need_input_grad=True):
        out = real_backward(grad, need_input_grad)
        layer.grads["weight"] *= 1.1
        return out

    layer.backward = wrong_backward
    errors = gradcheck.check_layer(layer, rng.standard_normal((4, 5)))
    assert errors["weight"] > 1e-2
    assert errors["input"] < GRAD_TOL


def test_predict_proba_and_predict(rng):
    model = _small_model()
    x = rng.standard_normal((7, 1, 6, 6))
    proba = model.predict_proba(x, batch_size=3)
    assert proba.shape == (7, 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(model.predict(x), proba.argmax(axis=1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_load_round_trip_is_bit_exact(dtype, tmp_path, rng):
    model = _small_model(dtype=dtype, seed=3)
    for p in model.parameters().values():
        p += rng.standard_normal(p.shape).astype(dtype)
    path = tmp_path / "model.npz"
    model.save(path)
    restored = nn.load(path)
    assert repr(restored) == repr(model)
    for name, value in model.parameters().items():
        got = restored.parameters()[name]
        assert got.dtype == value.dtype
        np.testing.assert_array_equal(got, value)
    x = rng.standard_normal((4, 1, 6, 6)).astype(dtype)
    np.testing.assert_array_equal(restored.forward(x), model.forward(x))
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_load_rejects_files_that_are_not_models(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not a fastconv model file"):
        nn.load(bad)
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a fastconv model file"):
        nn.load(tmp_path / "other.npz")


def test_seeded_initialisation_is_reproducible():
    a, b, c = _small_model(seed=5), _small_model(seed=5), _small_model(seed=6)
    for name, value in a.parameters().items():
        np.testing.assert_array_equal(value, b.parameters()[name])
    assert not np.array_equal(a.parameters()["0.weight"], c.parameters()["0.weight"])


def test_he_initialisation_scale():
    layer = nn.Conv2d(64, 128, 3, rng=0)
    assert layer.params["weight"].std() == pytest.approx(np.sqrt(2 / (64 * 9)), rel=0.02)
    assert layer.params["weight"].dtype == np.float32


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: nn.Conv2d(3, 4, 3, groups=2), ValueError, "groups=2 must divide"),
        (lambda: nn.Conv2d(3, 4, 0), ValueError, "kernel_size must be >= 1"),
        (lambda: nn.Conv2d(3.0, 4, 3), TypeError, "in_channels must be an int"),
        (lambda: nn.Conv2d(3, 4, 3, stride=0), ValueError, "stride must be >= 1"),
        (lambda: nn.Conv2d(3, 4, 3, method="fft"), ValueError, "method must be one of"),
        (lambda: nn.Conv2d(3, 4, 5, method="winograd"), ValueError, r"method='winograd' needs 3x3 filters.*\(5, 5\)"),
        (lambda: nn.Conv2d(3, 4, 3, stride=2, method="winograd"), ValueError, r"stride \(2, 2\)"),
        (lambda: nn.Conv2d(3, 4, 3, dtype=np.int32), TypeError, "dtype must be float32 or float64"),
        (lambda: nn.Linear(0, 4), ValueError, "in_features must be >= 1"),
        (lambda: nn.MaxPool2d(0), ValueError, "kernel_size must be >= 1"),
        (lambda: nn.Sequential(nn.ReLU(), "relu"), TypeError, "layer 1 must be a fastconv.nn layer"),
        (lambda: nn.SoftmaxCrossEntropy(label_smoothing=1.0), ValueError, "label_smoothing"),
    ],
)
def test_layer_constructors_reject_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_backward_before_forward_is_a_clear_error():
    with pytest.raises(RuntimeError, match="backward called before forward"):
        nn.Linear(3, 2).backward(np.zeros((1, 2)))


def test_layers_built_from_numpy_integers_save_and_load(tmp_path):
    model = nn.Sequential(nn.Conv2d(np.int64(3), 4, np.int64(3), stride=np.int64(2), padding=(np.int32(1), 1), rng=0))
    model.save(tmp_path / "m.npz")
    assert repr(nn.load(tmp_path / "m.npz")) == repr(model)


def test_too_many_groups_names_the_channels():
    with pytest.raises(ValueError, match="groups=4 must divide the input channels"):
        nn.Conv2d(2, 4, 3, groups=4)
