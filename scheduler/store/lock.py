"""Named locks shared by every process that uses one store.

PostgreSQL: a session-level advisory lock on a connection of its own; the server
drops it when the holder dies, so a waiting instance takes over. SQLite: an
exclusive `flock` on a file beside the database, dropped by the kernel likewise.
Used for the service's leader election and around booking and reconcile, so an
admin's CLI run and the service never plan the same month at the same moment.
"""

from __future__ import annotations

import fcntl
import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine

from scheduler.errors import UserError


def _keys(name: str) -> tuple[int, int]:
    digest = hashlib.sha256(name.encode()).digest()
    return (
        int.from_bytes(digest[:4], "big", signed=True),
        int.from_bytes(digest[4:8], "big", signed=True),
    )


class NamedLock:
    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name
        self._conn: Any = None
        self._file: IO[str] | None = None

    def try_acquire(self) -> bool:
        if self.engine.dialect.name == "postgresql":
            if self._conn is None:
                self._conn = self.engine.connect()
            a, b = _keys(self.name)
            got = self._conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({a}, {b})").scalar()
            self._conn.commit()
            if not got:
                self._drop_connection()
            return bool(got)
        database = self.engine.url.database or ":memory:"
        if database == ":memory:":
            return True  # one process owns an in-memory database anyway
        digest = hashlib.sha256(self.name.encode()).hexdigest()[:12]
        path = Path(database).with_name(f"{Path(database).name}.{digest}.lock")
        if self._file is None:
            self._file = open(path, "a+")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.close()
            self._file = None
            return False
        return True

    def still_held(self) -> bool:
        """False when the PostgreSQL session that holds the lock is gone (server
        restart, network cut): the server has released it and another may lead."""
        if self._conn is None:
            return self._file is not None or self.engine.dialect.name != "postgresql"
        try:
            self._conn.exec_driver_sql("SELECT 1")
            self._conn.commit()
        except Exception:
            self._drop_connection()
            return False
        return True

    def acquire(self, timeout: float, poll: float = 0.2) -> None:
        deadline = time.monotonic() + timeout
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                raise UserError(
                    f"another Coachpass process holds '{self.name}' for more than "
                    f"{timeout:.0f} s; try again when it has finished"
                )
            time.sleep(poll)

    def _drop_connection(self) -> None:
        if self._conn is not None:
            # Invalidate rather than return to the pool: a pooled session would keep
            # holding the advisory lock and nobody else could ever take it.
            self._conn.invalidate()
            self._conn.close()
            self._conn = None

    def release(self) -> None:
        self._drop_connection()
        if self._file is not None:
            self._file.close()
            self._file = None


@contextmanager
def hold(engine: Engine, name: str, timeout: float = 900.0) -> Iterator[None]:
    lock = NamedLock(engine, name)
    lock.acquire(timeout)
    try:
        yield
    finally:
        lock.release()
