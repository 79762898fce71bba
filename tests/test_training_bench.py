"""The training benchmark (``fastconv bench --training``) runs and reports consistent figures; no timing is asserted."""

import json

import numpy as np
import pytest

from fastconv import _torch_timer, cli, training_bench
from fastconv.nn.models import build_model

FAKE_TORCH = '''
"""A stand-in for torch with the names the training child uses; each backward sleeps 2 ms."""
import time
import types

__version__ = "0.0-fake"
float32 = "float32"
LAYERS = {"Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "AdaptiveAvgPool2d", "Flatten", "Linear"}


def set_num_threads(n):
    pass


def manual_seed(seed):
    pass


def from_numpy(a):
    return a


class Module:
    def __init__(self, *layers, **config):
        self.layers = layers

    def to(self, dtype):
        return self

    def train(self):
        return self

    def parameters(self):
        return []

    def __call__(self, x):
        return x


class Loss:
    def backward(self):
        time.sleep(0.002)


class SGD:
    def __init__(self, params, lr, momentum):
        pass

    def zero_grad(self):
        pass

    def step(self):
        pass


nn = types.SimpleNamespace(
    Sequential=Module,
    functional=types.SimpleNamespace(cross_entropy=lambda scores, labels: Loss()),
    **{name: Module for name in LAYERS},
)
optim = types.SimpleNamespace(SGD=SGD)
'''


def test_layer_specs_describe_the_model_for_the_child():
    model = build_model("cifar", (3, 32, 32), 10, seed=0)
    specs = json.loads(json.dumps(training_bench.layer_specs(model)))
    assert [s["type"] for s in specs] == [type(layer).__name__ for layer in model.layers]
    assert specs[0]["config"]["kernel_size"] == [3, 3] and specs[0]["config"]["bias"] is False
    assert specs[1]["type"] == "BatchNorm2d" and specs[1]["config"]["num_features"] == 32


def test_the_child_builds_the_same_network_in_pytorch():
    """Every parameter and buffer of fastconv's model has its twin, of the same shape, in PyTorch's."""
    torch = pytest.importorskip("torch")
    for name, (shape, _) in training_bench.NETWORKS.items():
        model = build_model(name, shape, training_bench.CLASSES, seed=0)
        net = _torch_timer.torch_network(torch, training_bench.layer_specs(model), "float32")
        theirs = {k: tuple(v.shape) for k, v in net.state_dict().items()}
        ours = {k: v.shape for k, v in {**model.parameters(), **model.buffers()}.items()}
        assert ours == theirs, name
        assert all(v.dtype == torch.float32 for v in net.state_dict().values() if v.is_floating_point())


@pytest.mark.heavy
def test_training_bench_times_pytorch_in_a_child(tmp_path, monkeypatch):
    """The stand-in torch sleeps 2 ms per step; every network gets its PyTorch time and ratio."""
    (tmp_path / "torch.py").write_text(FAKE_TORCH)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    result = training_bench.run(list(training_bench.NETWORKS), threads=1, steps=1)
    assert result["versions"]["torch"] == "0.0-fake" and result["dtype"] == "float32"
    assert [r["network"] for r in result["rows"]] == ["default", "mnist", "cifar"]
    assert [r["input"] for r in result["rows"]] == [[32, 1, 8, 8], [64, 1, 28, 28], [64, 3, 32, 32]]
    for r in result["rows"]:
        assert r["fastconv_ms"] > 0 and r["torch_ms"] >= 2.0
        assert r["ratio"] == pytest.approx(r["fastconv_ms"] / r["torch_ms"])


@pytest.mark.heavy
def test_training_bench_without_torch_has_no_torch_column(tmp_path, monkeypatch):
    (tmp_path / "torch.py").write_text("raise ImportError('no torch here')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    result = training_bench.run(["default"], threads=1, steps=1)
    (row,) = result["rows"]
    assert result["versions"]["torch"] is None and row["torch_ms"] is None and row["ratio"] is None
    assert "| default | 1x8x8 (32) |" in training_bench.format_table(result)


@pytest.mark.heavy
def test_fit_trains_the_model_the_benchmark_times():
    model = build_model("default", (1, 8, 8), training_bench.CLASSES, seed=0)
    before = {k: v.copy() for k, v in model.parameters().items()}
    x, y = training_bench.synthetic_data((1, 8, 8), 64)
    assert x.dtype == np.float32 and set(np.unique(y)) <= set(range(training_bench.CLASSES))
    assert training_bench.fastconv_step_seconds(model, x, y, batch=32, steps=2) > 0
    assert any(not np.array_equal(before[k], v) for k, v in model.parameters().items())


@pytest.mark.heavy
def test_cli_bench_training_prints_the_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "training.json"
    code = cli.main(
        ["bench", "--training", "--networks", "default", "--steps", "1", "--threads", "1", "--no-torch"]
        + ["--json", str(out)]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "| network | input (batch) | fastconv ms/step | PyTorch ms/step | ratio fastconv/PyTorch |" in text
    assert "best of 3 rounds" in text
    result = json.loads(out.read_text())
    assert [r["network"] for r in result["rows"]] == ["default"] and result["rows"][0]["torch_ms"] is None


@pytest.mark.parametrize("arguments", [["--steps", "0"], ["--steps", "two"], ["--networks", "resnet"], ["--networks"]])
def test_cli_bench_training_rejects_bad_arguments_in_one_line(arguments, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["bench", "--training", *arguments])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "error" in err


def test_bench_help_names_the_training_options(capsys):
    with pytest.raises(SystemExit):
        cli.main(["bench", "--help"])
    text = capsys.readouterr().out
    for option in ("--training", "--networks", "--steps"):
        assert option in text
