"""The fastconv command: help, a tiny training run, and output safety."""

import json
import os
import pickle
import stat
import subprocess
import sys

import numpy as np
import pytest

from fastconv import cli, nn


def test_help_texts(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    assert "train" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = capsys.readouterr().out
    for option in (
        "--dataset",
        "--epochs",
        "--batch-size",
        "--lr",
        "--momentum",
        "--weight-decay",
        "--method",
        "--seed",
        "--out",
        "--model",
        "--optimizer",
    ):
        assert option in text
    for model in ("default", "mnist", "cifar", "names1d"):
        assert model in text


@pytest.mark.heavy
def test_tiny_training_run_writes_all_outputs(tmp_path, capsys):
    out = tmp_path / "run"
    code = cli.main(["train", "--epochs", "2", "--out", str(out), "--no-progress", "--method", "direct"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "test accuracy" in printed
    assert sorted(p.name for p in out.iterdir()) == sorted(cli.OUTPUT_FILES)
    record = json.loads((out / "history.json").read_text())
    assert record["epoch"] == [1, 2] and 0.5 < record["test_accuracy"] <= 1.0
    for png in ("learning_curves.png", "confusion_matrix.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model = nn.load(out / "model.npz")
    assert model.layers[0].method == "direct"


def test_existing_outputs_are_not_clobbered(tmp_path, capsys):
    (tmp_path / "history.json").write_text("keep me")
    assert cli.main(["train", "--epochs", "1", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "history.json").read_text() == "keep me"


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--seed", "-1"], "argument --seed: value must be >= 0, got -1"),
        (["--epochs", "0"], "argument --epochs: value must be >= 1, got 0"),
        (["--weight-decay", "nan"], "argument --weight-decay: value must be finite, got nan"),
        (["--momentum", "1"], "argument --momentum: value must be in [0.0, 1.0), got 1.0"),
        (["--lr", "x"], "argument --lr: could not convert string to float: 'x'"),
    ],
)
def test_bad_arguments_are_one_line_and_status_2(arguments, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", *arguments])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == f"fastconv train: error: {message}\n"


def test_unusable_out_is_found_before_training(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    (tmp_path / "dir_model").mkdir()
    (tmp_path / "dir_model" / "model.npz").mkdir()
    cases = {
        "": "--out must name a folder",
        str(tmp_path / "file"): "exists and is not a folder",
        str(tmp_path / "file" / "sub"): "a part of the path is a file",
        str(tmp_path / "foreign"): "holds notes.txt, which a run does not write",
        str(tmp_path / "dir_model"): "holds model.npz, which a run does not write",
    }
    for out, message in cases.items():
        assert cli.main(["train", "--out", out, "--overwrite", "--epochs", "999"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    assert (tmp_path / "foreign" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir_model", "file", "foreign"]


@pytest.mark.heavy
def test_outputs_follow_the_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        assert cli.main(["train", "--epochs", "1", "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "run").stat().st_mode) == 0o750
    for name in cli.OUTPUT_FILES:
        assert stat.S_IMODE((tmp_path / "run" / name).stat().st_mode) == 0o640


def test_bad_dataset_is_a_clear_error(capsys, tmp_path):
    assert cli.main(["train", "--dataset", "imagenet", "--out", str(tmp_path / "x")]) == 2
    assert "--dataset must be digits, mnist:DIR or cifar10:DIR" in capsys.readouterr().err


def test_module_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "fastconv", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "train" in result.stdout


@pytest.mark.heavy
def test_train_chooses_a_built_in_model_and_optimizer(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--model", "cifar", "--optimizer", "adam", "--lr", "0.003", "--epochs", "1"]
    assert cli.main(argv + ["--batch-size", "64", "--out", str(out), "--no-progress"]) == 0
    assert "BatchNorm2d" in capsys.readouterr().out
    record = json.loads((out / "history.json").read_text())
    assert record["arguments"]["model"] == "cifar" and record["arguments"]["optimizer"] == "adam"
    model = nn.load(out / "model.npz")
    assert [type(layer).__name__ for layer in model.layers][-3:] == ["AdaptiveAvgPool2d", "Flatten", "Linear"]
    assert model.buffers()["1.num_batches_tracked"] > 0


def test_a_model_that_does_not_fit_the_data_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["train", "--model", "names1d", "--out", str(tmp_path / "x"), "--no-progress"]) == 2
    assert "takes one-hot sequences" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--model", "resnet"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.heavy
def test_cifar_model_trains_on_cifar10_batches(tmp_path, capsys):
    """Synthetic batches in CIFAR-10's python format (random pixels): the pipeline, not the accuracy."""
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"labels": rng.integers(0, 10, 8).tolist(), b"data": rng.integers(0, 256, (8, 3072), dtype=np.uint8)}
        (tmp_path / name).write_bytes(pickle.dumps(batch, protocol=2))
    out = tmp_path / "run"
    argv = ["train", "--dataset", f"cifar10:{tmp_path}", "--model", "cifar", "--epochs", "1", "--batch-size", "16"]
    assert cli.main(argv + ["--out", str(out), "--no-progress"]) == 0
    assert "input (3, 32, 32), 10 classes" in capsys.readouterr().out
    assert nn.load(out / "model.npz").forward(np.zeros((1, 3, 32, 32), dtype=np.float32)).shape == (1, 10)
