"""Shared fixtures: store URLs for SQLite and the PostgreSQL server on 127.0.0.1."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator

import pytest

# aiosmtpd (the test SMTP server) logs every SMTP line at INFO; a CLI run in-process
# sets the root logger to INFO, which would print them all into the test output.
logging.getLogger("mail.log").setLevel(logging.WARNING)

PG_HOST = os.environ.get("COACHPASS_TEST_PG_HOST", "127.0.0.1")
PG_URL = os.environ.get(
    "COACHPASS_TEST_PG_URL", f"postgresql+psycopg://postgres@{PG_HOST}:5432/test"
)


def _pg_up() -> bool:
    try:
        with socket.create_connection((PG_HOST, 5432), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh schema in the `test` database, dropped afterwards."""
    if not _pg_up():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not running on 127.0.0.1:5432 (.ci/services starts it)")
        pytest.skip("PostgreSQL not running on 127.0.0.1:5432")
    import sqlalchemy as sa

    schema = "t_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    admin.dispose()
    yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'coachpass.db'}"
    return str(request.getfixturevalue("pg_url"))
