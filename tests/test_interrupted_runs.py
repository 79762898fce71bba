"""Ctrl-C or SIGTERM at any point of `fastconv train --overwrite` leaves the earlier run or the new one, whole.

FASTCONV_INTERRUPTIONS sets how many interrupted runs (default 8; the README's
figure comes from 50).
"""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from fastconv.cli import OUTPUT_FILES

pytestmark = pytest.mark.heavy


def train(out, seed):
    command = [sys.executable, "-m", "fastconv", "train", "--epochs", "1", "--seed", str(seed)]
    command += ["--out", str(out), "--overwrite", "--no-progress"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def snapshot(folder):
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder))}


def test_interrupted_runs_leave_the_old_run_or_the_new_one(tmp_path):
    out = tmp_path / "run"
    assert train(out, seed=0).wait(timeout=600) == 0  # the first run may compile the kernels: not a measure
    start = time.perf_counter()
    assert train(out, seed=0).wait(timeout=300) == 0
    duration = time.perf_counter() - start
    rng = random.Random(1)
    outcomes = {"old": 0, "new": 0}
    for i in range(1, int(os.environ.get("FASTCONV_INTERRUPTIONS", "8")) + 1):
        before = snapshot(out)
        child = train(out, seed=i)
        time.sleep(rng.uniform(0.2, 1.1) * duration)
        child.send_signal(signal.SIGINT if i % 2 else signal.SIGTERM)
        code = child.wait(timeout=300)
        after = snapshot(out)
        assert sorted(after) == sorted(OUTPUT_FILES)
        if after == before:
            outcomes["old"] += 1
            # 130: interrupted in the command; killed by the signal: interrupted while Python was starting
            assert code in (130, -signal.SIGINT, -signal.SIGTERM)
        else:
            outcomes["new"] += 1
            assert all(after[name] != before[name] for name in OUTPUT_FILES), "a mixture of two runs"
            assert json.loads(after["history.json"])["arguments"]["seed"] == i
        assert os.listdir(tmp_path) == ["run"], "a stray temporary was left"
    print(f"interrupted runs: {outcomes['old']} left the earlier run, {outcomes['new']} finished first")
    assert outcomes["old"] > 0  # the signals did interrupt runs
