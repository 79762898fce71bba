"""fastconv.dask on a real distributed.LocalCluster (2 worker processes x 1 thread).

conv2d over chunked arrays against the in-memory conv2d, predict against
Sequential.predict, data-parallel fit against single-process fit (float64,
1e-10), a worker killed during fit, errors before any task runs, the CLI, and
that the core package never imports dask.
"""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import fastconv  # noqa: E402
from fastconv import cli, nn  # noqa: E402
from fastconv import dask as fd  # noqa: E402
from fastconv.distributed import training as dtraining  # noqa: E402
from fastconv.distributed.conv import axis_plan  # noqa: E402
from fastconv.distributed.threads import thread_counts  # noqa: E402
from fastconv.nn.default_model import default_convnet  # noqa: E402
from fastconv.training.data import load_digits  # noqa: E402
from fastconv.training.loop import fit  # noqa: E402

pytestmark = pytest.mark.cluster

# Real kernels in worker processes: the no-JIT tox run skips these.
pytestmark = pytest.mark.heavy


@pytest.fixture(scope="module")
def client():
    # Compile (or load from numba's cache) the float64 kernels here first, so the workers load them from the cache.
    fastconv.conv2d(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 3)), method="direct")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, worker_dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def digits():
    splits = load_digits(seed=0)
    x, y = splits.train
    return x[:320].astype(np.float64), y[:320], splits


def random_conv_case(rng):
    """A random geometry (stride, dilation, padding, groups) with chunks along N, H and W."""
    groups = int(rng.choice([1, 2, 3]))
    C, K = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    R, S = (int(v) for v in rng.integers(1, 5, 2))
    stride = tuple(int(v) for v in rng.integers(1, 4, 2))
    dilation = tuple(int(v) for v in rng.integers(1, 3, 2))
    padding = str(rng.choice(["same", "valid"])) if rng.random() < 0.2 else tuple(int(v) for v in rng.integers(0, 4, 2))
    if padding == "same":
        stride = (1, 1)
    H = int(rng.integers(dilation[0] * (R - 1) + 1, 30))
    W = int(rng.integers(dilation[1] * (S - 1) + 1, 30))
    N = int(rng.integers(1, 6))
    chunks = (int(rng.integers(1, N + 1)), C, int(rng.integers(1, H + 1)), int(rng.integers(1, W + 1)))
    options = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    options["method"] = str(rng.choice(["auto", "direct", "im2col"]))
    return (N, C, H, W), (K, C // groups, R, S), chunks, options


def test_conv2d_over_chunks_equals_in_memory_float64(client):
    rng = np.random.default_rng(14)
    cases = []
    for _ in range(40):
        shape, weight_shape, chunks, options = random_conv_case(rng)
        x = rng.standard_normal(shape)
        weight = rng.standard_normal(weight_shape)
        bias = rng.standard_normal(weight_shape[0])
        kept = x.copy()
        expected = fastconv.conv2d(x, weight, bias, **options)
        lazy = fd.conv2d(da.from_array(x, chunks=chunks), weight, bias, **options)
        cases.append((x, kept, expected, options, chunks, lazy))
    results = client.compute([case[-1] for case in cases], sync=True)
    for (x, kept, expected, options, chunks, _), got in zip(cases, results):
        assert got.shape == expected.shape and got.dtype == np.float64, (options, chunks)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12, err_msg=f"{options} chunks {chunks}")
        np.testing.assert_array_equal(x, kept)  # the input is not modified
    assert sum(np.prod(case[-1].numblocks) > 1 for case in cases) > 30  # most cases really are cut


@pytest.mark.parametrize("method", ["winograd", "auto"])
def test_conv2d_over_chunks_float32(client, method):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 4, 23, 19)).astype(np.float32)
    weight = rng.standard_normal((6, 4, 3, 3)).astype(np.float32)
    lazy = fd.conv2d(da.from_array(x, chunks=(2, 4, 7, 6)), weight, padding=1, method=method)
    expected = fastconv.conv2d(x, weight, padding=1, method=method)
    got = lazy.compute()
    # W: a last chunk of 1 column joins the one before, unless Winograd moved the boundaries to whole tiles
    assert got.dtype == np.float32 and lazy.numblocks == ((3, 1, 4, 4) if method == "winograd" else (3, 1, 4, 3))
    assert np.abs(got - expected).max() <= 1e-6 * np.abs(expected).max()


def test_axis_plan_aligns_chunks_to_the_stride():
    # padded coordinates: each block starts at a multiple of the stride, every chunk holds the halo
    for size, chunks, before, after, span, stride in [
        (30, (7, 7, 7, 9), 2, 2, 5, 3),
        (30, (1,) * 30, 0, 0, 3, 1),
        (10, (9, 1), 0, 0, 3, 1),
        (12, (5, 7), 3, 3, 2, 4),
    ]:
        out = (size + before + after - span) // stride + 1
        plan = axis_plan(chunks, size, before, after, span, stride, out)
        starts = np.cumsum((0,) + plan.chunks[:-1]) + before
        assert sum(plan.chunks) == size and sum(plan.out_chunks) == out
        assert all(s % stride == 0 for s in starts[1:]) and min(plan.out_chunks) >= 1
        assert plan.halo == max(span - stride, 0) and min(plan.chunks) >= plan.halo
    # a block starting at row 28 would have no output row: the last chunk keeps 4 rows
    assert axis_plan((1,) * 30, 30, 0, 0, 3, 1, 28).chunks == (2,) * 13 + (4,)
    # Winograd's blocks: multiples of 4 output rows
    assert axis_plan((7, 7, 7, 9), 30, 1, 1, 3, 1, 30, unit=4).chunks == (7, 4, 8, 11)


@pytest.mark.parametrize(
    "args, kwargs",
    [
        ((np.zeros((2, 3, 8, 8)), np.zeros((4, 3, 3, 3))), {}),  # not a dask array
        ((da.zeros((2, 3, 8, 8), dtype=np.int64), np.zeros((4, 3, 3, 3))), {}),
        ((da.zeros((3, 8, 8)), np.zeros((4, 3, 3, 3))), {}),
        ((da.zeros((2, 3, 8, 8)), np.zeros((4, 2, 3, 3))), {}),
        ((da.zeros((2, 3, 8, 8)), np.zeros((4, 3, 3, 3))), {"stride": 0}),
        ((da.zeros((2, 3, 8, 8)), np.zeros((4, 3, 3, 3))), {"padding": "same", "stride": 2}),
        ((da.zeros((2, 3, 8, 8)), np.zeros((4, 3, 5, 5))), {"method": "winograd"}),
        ((da.zeros((2, 3, 8, 8)), np.zeros((4, 3, 3, 3)), np.zeros(3)), {}),
        ((da.zeros((2, 3, 2, 2)), np.zeros((4, 3, 3, 3))), {}),
        ((da.zeros((2, 3, 8, 8)), np.zeros((4, 3, 3, 3))), {"method": "fft"}),
    ],
)
def test_conv2d_errors_as_in_memory_before_any_task(args, kwargs):
    # A graph whose every task fails: an error raised here is raised before any task runs.
    x = args[0]
    if isinstance(x, da.Array):
        x = x.map_blocks(lambda block: 1 / 0, dtype=x.dtype)
    with pytest.raises((ValueError, TypeError)) as lazy_error:
        fd.conv2d(x, *args[1:], **kwargs)
    if isinstance(args[0], da.Array):
        with pytest.raises(type(lazy_error.value)) as eager_error:
            fastconv.conv2d(np.zeros(args[0].shape, dtype=args[0].dtype), *args[1:], **kwargs)
        assert str(lazy_error.value) == str(eager_error.value)
    else:
        assert "dask array" in str(lazy_error.value)


def test_predict_is_lazy_equal_and_sends_the_model_once(client, digits):
    _, _, splits = digits
    model = default_convnet(splits.input_shape, splits.classes, width=4, seed=2, dtype=np.float64)
    x = splits.test[0].astype(np.float64)
    lazy = fd.predict_proba(model, da.from_array(x, chunks=(25, 1, 4, 8)), batch_size=16)
    assert isinstance(lazy, da.Array) and lazy.shape == (len(x), splits.classes) and lazy.numblocks[0] > 4
    # one node of the graph holds the model; every block's task refers to it by key
    graph = dict(lazy.__dask_graph__())
    holding_model = [k for k, v in graph.items() if isinstance(getattr(v, "value", v), nn.Sequential)]
    assert len(holding_model) == 1
    np.testing.assert_allclose(lazy.compute(), model.predict_proba(x), rtol=0, atol=1e-12)
    labels = fd.predict(model, da.from_array(x, chunks=40))
    np.testing.assert_array_equal(labels.compute(), model.predict(x))
    # each worker's kernels and BLAS use its one thread
    for counts in client.run(thread_counts).values():
        assert set(counts.values()) == {1}, counts


def test_predict_errors_before_any_task():
    model = default_convnet((1, 8, 8), 10, width=4, seed=0, dtype=np.float64)
    failing = da.zeros((10, 1, 12, 12), chunks=5).map_blocks(lambda block: 1 / 0, dtype=np.float64)
    with pytest.raises(ValueError, match="Linear expects input"):
        fd.predict(model, failing)
    with pytest.raises(TypeError, match="dask array"):
        fd.predict(model, np.zeros((10, 1, 8, 8)))
    with pytest.raises(TypeError, match="Sequential"):
        fd.predict_proba(object(), failing)


FIT_OPTIONS = dict(epochs=2, batch_size=32, lr=0.05, momentum=0.9, weight_decay=1e-3, seed=3, progress=False)


def _trained_in_process(digits, **options):
    x, y, splits = digits
    model = default_convnet(splits.input_shape, splits.classes, width=4, seed=1, dtype=np.float64)
    history = fit(model, x, y, **dict(FIT_OPTIONS, **options))
    return model, history


def _assert_same_parameters(a, b, tolerance=1e-10):
    for name, value in a.parameters().items():
        np.testing.assert_allclose(b.parameters()[name], value, rtol=0, atol=tolerance, err_msg=name)


@pytest.mark.parametrize("as_dask", [False, True])
def test_fit_equals_single_process_fit(client, digits, as_dask):
    x, y, splits = digits
    validation = (splits.validation[0].astype(np.float64), splits.validation[1])
    options = dict(validation_data=validation)
    if as_dask:  # uneven chunks; class weights and balanced draws
        options.update(loss=nn.SoftmaxCrossEntropy(class_weights=np.arange(1.0, 11.0)), balance_classes=True)
    expected, expected_history = _trained_in_process(digits, **options)
    model = default_convnet(splits.input_shape, splits.classes, width=4, seed=1, dtype=np.float64)
    before = {k: v.copy() for k, v in model.parameters().items()}
    x_in = da.from_array(x, chunks=((100, 60, 90, 70), 1, 8, 8)) if as_dask else x
    history = fd.fit(model, x_in, y, client=client, **dict(FIT_OPTIONS, **options))
    _assert_same_parameters(expected, model)
    assert any(np.abs(before[k] - v).max() > 1e-3 for k, v in model.parameters().items())
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"):
        np.testing.assert_allclose(history[key], expected_history[key], rtol=1e-10, err_msg=key)


def test_fit_retries_the_step_when_a_worker_is_killed(client, digits, monkeypatch):
    expected, _ = _trained_in_process(digits)
    _, _, splits = digits
    model = default_convnet(splits.input_shape, splits.classes, width=4, seed=1, dtype=np.float64)
    pids = client.run(os.getpid)
    victim = sorted(pids)[0]
    calls = []
    tree_sum = dtraining.tree_sum

    def tree_sum_then_kill(client_, shares):
        calls.append(1)
        total = tree_sum(client_, shares)
        if len(calls) == 5:  # step 5's tasks are submitted: kill a worker, hard
            os.kill(pids[victim], signal.SIGKILL)
        return total

    monkeypatch.setattr(dtraining, "tree_sum", tree_sum_then_kill)
    history = fd.fit(model, *digits[:2], client=client, **FIT_OPTIONS)
    steps = FIT_OPTIONS["epochs"] * -(-len(digits[1]) // FIT_OPTIONS["batch_size"])
    # Dask reran the lost tasks elsewhere (steps calls), or fit tried the step again (one more)
    assert steps <= len(calls) <= steps + 2 and len(history["train_loss"]) == FIT_OPTIONS["epochs"]
    _assert_same_parameters(expected, model)  # the step was applied once, fully
    client.wait_for_workers(2, timeout=60)  # the nanny restarts the killed worker
    assert set(client.run(os.getpid).values()) != set(pids.values())


def test_fit_error_is_clear_and_model_is_whole_when_a_step_cannot_finish(client, digits, monkeypatch):
    steps_per_epoch = -(-len(digits[1]) // FIT_OPTIONS["batch_size"])
    after_one_epoch, _ = _trained_in_process(digits, epochs=1)
    _, _, splits = digits
    model = default_convnet(splits.input_shape, splits.classes, width=4, seed=1, dtype=np.float64)
    calls = []
    tree_sum = dtraining.tree_sum

    def failing_after_one_epoch(client_, shares):
        calls.append(1)
        if len(calls) > steps_per_epoch:
            raise distributed.comm.CommClosedError("in <TCP (closed)>: the worker went away")
        return tree_sum(client_, shares)

    monkeypatch.setattr(dtraining, "tree_sum", failing_after_one_epoch)
    with pytest.raises(fd.ClusterStepFailed, match=f"step {steps_per_epoch + 1} failed .* after 2 attempts"):
        fd.fit(model, *digits[:2], client=client, retries=1, **FIT_OPTIONS)
    assert len(calls) == steps_per_epoch + 2
    _assert_same_parameters(after_one_epoch, model)


def test_fit_errors_before_any_task(client, digits):
    x, y, _ = digits
    model = default_convnet((1, 8, 8), 10, width=4, seed=1, dtype=np.float64)
    failing = da.from_array(x, chunks=100).map_blocks(lambda block: 1 / 0, dtype=x.dtype)
    for bad, match in [
        (dict(epochs=0), "epochs must be >= 1"),
        (dict(momentum=1.5), "momentum"),
        (dict(schedule="weekly"), "schedule"),
        (dict(retries=-1), "retries"),
        (dict(x=failing[:, :, :6]), "Linear expects input"),
        (dict(y=y[:-1]), "x must be"),
        (dict(y=y.astype(float)), "integers"),
        (dict(client="tcp://nowhere"), "client"),
    ]:
        arguments = dict(dict(FIT_OPTIONS, x=failing, y=y, client=client), **bad)
        with pytest.raises((ValueError, TypeError), match=match):
            fd.fit(model, arguments.pop("x"), arguments.pop("y"), **arguments)
    with pytest.raises(ValueError, match=r"labels y must lie in \[0, 10\)"):
        fd.fit(model, x, y + 5, client=client, **FIT_OPTIONS)


def test_cli_trains_on_a_scheduler(client, tmp_path, capsys):
    out = tmp_path / "run"
    address = client.scheduler.address
    code = cli.main(["train", "--epochs", "1", "--out", str(out), "--no-progress", "--scheduler", address])
    assert code == 0
    printed = capsys.readouterr().out
    assert f"cluster: {address}, 2 workers" in printed and "test accuracy" in printed
    record = json.loads((out / "history.json").read_text())
    assert record["arguments"]["scheduler"] == address and len(record["train_loss"]) == 1


def test_cli_cluster_options_are_exclusive(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--workers", "2", "--scheduler", "tcp://localhost:8786"])
    assert "not allowed with" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--workers", "0", "--out", "unused"])
    assert exit_info.value.code == 2
    assert "argument --workers: value must be >= 1" in capsys.readouterr().err


def test_core_package_does_not_import_dask():
    code = (
        "import sys, fastconv, fastconv.nn, fastconv.training, fastconv.cli, fastconv.bench, fastconv.pool; "
        "fastconv.cli.build_parser(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed', 'threadpoolctl') "
        "or m.startswith(('fastconv.dask', 'fastconv.distributed'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
