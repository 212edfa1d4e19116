"""One writer per database and per exchange account: a running bot holds an exclusive
lock (the OS's flock, released by the kernel however the process ends — a crash leaves no
stale lock) on a file beside what it writes, the holder's pid, host and start written in
it for the message a second bot gets."""

from __future__ import annotations

import fcntl
import hashlib
import os
import socket
import time
from pathlib import Path


class LockedError(RuntimeError):
    """Someone else holds it; the message names the holder."""


class WriterLock:
    def __init__(self, path: Path, what: str) -> None:
        self.path, self.what = path, what
        self._fd: int | None = None

    def acquire(self) -> WriterLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            taken = isinstance(err, FileExistsError | NotADirectoryError)
            why = "is a file, not a folder" if taken else err.strerror
            raise LockedError(f"{self.path.parent}: {why} (the {self.what} lives there)"
                              ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 512).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise LockedError(f"{self.what} is in use by {holder}; stop that bot first "
                              f"(lock {self.path})") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"derivbot pid {os.getpid()} on {socket.gethostname()} since "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}".encode())
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def database_lock(db: str) -> WriterLock:
    return WriterLock(Path(f"{db}.lock"), f"database {db}")


def account_lock(db: str, venue: str, key: str, testnet: bool) -> WriterLock:
    """Beside the database: one per venue, network and API key (the key itself never
    written: a hash of it names the file)."""
    tag = hashlib.sha256(f"{venue}|{testnet}|{key}".encode()).hexdigest()[:16]
    folder = Path(db).parent / "locks"
    return WriterLock(folder / f"{venue}-{tag}.lock",
                      f"the {venue} {'testnet' if testnet else 'live'} account")
