"""Issue 9, finding 8: a crash while the local connector writes must not leave a live
copy that nothing reaches, and temp files of an interrupted write are cleaned up."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.base import ChangeAction, EventChange, Outcome
from connectors.ics import events as ics_events
from connectors.ics.connector import LocalConnector
from connectors.ics.files import (
    DamagedCalendar,
    append_vevent,
    read_text,
    replace_span,
    vevent_spans,
    write_text,
)
from scheduler.model import Month, SessionState
from scheduler.runtime import Runtime
from scheduler.sessions.booking import book_month
from scheduler.settings.load import load_settings
from tests.connectors.ics.test_connector import MANAGER, local, root, session  # noqa: F401
from tests.orgs import write_org


class Killed(BaseException):
    """The process dies: no handler runs."""


def live_copies(calendar: Path, key: str) -> int:
    text = read_text(calendar)
    count = 0
    for span in vevent_spans(text):
        if ics_events.key_of(span.uid, span.tag) == key:
            block = text[span.start : span.end]
            count += "STATUS:CANCELLED" not in block
    return count


def kill_after_organiser(monkeypatch: pytest.MonkeyPatch) -> None:
    def die(*_args: object, **_kwargs: object) -> None:
        raise Killed

    monkeypatch.setattr(LocalConnector, "_deliver", die)


def test_organisers_calendar_is_written_before_any_copy(
    local: LocalConnector,  # noqa: F811
    root: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    event = session()
    kill_after_organiser(monkeypatch)
    with pytest.raises(Killed):
        local.create([event])
    monkeypatch.undo()
    assert live_copies(root / "manager@example.com.ics", event.key) == 1
    assert live_copies(root / "seller1@example.com.ics", event.key) == 0
    # The retry finds the event and completes what the crash left: copies and e-mails.
    (again,) = local.create([event])
    assert again.outcome is Outcome.EXISTED
    assert live_copies(root / "seller1@example.com.ics", event.key) == 1
    assert live_copies(root / "s2-calendar.ics", event.key) == 1
    mails = sorted(p.name for p in (root.parent / "outbox").glob("*.eml"))
    assert len(mails) == 3, mails  # one invitation per attendee, the external one too
    # A third call changes nothing: every copy and e-mail is there already.
    before = {p: p.read_bytes() for p in root.parent.rglob("*") if p.is_file()}
    local.create([event])
    assert {p: p.read_bytes() for p in root.parent.rglob("*") if p.is_file()} == before


def test_cancel_reaches_a_copy_the_organiser_does_not_hold(
    local: LocalConnector,  # noqa: F811
    root: Path,  # noqa: F811
) -> None:
    """Copies written (by an earlier version, in the old order) before a crash that
    kept the organiser's calendar from being written: the cancel still finds them."""
    event = session()
    local.create([event])
    organiser = root / "manager@example.com.ics"
    text = read_text(organiser)
    span = ics_events.find_session(vevent_spans(text), event.key)
    assert span is not None
    write_text(organiser, replace_span(text, span, ""))  # as if never written
    assert local.lookup(MANAGER, [event.key]).found == {event.key: None}
    outbox = root.parent / "outbox"
    before = set(outbox.glob("*.eml"))
    (result,) = local.update([EventChange(event.key, MANAGER, ChangeAction.CANCEL)])
    assert result.outcome is Outcome.CANCELLED
    assert live_copies(root / "seller1@example.com.ics", event.key) == 0
    assert live_copies(root / "s2-calendar.ics", event.key) == 0
    cancels = set(outbox.glob("*.eml")) - before
    assert len(cancels) == 3  # every attendee is told, once (two copies, one message each)
    assert all(b"Cancelled:" in p.read_bytes() for p in cancels)
    (again,) = local.update([EventChange(event.key, MANAGER, ChangeAction.CANCEL)])
    assert again.outcome is Outcome.GONE


def test_crash_then_the_slot_passes_then_no_double_booking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The finding end to end: killed while inviting, the slot passes before the next
    run; that run withdraws the half-written session and books one new attempt."""
    rt = Runtime.open(load_settings(write_org(tmp_path, sellers=1)))
    march = Month(2031, 3)
    try:
        kill_after_organiser(monkeypatch)
        with pytest.raises(Killed):
            book_month(rt, march, datetime(2031, 2, 20, 8, tzinfo=UTC))
        monkeypatch.undo()
        (first,) = rt.store.sessions(month=march)
        assert first.start is not None
        rt.store.close()
        rt = Runtime.open(load_settings(tmp_path / "coachpass.yaml"))  # a new process
        later = first.start + timedelta(days=1)
        book_month(rt, march, later)
        states = {r.attempt: r.state for r in rt.store.sessions(month=march)}
        assert states == {1: SessionState.CANCELLED, 2: SessionState.BOOKED}
        calendars = tmp_path / "calendars"
        for name in ("boss.ics", "s1.ics"):
            assert live_copies(calendars / name, first.key) == 0, name
        (second,) = [r for r in rt.store.sessions(month=march) if r.attempt == 2]
        assert live_copies(calendars / "s1.ics", second.key) == 1
    finally:
        rt.close()


def test_stale_temp_files_are_removed_when_the_connector_opens(root: Path) -> None:  # noqa: F811
    old = time.time() - 3600
    stale = [root / ".manager@example.com.ics.x1y2.tmp", root.parent / "outbox" / ".m.eml.q.tmp"]
    stale[1].parent.mkdir()
    folder_calendar = root / "team-calendar"
    folder_calendar.mkdir()
    stale.append(folder_calendar / ".cp1.ics.z9.tmp")
    for path in stale:
        path.write_text("half a calendar")
        os.utime(path, (old, old))
    fresh = root / ".seller1@example.com.ics.w3.tmp"  # another process writing right now
    fresh.write_text("being written")
    LocalConnector(root, root.parent / "outbox")
    assert [p for p in stale if p.exists()] == []
    assert fresh.exists()


def test_a_cut_off_calendar_file_is_never_rewritten(
    local: LocalConnector,  # noqa: F811
    root: Path,  # noqa: F811
) -> None:
    # A file missing its END:VCALENDAR (cut off) used to be replaced by a new calendar
    # holding only the new session: every other event in it was lost.
    calendar = root / "manager@example.com.ics"
    whole = read_text(calendar)
    cut = whole[: whole.rindex("END:VCALENDAR")]
    calendar.write_text(cut)
    with pytest.raises(DamagedCalendar, match=r"manager@example\.com\.ics is not a whole"):
        local.create([session()])
    assert read_text(calendar) == cut


def test_append_refuses_text_without_end_but_starts_an_empty_file() -> None:
    block = "BEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\n"
    assert "UID:x" in append_vevent("", block)
    with pytest.raises(DamagedCalendar):
        append_vevent("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:old\r\nEND:VEVENT\r\n", block)
