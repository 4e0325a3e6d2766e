"""Local workers: they die with the driver, even when it is killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

# The driver runs run_local with a labelling step that only reports its pid and sleeps, so
# the workers are mid-shard when the driver is killed.
DRIVER = textwrap.dedent(
    """
    import os, sys, time
    from data_gen import executors

    def sleepy(config, shard):
        print(os.getpid(), flush=True)
        time.sleep(120)
        return shard, []

    executors._label = sleepy
    for _ in executors.run_local(None, [0, 1], workers=2):
        pass
    """
)


def _alive(pid: int) -> bool:
    """Running, not a zombie (an unreaped child of init is dead for this purpose)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_exit_when_the_driver_is_killed_9():
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        workers = [int(driver.stdout.readline()) for _ in range(2)]
        assert all(_alive(pid) for pid in workers)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        survivors = [pid for pid in workers if _alive(pid)]
    finally:
        driver.kill()
        os.killpg(driver.pid, signal.SIGKILL)  # nothing of the test outlives it
    assert survivors == [], f"workers {survivors} outlived their killed driver"
