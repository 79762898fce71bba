"""Built-in architectures: the registry, their shapes, gradients and save/load."""

import numpy as np
import pytest

from fastconv import nn
from fastconv.nn import gradcheck
from fastconv.nn.default_model import default_convnet
from fastconv.nn.models import MODELS, build_model

GRAD_TOL = 1e-6


def test_registry_lists_the_four_architectures():
    assert list(MODELS) == ["default", "mnist", "cifar", "names1d"]
    assert all(arch.description for arch in MODELS.values())


def test_default_is_the_digits_convnet_unchanged():
    model = build_model("default", (1, 8, 8), 10, seed=3)
    reference = default_convnet((1, 8, 8), 10, seed=3)
    assert repr(model) == repr(reference)
    for name, value in reference.parameters().items():
        np.testing.assert_array_equal(model.parameters()[name], value)


def test_mnist_net_is_issue_13s():
    model = build_model("mnist", (1, 28, 28), 10, seed=0)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear"]
    assert model.layers[0].params["weight"].shape == (16, 1, 5, 5)
    assert model.layers[3].params["weight"].shape == (32, 16, 3, 3) and model.layers[3].options["padding"] == 1
    assert model.layers[7].params["weight"].shape == (10, 32 * 6 * 6)
    assert model.forward(np.zeros((2, 1, 28, 28), dtype=np.float32)).shape == (2, 10)


def test_cifar_net_has_three_batchnorm_blocks_and_global_average_pooling():
    model = build_model("cifar", (3, 32, 32), 10, seed=0)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("Conv2d") == 3 and kinds.count("BatchNorm2d") == 3
    assert kinds[-3:] == ["AdaptiveAvgPool2d", "Flatten", "Linear"] and model.layers[-3].output_size == 1
    assert all("bias" not in layer.params for layer in model.layers if isinstance(layer, nn.Conv2d))
    out = model.forward(np.random.default_rng(0).standard_normal((4, 3, 32, 32)).astype(np.float32))
    assert out.shape == (4, 10) and out.dtype == np.float32


def test_names_net_takes_one_hot_sequences():
    model = build_model("names1d", (26, 12), 18, seed=0)
    x = np.zeros((3, 26, 12), dtype=np.float32)
    x[:, np.arange(12) % 26, np.arange(12)] = 1
    assert model.forward(x).shape == (3, 18)


@pytest.mark.parametrize(
    "name, shape, match",
    [
        ("names1d", (1, 8, 8), r"takes one-hot sequences \(C, L\)"),
        ("cifar", (26, 12), r"takes images \(C, H, W\)"),
        ("mnist", (1, 7, 28), "at least 8x8"),
        ("resnet", (3, 32, 32), "model must be one of"),
    ],
)
def test_wrong_inputs_or_names_are_clear_errors(name, shape, match):
    with pytest.raises(ValueError, match=match):
        build_model(name, shape, 10)


@pytest.mark.parametrize(
    "name, shape", [("mnist", (1, 8, 9)), ("cifar", (2, 8, 8)), ("names1d", (5, 6)), ("default", (1, 4, 5))]
)
def test_whole_model_gradients_in_float64(name, shape, rng):
    model = build_model(name, shape, 4, dtype=np.float64, seed=0)
    for layer in model.layers:
        if isinstance(layer, nn.BatchNorm2d):  # away from the initial 1 and 0, so both matter
            layer.params["weight"][...] = rng.uniform(0.5, 1.5, layer.num_features)
            layer.params["bias"][...] = rng.standard_normal(layer.num_features) * 0.1
    x = rng.standard_normal((3, *shape))
    errors = gradcheck.check_model(model, x, rng.integers(0, 4, 3), max_entries=30)
    assert set(errors) == set(model.parameters()) | {"input"}
    assert max(errors.values()) < GRAD_TOL, errors


def test_cifar_net_round_trips_with_its_running_statistics(tmp_path, rng):
    model = build_model("cifar", (3, 8, 8), 10, seed=0)
    x = rng.standard_normal((4, 3, 8, 8)).astype(np.float32)
    model.forward(x)
    model.save(tmp_path / "cifar.npz")
    restored = nn.load(tmp_path / "cifar.npz")
    for name, value in model.buffers().items():
        np.testing.assert_array_equal(restored.buffers()[name], value)
    assert not np.array_equal(model.buffers()["1.running_mean"], 0)
    np.testing.assert_array_equal(restored.eval().forward(x), model.eval().forward(x))
