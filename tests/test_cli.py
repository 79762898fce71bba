"""The fastconv command: help, a tiny training run, and output safety."""

import json
import os
import stat
import subprocess
import sys

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
    ):
        assert option in text


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
        (["--momentum", "1"], "argument --momentum: value must be < 1.0, got 1.0"),
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
