"""The benchmark command runs and reports consistent figures (no timing is asserted)."""

import json

import pytest

from fastconv import bench, cli


@pytest.mark.heavy
def test_bench_one_case_reports_all_columns(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = cli.main(["bench", "--shapes", "lecture", "--dtypes", "float64", "--passes", "grad_weight",
                     "--methods", "direct", "im2col", "--repeat", "1", "--no-torch", "--json", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "| lecture | float64 | grad_weight | direct |" in text and "matmul" in text
    result = json.loads(out.read_text())
    assert [r["method"] for r in result["rows"]] == ["direct", "im2col"]
    for r in result["rows"]:
        assert r["ms"] > 0 and r["gflops"] == pytest.approx(bench.flops(bench.SHAPES["lecture"]) / r["ms"] / 1e6)
        assert r["torch_ms"] is None
    direct, im2col = result["rows"]
    # direct holds zero-padded copies of the input and the output gradient (nothing x R*S),
    # im2col a column matrix chunk
    grad_out_mib = 100 * 4 * 28 * 28 * 8 / 2**20
    assert direct["extra_mib"] < min(2 * (direct["input_mib"] + grad_out_mib), im2col["extra_mib"])


def test_flop_count_of_the_lecture_shape():
    # 100 images, 4 filters of 5x5x3 on 32x32 -> 28x28 outputs
    assert bench.flops(bench.SHAPES["lecture"]) == 2 * 100 * 4 * 28 * 28 * 3 * 5 * 5
