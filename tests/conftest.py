import os

import numpy as np
import pytest

from fastconv.engine import direct as _direct
from fastconv.engine import products as _products

# One table of tolerances for comparing against the float64 reference.
# float32: the test data is O(1) and reductions are at most a few hundred terms.
TOLERANCE = {
    np.dtype(np.float32): {"rtol": 2e-4, "atol": 2e-4},
    np.dtype(np.float64): {"rtol": 1e-10, "atol": 1e-10},
}

DTYPES = [np.float32, np.float64]
METHODS = ["direct", "im2col", "auto"]


def assert_close(actual, expected, dtype):
    """actual has ``dtype`` and matches the float64 ``expected`` to that dtype's tolerance."""
    assert actual.dtype == np.dtype(dtype)
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, **TOLERANCE[np.dtype(dtype)])


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True, scope="session")
def private_tuning_cache(tmp_path_factory):
    """The tests (and the processes they start) read and write a tuning cache of their own, never the user's."""
    from fastconv.engine import tuning_cache

    os.environ["FASTCONV_TUNE_CACHE"] = str(tmp_path_factory.mktemp("tuning") / "tuning.json")
    tuning_cache.forget()


SHIPPED_PLAIN_LOOPS_BELOW_FLOPS = _direct.PLAIN_LOOPS_BELOW_FLOPS
SHIPPED_NUMPY_BELOW_FLOPS = _products.NUMPY_BELOW_FLOPS


@pytest.fixture(autouse=True)
def tiles_at_every_size(monkeypatch):
    """The direct method runs its smallest passes on plain loops (fastconv/engine/direct.py); the tests'
    small layers check the tiles instead. Tests of the plain loops set SHIPPED_PLAIN_LOOPS_BELOW_FLOPS back."""
    monkeypatch.setattr(_direct, "PLAIN_LOOPS_BELOW_FLOPS", 0)


@pytest.fixture(autouse=True)
def compiled_products_at_every_size(monkeypatch):
    """Small matrix products call np.matmul (fastconv/engine/products.py); the tests' small layers and
    matrices check the compiled products instead. Tests of that rule set SHIPPED_NUMPY_BELOW_FLOPS back."""
    monkeypatch.setattr(_products, "NUMPY_BELOW_FLOPS", 0)
