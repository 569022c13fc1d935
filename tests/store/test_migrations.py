"""Migrations keep what a store holds: a store at 0002 (before attendance) with
sessions in it upgrades to head on SQLite and PostgreSQL, its sessions read back
unchanged and unasked, and the attendance columns work on them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from scheduler.model import SessionState
from scheduler.store.attendance import AttendanceNote, attendance_due, record_attendance
from scheduler.store.store import _MIGRATIONS, Store, _engine

NOW = datetime(2030, 5, 20, 8, 0, tzinfo=UTC)
START = datetime(2030, 5, 7, 9, 0, tzinfo=UTC)


def _upgrade(url: str, revision: str) -> None:
    engine = _engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    engine.dispose()


def _row(key: str, state: str, verified: bool) -> dict[str, object]:
    naive = {"start_at": START, "end_at": START + timedelta(minutes=45)}
    return {
        "key": key,
        "org_id": "acme",
        "team_id": "t1",
        "manager_id": "m1",
        "seller_id": key,
        "month": "2030-05",
        "attempt": 1,
        "state": state,
        **naive,
        "event_id": f"ev-{key}",
        "connector": "local",
        "video_url": None,
        "reason": "",
        "note": "kept",
        "followups": "call the CFO",
        "verified": verified,
        "moved": False,
        "created_at": NOW - timedelta(days=20),
        "updated_at": NOW - timedelta(days=13),
    }


def test_a_0002_store_with_sessions_upgrades_to_attendance(store_url: str) -> None:
    _upgrade(store_url, "0002")
    engine = _engine(store_url)
    rows = [_row("presumed", "held", False), _row("marked", "no_show", True)]
    columns = ", ".join(rows[0])
    values = ", ".join(f":{c}" for c in rows[0])
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":  # what the store writes there: naive UTC
            rows = [
                {k: v.replace(tzinfo=None) if isinstance(v, datetime) else v for k, v in r.items()}
                for r in rows
            ]
        conn.execute(text(f"INSERT INTO sessions ({columns}) VALUES ({values})"), rows)
        conn.execute(
            text("INSERT INTO month_themes VALUES ('acme', '2030-05', 'Listening', '[]', :at)"),
            {"at": rows[0]["created_at"]},
        )
    engine.dispose()

    store = Store.open(store_url)
    try:
        presumed = store.get("presumed")
        assert presumed is not None
        assert (presumed.state, presumed.note, presumed.followups) == (
            SessionState.HELD,
            "kept",
            "call the CFO",
        )
        assert presumed.start == START and presumed.start.tzinfo is not None
        assert presumed.attendance_status is None and presumed.attendance_detail == ""
        assert presumed.attendance_settled_at is None
        # Only the presumed one is due; the verified one never is.
        due = attendance_due(store, "acme", ended=(NOW - timedelta(days=14), NOW))
        assert [r.key for r in due] == ["presumed"]
        note = AttendanceNote(
            "presumed",
            "met",
            "together 40 min",
            settled=True,
            verdict=SessionState.HELD,
            history_detail="attendance: together 40 min",
        )
        assert record_attendance(store, [note], now=NOW, protected_prefix="marked") == {"presumed"}
        got = store.get("presumed")
        assert got is not None and got.verified and got.attendance_settled_at == NOW
        assert attendance_due(store, "acme", ended=(NOW - timedelta(days=14), NOW)) == []
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT title FROM month_themes")).scalar() == "Listening"
    finally:
        store.close()
    # Opening again is a no-op: already at head.
    Store.open(store_url).close()


def test_head_revision_is_alembics_head() -> None:
    from alembic.script import ScriptDirectory

    from scheduler.store.store import HEAD_REVISION

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_heads() == [HEAD_REVISION]


def test_a_store_at_head_opens_without_alembic(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every command opens the store; only one behind the newest revision (or new)
    goes through alembic, whose import and run cost every command start-up time."""
    Store.open(store_url).engine.dispose()  # created: through alembic

    def refused(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("alembic ran for a store already at head")

    monkeypatch.setattr(command, "upgrade", refused)
    store = Store.open(store_url)
    try:
        assert store.sessions() == []
    finally:
        store.engine.dispose()
