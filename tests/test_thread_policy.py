"""The thread policy fastconv sets on import, and how the user's own settings win."""

import os
import subprocess
import sys

from fastconv import _thread_policy


def _policy_in_fresh_interpreter(**env):
    code = "import os, fastconv; print(os.environ['OMP_WAIT_POLICY'], os.environ['OPENBLAS_THREAD_TIMEOUT'])"
    environ = {k: v for k, v in os.environ.items() if k not in _thread_policy.THREAD_POLICY}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True
    ).stdout.split()


def test_import_sets_passive_waiting_unless_the_user_chose():
    assert _policy_in_fresh_interpreter() == ["PASSIVE", "4"]
    assert _policy_in_fresh_interpreter(OMP_WAIT_POLICY="ACTIVE") == ["ACTIVE", "4"]


def test_user_thread_environment_restores_what_the_user_had(monkeypatch):
    monkeypatch.setattr(_thread_policy, "USER_THREAD_ENV", {"OMP_WAIT_POLICY": None, "OPENBLAS_THREAD_TIMEOUT": "9"})
    env = _thread_policy.user_thread_environment(
        {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_THREAD_TIMEOUT": "4", "X": "1"}
    )
    assert env == {"OPENBLAS_THREAD_TIMEOUT": "9", "X": "1"}
