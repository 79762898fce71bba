"""Autotuning: measured choices are kept per machine and used by auto, in this process and later ones."""

import json
import subprocess
import sys

import numpy as np
import pytest

import fastconv
from fastconv import cli, nn
from fastconv._geometry import conv_geometry
from fastconv.engine import cache_path, key_of, resolve_method, tuning_cache
from fastconv.engine.choice import choose_method

F32 = np.dtype(np.float32)
# A layer whose rule picks direct for the forward pass, so a stored "im2col" is visibly the cache's.
GEOM = conv_geometry((2, 4, 8, 8), (6, 4, 3, 3), padding=1)

RESOLVE_IN_A_FRESH_PROCESS = """
import numpy as np
from fastconv._geometry import conv_geometry
from fastconv.engine import resolve_method
print(resolve_method("auto", conv_geometry((2, 4, 8, 8), (6, 4, 3, 3), padding=1), "forward", np.dtype("float32")))
"""


@pytest.fixture
def cache_file(tmp_path, monkeypatch):
    path = tmp_path / "cache" / "tuning.json"
    monkeypatch.setenv("FASTCONV_TUNE_CACHE", str(path))
    tuning_cache.forget()
    yield path
    tuning_cache.forget()


def fresh_process_choice():
    result = subprocess.run([sys.executable, "-c", RESOLVE_IN_A_FRESH_PROCESS], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_a_stored_choice_is_used_here_and_in_a_fresh_process(cache_file):
    assert choose_method(GEOM, "forward", F32) == "direct"
    assert resolve_method("auto", GEOM, "forward", F32) == "direct"  # miss: the rule
    tuning_cache.store({key_of("forward", GEOM, F32): {"method": "im2col", "ms": {}}})
    assert resolve_method("auto", GEOM, "forward", F32) == "im2col"  # hit
    assert resolve_method("auto", GEOM, "grad_input", F32) == choose_method(GEOM, "grad_input", F32)
    assert resolve_method("direct", GEOM, "forward", F32) == "direct"  # an explicit method is never replaced
    assert fresh_process_choice() == "im2col"
    assert json.loads(cache_file.read_text())["fingerprint"]["numba"]


def test_another_machine_s_cache_is_ignored(cache_file):
    tuning_cache.store({key_of("forward", GEOM, F32): {"method": "im2col", "ms": {}}})
    data = json.loads(cache_file.read_text())
    data["fingerprint"]["cpu"] = "some other CPU"
    cache_file.write_text(json.dumps(data))
    tuning_cache.forget()
    assert resolve_method("auto", GEOM, "forward", F32) == "direct"
    assert fresh_process_choice() == "direct"


def test_methods_a_cache_cannot_hold_are_ignored(cache_file):
    strided = conv_geometry((2, 4, 9, 9), (6, 4, 3, 3), stride=2)
    tuning_cache.store(
        {
            key_of("forward", GEOM, F32): {"method": "fft", "ms": {}},
            key_of("forward", strided, F32): {"method": "winograd", "ms": {}},
        }
    )
    tuning_cache.forget()
    assert resolve_method("auto", GEOM, "forward", F32) == "direct"
    assert resolve_method("auto", strided, "forward", F32) == choose_method(strided, "forward", F32) != "winograd"


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"choices": 3}', "\u00ff\u00fe"])
def test_a_corrupt_cache_is_ignored_with_a_warning(cache_file, content):
    cache_file.parent.mkdir()
    cache_file.write_text(content)
    with pytest.warns(RuntimeWarning, match="ignoring the tuning cache"):
        assert resolve_method("auto", GEOM, "forward", F32) == "direct"


def test_an_unwritable_cache_warns_and_keeps_the_choice_in_this_process(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"  # the cache's folder cannot be made where a file is (as root too)
    blocker.write_text("")
    monkeypatch.setenv("FASTCONV_TUNE_CACHE", str(blocker / "fastconv" / "tuning.json"))
    tuning_cache.forget()
    try:
        with pytest.warns(RuntimeWarning, match="could not write the tuning cache"):
            tuning_cache.store({key_of("forward", GEOM, F32): {"method": "im2col", "ms": {}}})
        assert resolve_method("auto", GEOM, "forward", F32) == "im2col"
    finally:
        tuning_cache.forget()


def test_tune_measures_every_applicable_method_and_auto_follows(cache_file):
    results = fastconv.tune([((2, 4, 8, 8), (6, 4, 3, 3), dict(padding=1))], repeat=1)
    assert len(results) == 3
    for key, result in results.items():
        assert set(result["ms"]) == {"direct", "im2col", "winograd"}
        assert result["method"] == min(result["ms"], key=result["ms"].get)
        pass_name = key.split(":")[0]
        assert resolve_method("auto", GEOM, pass_name, F32) == result["method"]
    strided = fastconv.tune(
        [((2, 4, 9, 9), (6, 4, 3, 3), dict(stride=2))], passes=["forward"], dtype="float64", repeat=1
    )
    assert [set(r["ms"]) for r in strided.values()] == [{"direct", "im2col"}]  # winograd takes no strides
    assert cache_path() == str(cache_file)


def test_tune_times_the_methods_in_rounds_and_keeps_each_ones_best(cache_file, monkeypatch):
    # A slow spell of the machine spoils a round, not a method: rounds over all layers and methods (a
    # layer's rounds apart), best round each.
    from fastconv import tuning

    calls, slow_round = [], {"direct": 0, "im2col": 1, "winograd": 2}  # each method slow in one round

    def fake_best_time(fn, repeat):
        ran = []
        monkeypatch.setattr(tuning, "run_pass", lambda pass_name, method, *args: ran.append((pass_name, method)))
        fn()
        calls.append(ran[0])
        pass_name, method = ran[0]
        round_ = calls.count(ran[0]) - 1
        base = {"direct": 2.0, "im2col": 1.0, "winograd": 3.0}[method] + (pass_name == "grad_input")
        return (10.0 if round_ == slow_round[method] else base) / 1e3

    monkeypatch.setattr(tuning, "best_time", fake_best_time)
    layer = ((2, 4, 8, 8), (6, 4, 3, 3), dict(padding=1))
    results = fastconv.tune([layer], passes=["forward", "grad_input"], repeat=1)
    one_round = [(p, m) for p in ("forward", "grad_input") for m in ("direct", "im2col", "winograd")]
    assert calls == one_round * tuning.TUNING_ROUNDS
    assert [r["ms"] for r in results.values()] == [
        {"direct": 2.0, "im2col": 1.0, "winograd": 3.0},
        {"direct": 3.0, "im2col": 2.0, "winograd": 4.0},
    ]
    assert [r["method"] for r in results.values()] == ["im2col", "im2col"]


@pytest.mark.parametrize(
    "layers, kwargs, error, match",
    [
        ([((2, 4, 8, 8), (6, 5, 3, 3))], {}, ValueError, "expects C"),
        ([(2, 4, 8, 8)], {}, TypeError, r"layers\[0\] must be"),
        ([((2, 4, 8, 8), (6, 4, 3, 3))], dict(dtype="int8"), TypeError, "dtype"),
        ([((2, 4, 8, 8), (6, 4, 3, 3))], dict(passes=["backward"]), ValueError, "passes"),
        ([((2, 4, 8, 8), (6, 4, 3, 3))], dict(repeat=0), ValueError, "repeat"),
        ([((2, 4, 8.5, 8), (6, 4, 3, 3))], {}, TypeError, r"layers\[0\]'s input_shape"),
        ([((2, 4, 8, 8), (6, 4, True, 3))], {}, TypeError, r"layers\[0\]'s weight_shape"),
        ([((-2, 4, 8, 8), (6, 4, 3, 3))], {}, ValueError, r"layers\[0\]'s input_shape"),
    ],
)
def test_tune_rejects_bad_arguments(cache_file, layers, kwargs, error, match):
    with pytest.raises(error, match=match):
        fastconv.tune(layers, **kwargs)


def test_tune_model_tunes_the_layers_a_batch_runs_and_changes_nothing(cache_file, rng):
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, rng=0),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, method="direct", rng=1),
        nn.Flatten(),
        nn.Linear(4 * 6 * 6, 3, rng=2),
    )
    before = {k: v.copy() for k, v in {**model.parameters(), **model.buffers()}.items()}
    results = fastconv.tune_model(model, rng.standard_normal((5, 1, 8, 8)).astype(np.float32), repeat=1)
    # the auto layer's forward and weight gradient (its input gradient is not needed); not the direct layer's
    assert sorted(key.split(":")[0] for key in results) == ["forward", "grad_weight"]
    for name, value in {**model.parameters(), **model.buffers()}.items():
        np.testing.assert_array_equal(value, before[name])
    assert model.training


def test_fit_and_the_cli_tune_first(cache_file, tmp_path, capsys):
    from fastconv.training import fit
    from fastconv.training.data import load_digits

    splits = load_digits(seed=0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, rng=0), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10, rng=1))
    fit(model, *splits.train, epochs=1, batch_size=64, lr=0.01, progress=False, tune=True)
    assert len(json.loads(cache_file.read_text())["choices"]) == 2
    assert cli.main(["tune", "--shapes", "tiny", "2,3,9,9,4,3,3,2,1", "--dtypes", "float64", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "| tiny | float64 | forward |" in out and "| 2,3,9,9,4,3,3,2,1 | float64 | grad_weight |" in out
    assert str(cache_file) in out
