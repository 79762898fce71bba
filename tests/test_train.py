"""The training loop: learning, reproducibility, schedules, balancing, divergence, evaluation."""

import numpy as np
import pytest

from fastconv import nn
from fastconv.nn.default_model import default_convnet
from fastconv.training import optim
from fastconv.training.data import load_digits
from fastconv.training.loop import evaluate, fit, l2_penalty

pytestmark = pytest.mark.heavy


@pytest.fixture(scope="module")
def digits():
    return load_digits(seed=0)


def _train(digits, seed=0, **kwargs):
    model = default_convnet(digits.input_shape, digits.classes, width=8, seed=seed)
    options = dict(epochs=3, batch_size=32, lr=0.02, seed=seed, progress=False, validation_data=digits.validation)
    options.update(kwargs)
    return model, fit(model, *digits.train, **options)


def test_short_run_learns_digits(digits):
    model, history = _train(digits)
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history["val_accuracy"][-1] > 0.85
    assert evaluate(model, *digits.test)["accuracy"] > 0.85
    assert set(history) == {"epoch", "lr", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds"}
    assert history["epoch"] == [1, 2, 3]


def test_same_seed_same_result_bit_for_bit(digits):
    m1, h1 = _train(digits, seed=4, epochs=2)
    m2, h2 = _train(digits, seed=4, epochs=2)
    _, h3 = _train(digits, seed=5, epochs=2)
    assert h1["train_loss"] == h2["train_loss"]
    assert h1["train_loss"] != h3["train_loss"]
    for name, value in m1.parameters().items():
        np.testing.assert_array_equal(value, m2.parameters()[name])


def test_l2_term_enters_loss_and_gradient():
    params = {"0.weight": np.array([1.0, -2.0]), "0.bias": np.array([5.0])}
    assert l2_penalty(params, 0.5) == pytest.approx(0.5 * 5.0)


def test_weight_decay_shrinks_weights(digits):
    plain, _ = _train(digits, epochs=2)
    decayed, _ = _train(digits, epochs=2, weight_decay=0.05)
    norm = lambda m: sum(float(np.sum(v**2)) for k, v in m.parameters().items() if k.endswith("weight"))
    assert norm(decayed) < norm(plain)


def test_schedules():
    assert optim.ConstantLR()(0.1, 5, 100) == 0.1
    step = optim.StepLR(step_size=2, gamma=0.5)
    assert [step(1.0, e, 0) for e in range(5)] == [1.0, 1.0, 0.5, 0.5, 0.25]
    cyc = optim.CyclicLR(max_lr=1.0, step_size_up=4)
    lrs = [cyc(0.2, 0, i) for i in range(9)]
    assert lrs[0] == pytest.approx(0.2) and lrs[4] == pytest.approx(1.0) and lrs[8] == pytest.approx(0.2)
    assert lrs[2] == pytest.approx(0.6)


def test_fit_records_scheduled_lr(digits):
    _, history = _train(digits, epochs=3, schedule=optim.StepLR(step_size=1, gamma=0.5))
    assert history["lr"] == pytest.approx([0.02, 0.01, 0.005])


def test_balanced_sampling_evens_out_classes():
    rng = np.random.default_rng(0)
    from fastconv.training.loop import _epoch_order

    y = np.array([0] * 900 + [1] * 100)
    counts = np.bincount(y[_epoch_order(y, rng, True)], minlength=2)
    assert abs(counts[0] - counts[1]) < 120
    assert sorted(_epoch_order(y, rng, False)) == list(range(1000))


def test_divergence_stops_with_error_and_keeps_finite_parameters(digits):
    model = default_convnet(digits.input_shape, digits.classes, width=8, seed=0)
    with pytest.raises(optim.TrainingDiverged, match="non-finite|loss became"):
        fit(model, *digits.train, epochs=5, batch_size=32, lr=1e30, seed=0, progress=False)
    for value in model.parameters().values():
        assert np.all(np.isfinite(value))


def test_sgd_refuses_non_finite_step():
    p = {"w": np.array([1.0, 2.0])}
    opt = optim.SGD(p, momentum=0.5)
    opt.step({"w": np.array([1.0, 1.0])}, 0.1)
    before = p["w"].copy()
    with pytest.raises(optim.TrainingDiverged):
        opt.step({"w": np.array([np.inf, 1.0])}, 0.1)
    np.testing.assert_array_equal(p["w"], before)


def test_sgd_matches_torch_formula():
    p = {"w": np.array([1.0])}
    opt = optim.SGD(p, momentum=0.9)
    opt.step({"w": np.array([1.0])}, 0.1)  # buf = 1, w = 0.9
    opt.step({"w": np.array([1.0])}, 0.1)  # buf = 1.9, w = 0.71
    assert p["w"][0] == pytest.approx(0.71)


def test_evaluate_reports_confusion_and_per_class_accuracy():
    model = nn.Sequential(nn.Flatten(), nn.Linear(2, 3, dtype=np.float64, rng=0))
    model.layers[1].params["weight"][...] = [[1, 0], [0, 1], [0, 0]]
    model.layers[1].params["bias"][...] = [0, 0, 0.5]
    x = np.array([[[[2.0, 0.0]]], [[[0.0, 2.0]]], [[[0.0, 0.0]]], [[[3.0, 0.0]]]])
    y = np.array([0, 1, 2, 1])
    result = evaluate(model, x, y)
    np.testing.assert_array_equal(result["confusion"], [[1, 0, 0], [1, 1, 0], [0, 0, 1]])
    assert result["accuracy"] == 0.75
    np.testing.assert_allclose(result["per_class_accuracy"], [1.0, 0.5, 1.0])


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(epochs=0), ValueError),
        (dict(batch_size=0), ValueError),
        (dict(lr=0.0), ValueError),
        (dict(schedule="warp"), ValueError),
        (dict(momentum=1.5), ValueError),
        (dict(epochs=1.5), TypeError),
        (dict(weight_decay=float("nan")), ValueError),
        (dict(lr=float("inf")), ValueError),
    ],
)
def test_fit_rejects_bad_arguments(kwargs, error, digits):
    with pytest.raises(error, match=next(iter(kwargs))):
        _train(digits, **kwargs)


def test_fit_rejects_bad_labels(digits):
    model = default_convnet(digits.input_shape, digits.classes, width=8, seed=0)
    x, y = digits.train
    with pytest.raises(TypeError, match="labels y must be integers"):
        fit(model, x, y.astype(float), epochs=1, batch_size=8, lr=0.1, progress=False)
    with pytest.raises(ValueError, match="x must be"):
        fit(model, x, y[:-1], epochs=1, batch_size=8, lr=0.1, progress=False)


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_adam_and_adamw_learn_digits(digits, optimizer):
    model, history = _train(digits, epochs=3, lr=1e-2, optimizer=optimizer, weight_decay=1e-2)
    assert history["train_loss"][2] < history["train_loss"][0]
    assert history["val_accuracy"][-1] > 0.9


def test_fit_trains_in_training_mode_and_evaluates_in_evaluation_mode(digits):
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1, rng=0),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.2, rng=1),
        nn.Linear(128, digits.classes, rng=2),
    )
    steps = -(-len(digits.train[1]) // 32)
    history = fit(
        model,
        *digits.train,
        epochs=2,
        batch_size=32,
        lr=0.02,
        seed=0,
        progress=False,
        validation_data=digits.validation,
    )
    assert model.training  # left in training mode, as PyTorch's loops leave it
    assert model.buffers()["1.num_batches_tracked"] == 2 * steps  # validation did not update the statistics
    before = {k: v.copy() for k, v in model.buffers().items()}
    first = evaluate(model, *digits.test)
    assert evaluate(model, *digits.test)["loss"] == first["loss"]  # no dropout, running statistics
    for name, value in model.buffers().items():
        np.testing.assert_array_equal(value, before[name])
    assert model.training and history["val_accuracy"][-1] > 0.85


def test_fit_rejects_an_unknown_optimizer(digits):
    with pytest.raises(ValueError, match="optimizer must be one of"):
        _train(digits, optimizer="rmsprop")


def test_fit_and_evaluate_reject_empty_data_and_labels_outside_the_classes(digits):
    model = default_convnet(digits.input_shape, digits.classes, width=4, seed=0)
    x, y = digits.train
    with pytest.raises(ValueError, match="training data: no samples"):
        fit(model, x[:0], y[:0], epochs=1, batch_size=8, lr=0.1, progress=False)
    with pytest.raises(ValueError, match="validation_data: no samples"):
        fit(model, x, y, epochs=1, batch_size=8, lr=0.1, progress=False, validation_data=(x[:0], y[:0]))
    bad = y[:10].copy()
    bad[3] = digits.classes
    with pytest.raises(ValueError, match="labels must lie in"):
        evaluate(model, x[:10], bad)
