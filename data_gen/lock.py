"""One writer per dataset directory: an exclusive ``flock`` on a lock file inside it.

The lock belongs to the open file, so the kernel drops it when its holder exits in any way,
``kill -9`` included: a stale lock file never blocks the next run. The holder removes the file
on a normal exit; a second run checks, once it holds the lock, that the file it locked is
still the one at the path (not one removed meanwhile), so two runs can never both hold it.
The name starts with a dot, so Parquet readers of the directory skip it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_NAME = ".generate.lock"


class DatasetLockedError(ValueError):
    """Another process is writing to the same dataset directory."""


class DatasetLock:
    """Held from ``acquire()`` (or ``with``) until ``release()``; ``acquire`` never waits."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> DatasetLock:
        self.directory.mkdir(parents=True, exist_ok=True)
        while self._fd is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 32).decode("ascii", "replace").strip()
                os.close(fd)
                pid = f" (pid {holder})" if holder.isdigit() else ""
                raise DatasetLockedError(
                    f"{self.directory}: another airchitect process{pid} (generate or data "
                    "import) is writing to this dataset directory; wait for it to finish or "
                    "choose another --out"
                ) from None
            if _same_file(fd, self.path):
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                self._fd = fd
            else:  # its holder removed it between our open and our lock: lock the new one
                os.close(fd)
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)  # while still locked: see the module docstring
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> DatasetLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (on_disk.st_dev, on_disk.st_ino)
