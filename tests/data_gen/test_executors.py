"""Local workers: they die with the driver, even when it is killed with SIGKILL."""

from __future__ import annotations

import contextlib
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
    from airchitect.data_gen import executors

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


def _pids(stream, count: int) -> list[int]:
    """The first ``count`` pids the workers print (a loaded machine has been seen to put a
    blank line between them)."""
    pids: list[int] = []
    while len(pids) < count:
        line = stream.readline()
        assert line, "the driver exited before its workers started"
        if line.strip():
            pids.append(int(line))
    return pids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_exit_when_the_driver_is_killed_9():
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        workers = _pids(driver.stdout, 2)
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


# The same with --executor ray: the driver starts a local Ray instance whose tasks record their
# pids and sleep. Ray's own fate-sharing has to end its raylet, GCS, agents and workers once the
# driver is gone; nothing may be left holding memory (issue 19).
RAY_DRIVER = textwrap.dedent(
    """
    import os, sys, time
    from airchitect.data_gen import executors

    def sleepy(config, shard, out=sys.argv[1]):  # bound here: a Ray worker has other argv
        open(os.path.join(out, str(os.getpid())), "w").close()
        time.sleep(300)
        return shard, []

    executors._ray_task = sleepy
    for _ in executors.run_ray(None, [0, 1], workers=2, address=None):
        pass
    """
)


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid, rest = stat.parent.name, stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        children.setdefault(int(rest[1]), []).append(int(pid))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ray_processes_exit_when_the_driver_is_killed_9(tmp_path):
    pytest.importorskip("ray", reason="--executor ray is the optional 'cluster' extra")
    driver = subprocess.Popen(
        [sys.executable, "-c", RAY_DRIVER, str(tmp_path)], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while len(list(tmp_path.iterdir())) < 2 and time.monotonic() < deadline:
            assert driver.poll() is None, "the Ray driver exited before its tasks started"
            time.sleep(0.2)
        workers = {int(p.name) for p in tmp_path.iterdir()}
        assert len(workers) == 2 and all(_alive(pid) for pid in workers)
        ray_processes = _descendants(driver.pid) | workers
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=10)
        deadline = time.monotonic() + 90
        while any(_alive(pid) for pid in ray_processes) and time.monotonic() < deadline:
            time.sleep(0.5)
        survivors = sorted(pid for pid in ray_processes if _alive(pid))
    finally:
        driver.kill()
        with contextlib.suppress(ProcessLookupError):  # the group may be gone already
            os.killpg(driver.pid, signal.SIGKILL)
    assert survivors == [], f"Ray processes {survivors} outlived their killed driver"
