"""Run shard labelling in parallel: local processes (default) or a Ray cluster.

Workers label and return rows; the driver commits each shard as it arrives, so a dataset
never depends on a shared filesystem and an interrupted run keeps every finished shard.
Each worker runs one thread: parallelism comes from processes, not from BLAS or torch threads.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from airchitect.data_gen.generate import GeneratorConfig, label_shard

EXECUTORS = ("process", "ray")
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

ShardResult = tuple[int, list[dict]]
#: Called with the rows labelled so far in this run, as they are labelled (not per shard).
RowsCallback = Callable[[int], None]
_POLL_S = 0.5  # how often the driver reads the workers' row counter

_rows_labelled = None  # in a local worker: the driver's shared counter (multiprocessing.Value)


def _worker_init(parent_pid: int, rows_labelled=None) -> None:
    """Local workers: one thread, Ctrl-C is the driver's to handle (it stops them), and they
    die with the driver however it dies (``kill -9`` included): nobody else would stop them.
    Each adds the rows it labels to ``rows_labelled``, the driver's progress counter."""
    global _rows_labelled
    _rows_labelled = rows_labelled
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent_pid)
    single_thread()


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this process when ``parent_pid`` ends (Linux); elsewhere a
    daemon thread polls for it. ``parent_pid`` closes the race of a parent already gone.

    On Linux the signal comes when the thread that started the worker ends: the pool is made
    and consumed in the one thread that runs :func:`run_local`, so that is the driver's life."""
    if not _linux_pdeathsig():
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    if os.getppid() != parent_pid:
        os._exit(1)


def _linux_pdeathsig() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    os._exit(1)


def single_thread() -> None:
    """Pin this process to one compute thread (set before numpy/torch spin up pools)."""
    for var in _THREAD_VARS:
        os.environ[var] = "1"
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # torch is optional for labelling
        pass


def _count_rows(rows: int) -> None:
    if _rows_labelled is not None:
        with _rows_labelled.get_lock():
            _rows_labelled.value += rows


def _label(config: GeneratorConfig, shard: int) -> ShardResult:
    return shard, label_shard(config, shard, on_rows=_count_rows)


def run_local(
    config: GeneratorConfig, shards: Sequence[int], workers: int,
    on_rows: RowsCallback | None = None,
) -> Iterator[ShardResult]:  # fmt: skip
    """Yield (shard, rows) as shards finish; ``workers <= 1`` runs in this process.
    ``on_rows`` hears the rows labelled so far, row by row (polled every half second)."""
    if workers <= 1 or len(shards) <= 1:
        single_thread()
        labelled = 0

        def count(rows: int) -> None:
            nonlocal labelled
            labelled += rows
            if on_rows is not None:
                on_rows(labelled)

        for shard in shards:
            yield shard, label_shard(config, shard, on_rows=count)
        return
    counter = multiprocessing.get_context().Value("q", 0)
    pool = ProcessPoolExecutor(
        max_workers=workers, initializer=_worker_init, initargs=(os.getpid(), counter)
    )
    try:
        pending = {pool.submit(_label, config, s) for s in shards}
        while pending:
            done, pending = wait(pending, timeout=_POLL_S, return_when=FIRST_COMPLETED)
            if on_rows is not None:
                on_rows(counter.value)
            for future in done:
                yield future.result()
    except BaseException:  # Ctrl-C or an error: stop now; unfinished shards rerun on resume
        workers_alive = list(getattr(pool, "_processes", {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in workers_alive:
            process.terminate()
        raise
    pool.shutdown()


def run_ray(
    config: GeneratorConfig, shards: Sequence[int], workers: int, address: str | None,
    on_rows: RowsCallback | None = None,
) -> Iterator[ShardResult]:  # fmt: skip
    """The same on Ray: ``address`` joins an existing cluster, else a local one starts.
    Workers may run on other machines, so ``on_rows`` hears of rows shard by shard."""
    try:
        import ray
    except ImportError:
        raise ValueError("--executor ray needs the 'ray' package (pip install ray)") from None
    started = not ray.is_initialized()
    if started:
        kwargs = {"address": address} if address else {"num_cpus": max(1, workers)}
        ray.init(include_dashboard=False, log_to_driver=False, **kwargs)
    remote = ray.remote(num_cpus=1)(_ray_task)
    pending = [remote.remote(config, s) for s in shards]
    labelled = 0
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            shard, rows = ray.get(done[0])
            labelled += len(rows)
            if on_rows is not None:
                on_rows(labelled)
            yield shard, rows
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        if started:  # leave a cluster we joined running; stop one we started
            ray.shutdown()


def _ray_task(config: GeneratorConfig, shard: int) -> ShardResult:
    single_thread()
    return _label(config, shard)


def executor(name: str, workers: int, address: str | None = None) -> Callable:
    """The shard runner for ``--executor``; errors list the allowed names."""
    if name == "process":
        return lambda config, shards, on_rows=None: run_local(config, shards, workers, on_rows)
    if name == "ray":
        return lambda config, shards, on_rows=None: run_ray(
            config, shards, workers, address, on_rows
        )
    raise ValueError(f"field 'executor' must be one of {', '.join(EXECUTORS)}, got {name!r}")
