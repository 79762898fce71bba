"""Every layer's forward and backward take any array shape thrown at them: a right answer or a clear error."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastconv import nn

LAYERS = {
    "Conv2d": lambda: nn.Conv2d(2, 3, 3, padding=1, dtype=np.float64, rng=0),
    "MaxPool2d": lambda: nn.MaxPool2d(2),
    "ReLU": lambda: nn.ReLU(),
    "Flatten": lambda: nn.Flatten(),
    "Linear": lambda: nn.Linear(6, 4, dtype=np.float64, rng=0),
}
INPUTS = {"Conv2d": (2, 2, 5, 4), "MaxPool2d": (2, 3, 8, 8), "ReLU": (3, 5), "Flatten": (2, 3, 2), "Linear": (5, 6)}

shapes = st.lists(st.integers(0, 9), min_size=0, max_size=5).map(tuple)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(LAYERS)), shape=shapes)
def test_backward_takes_only_a_gradient_of_the_last_outputs_shape(name, shape):
    layer = LAYERS[name]()
    x = np.random.default_rng(0).standard_normal(INPUTS[name])
    out = layer.forward(x)
    grad = np.ones(shape)
    if shape == out.shape:
        assert layer.backward(grad).shape == x.shape
    else:
        with pytest.raises(ValueError, match=rf"{name}.backward: grad must have the shape of the last output"):
            layer.backward(grad)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(LAYERS)), shape=shapes)
def test_forward_takes_any_shape_without_crashing(name, shape):
    layer = LAYERS[name]()
    try:
        out = layer.forward(np.ones(shape))
    except ValueError as exc:
        assert name in str(exc) or "input" in str(exc) or "pooling window" in str(exc) or "kernel" in str(exc)
    else:
        assert layer.backward(np.ones(out.shape)).shape == shape


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize(
    "bad, error",
    [
        (np.ones((2, 3, 8, 8), np.float16), TypeError),
        (np.ones((2, 3, 8, 8), np.complex128), TypeError),
        ("not an array", TypeError),
        ([[1, 2], [3]], TypeError),
    ],
)
def test_forward_rejects_what_is_not_a_float_array(name, bad, error):
    with pytest.raises(error, match=f"{name} input"):
        LAYERS[name]().forward(bad)


def test_backward_before_forward_is_a_clear_error():
    for name, make in LAYERS.items():
        with pytest.raises(RuntimeError, match=f"{name}.backward called before forward"):
            make().backward(np.ones(3))


def test_max_pool_accepts_lists_and_big_endian_arrays():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    expected = nn.MaxPool2d(2).forward(x)
    np.testing.assert_array_equal(nn.MaxPool2d(2).forward(x.tolist()), expected)
    np.testing.assert_array_equal(nn.MaxPool2d(2).forward(x.astype(">f8")), expected)


@pytest.mark.heavy
def test_layers_from_many_threads_under_the_workqueue_layer():
    """workqueue aborts the process on concurrent launches: every kernel must launch through the engine's lock
    (the last 1x1 layer's passes, under PLAIN_LOOPS_BELOW_FLOPS, launch nothing and run beside them unlocked;
    the first layer's im2col products run compiled, on numba's threads)."""
    code = textwrap.dedent("""
        import threading
        import numpy as np
        from fastconv import nn
        from fastconv.engine import products
        products.NUMPY_BELOW_FLOPS = 0
        model = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1, method="im2col", rng=0), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 1, 1, rng=1)
        )
        x = np.random.default_rng(0).standard_normal((4, 3, 16, 16)).astype(np.float32)
        expected = model.forward(x)
        errors = []

        def work():
            for _ in range(20):
                layers = [
                    nn.Conv2d(3, 4, 3, padding=1, method="im2col", rng=0),
                    nn.ReLU(),
                    nn.MaxPool2d(2),
                    nn.Conv2d(4, 1, 1, rng=1),
                ]
                local = nn.Sequential(*layers)
                out = local.forward(x)
                local.backward(np.ones_like(out))
                if not np.array_equal(out, expected):
                    errors.append("different result")

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        import numba
        print(numba.threading_layer(), len(errors))
    """)
    env = dict(os.environ, NUMBA_THREADING_LAYER="workqueue")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["workqueue", "0"]
