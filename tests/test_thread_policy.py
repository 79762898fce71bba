"""The thread policy fastconv sets on import, and how the user's own settings win."""

import os
import subprocess
import sys

from fastconv import _thread_policy


def _policy_in_fresh_interpreter(**env):
    names = ("GOMP_SPINCOUNT", "KMP_BLOCKTIME", "OPENBLAS_THREAD_TIMEOUT")
    code = f"import os, fastconv; print(*(os.environ.get(name, '-') for name in {names}))"
    environ = {k: v for k, v in os.environ.items() if k not in _thread_policy.USER_THREAD_ENV}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True
    ).stdout.split()


def test_import_sets_a_short_spin_unless_the_user_chose():
    assert _policy_in_fresh_interpreter() == ["10000", "1", "4"]
    assert _policy_in_fresh_interpreter(GOMP_SPINCOUNT="5", OPENBLAS_THREAD_TIMEOUT="1") == ["5", "1", "1"]
    # The user's wait policy decides alone: no spin count to override it.
    assert _policy_in_fresh_interpreter(OMP_WAIT_POLICY="PASSIVE") == ["-", "-", "4"]


def test_user_thread_environment_restores_what_the_user_had(monkeypatch):
    monkeypatch.setattr(
        _thread_policy,
        "USER_THREAD_ENV",
        {"GOMP_SPINCOUNT": None, "OPENBLAS_THREAD_TIMEOUT": "9", "OMP_WAIT_POLICY": None},
    )
    env = _thread_policy.user_thread_environment({"GOMP_SPINCOUNT": "10000", "OPENBLAS_THREAD_TIMEOUT": "4", "X": "1"})
    assert env == {"OPENBLAS_THREAD_TIMEOUT": "9", "X": "1"}


def test_thread_count_is_numbas_and_a_serial_pass_restores_it():
    import numba
    import numpy as np

    import fastconv
    from fastconv.engine.threads import set_thread_count, thread_count

    before = numba.get_num_threads()
    assert thread_count() == before
    try:
        set_thread_count(1)
        assert numba.get_num_threads() == thread_count() == 1
        set_thread_count(before)
        assert numba.get_num_threads() == before
        fastconv.conv2d(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)))  # small: runs on one thread
        assert numba.get_num_threads() == thread_count() == before
    finally:
        numba.set_num_threads(before)
