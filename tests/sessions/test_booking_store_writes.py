"""Booking's store writes, batched: every team's intents committed before the first
calendar call, a seller unbookable before topped up under the same key, a session
cancelled while its create was on the way taken back, and each rebook retiring its
own seller's declined attempt."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import icalendar
import pytest
import yaml

from scheduler.model import SUPERSEDED, Month, SessionState
from scheduler.runtime import Runtime
from scheduler.service.jobs import reconcile_and_rebook
from scheduler.sessions.booking import book_month
from scheduler.settings.load import load_settings
from scheduler.store.store import Store
from tests.orgs import count_tagged, person, write_org

MONTH = Month(2031, 3)
NOW = datetime(2031, 2, 20, 8, 0, tzinfo=UTC)


def _two_teams(tmp_path: Path) -> Path:
    teams = [
        {
            "id": f"t{t}",
            "name": f"Team {t}",
            "manager": person(f"boss{t}"),
            "sellers": [person(f"t{t}s{i}") for i in range(1, 4)],
        }
        for t in (1, 2)
    ]
    config = write_org(tmp_path, sellers=0, extra={"teams": teams})
    for team in teams:
        for p in [team["manager"], *team["sellers"]]:
            ics = tmp_path / "calendars" / p["calendar"]
            ics.write_text(
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
                f"X-COACHPASS-OWNER:mailto:{p['email']}\r\nEND:VCALENDAR\r\n"
            )
    return config


def test_every_teams_intents_are_committed_before_the_first_calendar_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = Runtime.open(load_settings(_two_teams(tmp_path)))
    try:
        conn = rt.connector("local")
        real_create = conn.create
        seen: list[dict[str, str]] = []

        def create(events):  # type: ignore[no-untyped-def]
            if not seen:
                # What another process sees: committed rows only.
                other = Store.open(rt.store.url, migrate=False)
                try:
                    seen.append({r.seller_id: r.state.value for r in other.sessions(month=MONTH)})
                finally:
                    other.close()
            return real_create(events)

        monkeypatch.setattr(conn, "create", create)
        summary = book_month(rt, MONTH, NOW)
        assert summary.created == 6 and not summary.failed
        sellers = {f"t{t}s{i}" for t in (1, 2) for i in range(1, 4)}
        assert seen == [{s: "planned" for s in sellers}]
        for rec in rt.store.sessions(month=MONTH):
            assert [(h.from_state, h.to_state) for h in rt.store.history(keys=[rec.key])] == [
                (None, SessionState.PLANNED),
                (SessionState.PLANNED, SessionState.PLANNED),  # "create sent"
                (SessionState.PLANNED, SessionState.BOOKED),
            ]
    finally:
        rt.close()


def _set_policy(config: Path, **policy: Any) -> None:
    data = yaml.safe_load(config.read_text())
    data["policy"].update(policy)
    config.write_text(yaml.safe_dump(data, sort_keys=False))


def test_a_seller_unbookable_before_gets_a_slot_under_the_same_key(tmp_path: Path) -> None:
    # One day (Monday 3 March), one session a day: the second seller has no room.
    config = write_org(
        tmp_path,
        sellers=2,
        policy={"earliest_day": 3, "latest_day": 3, "max_sessions_per_manager_day": 1},
    )
    rt = Runtime.open(load_settings(config))
    try:
        first = book_month(rt, MONTH, NOW)
        assert first.created == 1 and len(first.unbookable) == 1
        (missed,) = [r for r in rt.store.sessions(month=MONTH) if r.state.value == "unbookable"]
    finally:
        rt.close()
    _set_policy(config, latest_day=4)  # the admin gives the month one more day
    rt = Runtime.open(load_settings(config))
    try:
        again = book_month(rt, MONTH, NOW)
        assert again.created == 1 and not again.unbookable
        records = rt.store.sessions(month=MONTH)
        assert len(records) == 2, "the same key, no second attempt"
        topped = rt.store.get(missed.key)
        assert topped is not None and topped.state is SessionState.BOOKED
        assert topped.reason == "" and topped.start is not None and topped.start.day == 4
        states = [(h.to_state, h.detail) for h in rt.store.history(keys=[missed.key])]
        assert states[0] == (SessionState.UNBOOKABLE, missed.reason)
        assert (SessionState.PLANNED, "slot found") in states
        assert states[-1] == (SessionState.BOOKED, "created in local")
        assert count_tagged(tmp_path / "calendars" / "boss.ics", missed.key) == 1
    finally:
        rt.close()


def _statuses(ics: Path, key: str) -> list[str]:
    cal = icalendar.Calendar.from_ical(ics.read_bytes())
    return [
        str(ev.get("STATUS", ""))
        for ev in cal.walk("VEVENT")
        if str(ev.get("X-COACHPASS-SESSION", "")) == key
    ]


def test_a_session_cancelled_while_its_create_was_on_the_way_is_taken_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = Runtime.open(load_settings(write_org(tmp_path, sellers=3)))
    try:
        conn = rt.connector("local")
        real_create = conn.create
        cancelled: list[str] = []

        def create(events):  # type: ignore[no-untyped-def]
            # Another process (an admin) cancels the first session in the store
            # while the calendar is creating it.
            other = Store.open(rt.store.url, migrate=False)
            try:
                key = events[0].key
                assert other.transition(
                    key,
                    SessionState.CANCELLED,
                    now=NOW,
                    expect={SessionState.PLANNED},
                    detail="cancelled by admin",
                )
                cancelled.append(key)
            finally:
                other.close()
            return real_create(events)

        monkeypatch.setattr(conn, "create", create)
        summary = book_month(rt, MONTH, NOW)
        assert summary.created == 2 and not summary.failed
        boss = tmp_path / "calendars" / "boss.ics"
        for rec in rt.store.sessions(month=MONTH):
            if rec.key in cancelled:
                assert rec.state is SessionState.CANCELLED and rec.event_id is None
                assert _statuses(boss, rec.key) == ["CANCELLED"], "its event taken back"
            else:
                assert rec.state is SessionState.BOOKED
                assert _statuses(boss, rec.key) == ["CONFIRMED"]
    finally:
        rt.close()


def _decline(ics: Path, key: str) -> None:
    cal = icalendar.Calendar.from_ical(ics.read_bytes())
    for ev in cal.walk("VEVENT"):
        if str(ev.get("X-COACHPASS-SESSION", "")) == key:
            ev["ATTENDEE"].params["PARTSTAT"] = "DECLINED"
            seq = int(ev.get("SEQUENCE", 0)) + 1
            ev.pop("SEQUENCE", None)
            ev.add("SEQUENCE", seq)
    ics.write_bytes(cal.to_ical())


def test_a_rebook_retires_the_declined_attempts_event(tmp_path: Path) -> None:
    """The month's sessions are read once for all rebooks of a push: each rebook
    still cancels its own seller's declined attempt, and no one else's."""
    rt = Runtime.open(load_settings(write_org(tmp_path, sellers=3)))
    boss = tmp_path / "calendars" / "boss.ics"
    try:
        book_month(rt, MONTH, NOW)
        first = {r.seller_id: r for r in rt.store.sessions(month=MONTH)}
        for seller in ("s1", "s2"):
            _decline(boss, first[seller].key)
        reconcile_and_rebook(rt, datetime(2031, 2, 21, 8, tzinfo=UTC))
        now = {(r.seller_id, r.attempt): r for r in rt.store.sessions(month=MONTH)}
        for seller in ("s1", "s2"):
            old, new = now[(seller, 1)], now[(seller, 2)]
            assert old.state is SessionState.DECLINED and old.reason.startswith(SUPERSEDED)
            assert _statuses(boss, old.key) == ["CANCELLED"]
            assert new.state is SessionState.BOOKED and _statuses(boss, new.key) == ["CONFIRMED"]
        assert (now[("s3", 1)].state, now[("s3", 1)].reason) == (SessionState.BOOKED, "")
        assert ("s3", 2) not in now and _statuses(boss, first["s3"].key) == ["CONFIRMED"]
    finally:
        rt.close()
