"""Named locks shared by every process that uses one store.

PostgreSQL: a session-level advisory lock on a connection of its own; the server
drops it when the holder dies, so a waiting instance takes over. SQLite: an
exclusive `flock` on a file beside the database, dropped by the kernel likewise.
Used for the service's leader election and around booking and reconcile, so an
admin's CLI run and the service never plan the same month at the same moment.

A database that is away is not an error here: `try_acquire` answers False and
`unreachable` says why, so a waiting instance keeps waiting instead of dying.
"""

from __future__ import annotations

import fcntl
import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from scheduler.errors import StoreError, UserError


class LostLeadership(Exception):
    """The lock this process acted under is gone: stop before the next side effect.

    Not a `UserError`: it never reaches a user; the service catches it and stands by."""


def _keys(name: str) -> tuple[int, int]:
    digest = hashlib.sha256(name.encode()).digest()
    return (
        int.from_bytes(digest[:4], "big", signed=True),
        int.from_bytes(digest[4:8], "big", signed=True),
    )


def _reason(exc: BaseException) -> str:
    """One line about a database failure, without the SQL or the URL's password."""
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split())
    return f"{type(orig).__name__}: {text[:300]}"


class NamedLock:
    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name
        self._conn: Any = None
        self._file: IO[str] | None = None
        # The serving loop and the job thread both ask `still_held`; one SQLAlchemy
        # connection must not be used by two threads at once.
        self._guard = threading.RLock()
        self._memory = False
        #: Why the last attempt could not reach the database ("" when it could).
        self.unreachable = ""

    @property
    def held(self) -> bool:
        """Held as far as this process knows (no round trip)."""
        return self._conn is not None or self._file is not None or self._memory

    def try_acquire(self) -> bool:
        if self.engine.dialect.name == "postgresql":
            return self._try_acquire_pg()
        database = self.engine.url.database or ":memory:"
        if database == ":memory:":
            self._memory = True
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

    def _try_acquire_pg(self) -> bool:
        with self._guard:
            try:
                if self._conn is None:
                    self._conn = self.engine.connect()
                # Advisory locks are per database, a store is per schema: two stores in
                # one database (separate organisations, parallel test runs) must not
                # take each other's locks.
                schema = self._conn.exec_driver_sql("SELECT current_schema()").scalar()
                a, b = _keys(f"{schema}:{self.name}")
                got = self._conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({a}, {b})").scalar()
                self._conn.commit()
            except SQLAlchemyError as exc:
                self.unreachable = _reason(exc)
                self._drop_connection()
                return False
            self.unreachable = ""
            if not got:
                self._drop_connection()
            return bool(got)

    def still_held(self) -> bool:
        """False when the PostgreSQL session that holds the lock is gone (server
        restart, network cut, `pg_terminate_backend`): the server has released it
        and another may lead."""
        with self._guard:
            if self._conn is None:
                return self._file is not None or self._memory
            try:
                self._conn.exec_driver_sql("SELECT 1")
                self._conn.commit()
            except SQLAlchemyError as exc:
                self.unreachable = _reason(exc)
                self._drop_connection()
                return False
            return True

    def ensure(self) -> None:
        """Fencing: raise `LostLeadership` unless the lock is still held *now*.
        Called before every side effect of a job, so an instance whose session was
        cut stops before it acts, even in the middle of a job."""
        if not self.still_held():
            raise LostLeadership(
                f"lost the lock '{self.name}'"
                + (f" ({self.unreachable})" if self.unreachable else "")
            )

    def acquire(self, timeout: float, poll: float = 0.2) -> None:
        deadline = time.monotonic() + timeout
        while not self.try_acquire():
            if self.unreachable:
                # Waiting cannot help a caller that needs the database right now
                # (the service retries the whole run later).
                raise StoreError(f"cannot reach the store's database: {self.unreachable}")
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
            try:
                self._conn.invalidate()
                self._conn.close()
            except SQLAlchemyError:
                pass  # the connection is dead already; nothing left to give back
            self._conn = None

    def release(self) -> None:
        with self._guard:
            self._drop_connection()
            self._memory = False
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
