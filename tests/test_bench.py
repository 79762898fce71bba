"""The benchmark command runs and reports consistent figures (no timing is asserted)."""

import json

import pytest

from fastconv import bench, cli


@pytest.mark.heavy
def test_bench_one_case_reports_all_columns(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = cli.main(
        [
            "bench",
            "--shapes",
            "lecture",
            "--dtypes",
            "float64",
            "--passes",
            "grad_weight",
            "--methods",
            "direct",
            "im2col",
            "--repeat",
            "1",
            "--no-torch",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "| lecture | float64 | grad_weight | direct |" in text and "matmul" in text
    result = json.loads(out.read_text())
    assert [r["method"] for r in result["rows"]] == ["direct", "im2col"]
    for r in result["rows"]:
        assert r["ms"] > 0 and r["gflops"] == pytest.approx(
            bench.geometry_of(bench.SHAPES["lecture"]).flops / r["ms"] / 1e6
        )
        assert r["torch_ms"] is None
    direct, im2col = result["rows"]
    # direct holds zero-padded copies of the input and the output gradient (nothing x R*S),
    # im2col a column matrix chunk
    grad_out_mib = 100 * 4 * 28 * 28 * 8 / 2**20
    assert direct["extra_mib"] < min(2 * (direct["input_mib"] + grad_out_mib), im2col["extra_mib"])


def test_flop_count_of_the_lecture_shape():
    # 100 images, 4 filters of 5x5x3 on 32x32 -> 28x28 outputs
    assert bench.geometry_of(bench.SHAPES["lecture"]).flops == 2 * 100 * 4 * 28 * 28 * 3 * 5 * 5


FAKE_TORCH = '''
"""A stand-in for torch: the benchmark's child process only needs these names."""
import contextlib
import time
import types

__version__ = "0.0-fake"


def set_num_threads(n):
    pass


def from_numpy(a):
    return a


def _pass(*args, **kwargs):
    time.sleep(0.002)


no_grad = contextlib.nullcontext
nn = types.SimpleNamespace(functional=types.SimpleNamespace(conv2d=_pass),
                           grad=types.SimpleNamespace(conv2d_input=_pass, conv2d_weight=_pass))
'''


@pytest.mark.heavy
def test_bench_times_pytorch_cell_by_cell_in_a_child(tmp_path, monkeypatch):
    """The stand-in torch sleeps 2 ms per pass; its times arrive matched to their cells."""
    (tmp_path / "torch.py").write_text(FAKE_TORCH)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    result = bench.run(
        ["lecture"], ["float64"], ["forward", "grad_weight"], ["direct"], threads=1, repeat=1, memory=False
    )
    assert result["versions"]["torch"] == "0.0-fake"
    assert [(r["pass_"], r["method"]) for r in result["rows"]] == [("forward", "direct"), ("grad_weight", "direct")]
    for r in result["rows"]:
        assert r["torch_ms"] >= 2.0
        assert r["speedup"] == pytest.approx(r["torch_ms"] / r["ms"])


def test_bench_without_torch_in_the_child_reports_no_torch_columns(tmp_path, monkeypatch):
    (tmp_path / "torch.py").write_text("raise ImportError('no torch here')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    timer = bench.TorchTimer(threads=1)
    try:
        assert timer.version is None
        assert timer.seconds(bench.SHAPES["lecture"], "float64", "forward", repeat=1) is None
    finally:
        timer.close()
