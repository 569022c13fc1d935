"""The local connector beyond the contract: what exactly it writes, where, and what it
survives (foreign content, crashes, a second process)."""

from __future__ import annotations

import base64
import email
import email.policy
import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import icalendar
import pytest

import connectors
from connectors.base import (
    Attachment,
    Attendee,
    BusyKind,
    CalendarRef,
    ChangeAction,
    ConnectorContext,
    ConnectorUserError,
    EventChange,
    NewEvent,
    Outcome,
)
from connectors.ics import cursor as ics_cursor
from connectors.ics.connector import LocalConnector
from connectors.ics.files import empty_calendar, read_text, vevent_spans, write_text

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2031, 2, 20, 12, 0, tzinfo=UTC)
START = datetime(2031, 3, 11, 9, 0, tzinfo=UTC)
WINDOW = (datetime(2031, 3, 1, tzinfo=UTC), datetime(2031, 4, 1, tzinfo=UTC))
HTML = "<html>\n<body><p>Agenda; wins, goals</p>\n</body></html>"
MANAGER = CalendarRef("manager", "manager@example.com", "manager@example.com.ics", "UTC")
SELLER1 = CalendarRef("seller1", "seller1@example.com", "seller1@example.com.ics", "UTC")
SELLER2 = CalendarRef("seller2", "seller2@example.com", "s2-calendar.ics", "UTC")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "calendars"
    folder.mkdir()
    write_text(folder / "manager@example.com.ics", empty_calendar())
    write_text(folder / "seller1@example.com.ics", empty_calendar())
    # seller2's file is not named after the e-mail: found by its owner property.
    owner = "X-COACHPASS-OWNER:mailto:Seller2@Example.com"
    write_text(folder / "s2-calendar.ics", empty_calendar(owner))
    return folder


@pytest.fixture
def local(root: Path) -> LocalConnector:
    return LocalConnector(root, root.parent / "outbox", organizer_name="Maja", clock=lambda: NOW)


def session(key: str = "cp" + "0" * 32, *, start: datetime = START, **extra: object) -> NewEvent:
    values: dict[str, object] = {
        "key": key,
        "organizer": MANAGER,
        "attendees": (
            Attendee("seller1@example.com", "Sam Seller"),
            Attendee("seller2@example.com", "Sia Seller"),
            Attendee("seller3@example.com", "Not In Folder"),
        ),
        "start": start,
        "end": start + timedelta(minutes=45),
        "summary": "Coaching: Maja / Sam",
        "description_text": "Agenda\n- wins\n- one skill",
        "description_html": HTML,
        "attachments": (Attachment("guide.pdf", "application/pdf", b"%PDF-1.4 \x00\xff"),),
        "guideline_url": "https://intranet.example.com/coaching",
        "video_url": "https://video.example.com/r/abc",
    }
    values.update(extra)
    return NewEvent(**values)  # type: ignore[arg-type]


def only_event(path: Path, key: str) -> icalendar.Event:
    events = [
        e
        for cal in icalendar.Calendar.from_ical(path.read_bytes(), multiple=True)
        for e in cal.walk("VEVENT")
        if str(e.get("X-COACHPASS-SESSION", "")) == key
    ]
    assert len(events) == 1, f"{len(events)} events for {key} in {path}"
    return events[0]


def unescape(text: str) -> str:
    """RFC 5545 TEXT unescaping (icalendar 7 keeps X- properties as raw text)."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            out.append({"n": "\n", "N": "\n"}.get(text[i + 1], text[i + 1]))
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def mails(outbox: Path) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for p in sorted(outbox.glob("*.eml"))
    ]


# --- create -------------------------------------------------------------------------


def test_created_event_carries_everything(local: LocalConnector, root: Path) -> None:
    event = session()
    (result,) = local.create([event])
    assert (result.outcome, result.event_id) == (Outcome.CREATED, f"{event.key}@coachpass")
    assert result.video_url == event.video_url
    vevent = only_event(root / "manager@example.com.ics", event.key)
    assert str(vevent["UID"]) == f"{event.key}@coachpass"
    assert vevent["DTSTART"].dt == event.start and vevent["DTEND"].dt == event.end
    assert (int(vevent["SEQUENCE"]), str(vevent["STATUS"])) == (0, "CONFIRMED")
    assert vevent["DTSTAMP"].dt == NOW
    assert str(vevent["ORGANIZER"]) == "mailto:manager@example.com"
    assert vevent["ORGANIZER"].params["CN"] == "Maja"
    attendees = {str(a): a.params for a in vevent["ATTENDEE"]}
    assert set(attendees) == {f"mailto:seller{i}@example.com" for i in (1, 2, 3)}
    for params in attendees.values():
        assert (params["PARTSTAT"], params["RSVP"]) == ("NEEDS-ACTION", "TRUE")
    assert str(vevent["DESCRIPTION"]) == event.description_text
    assert str(vevent["URL"]) == str(vevent["LOCATION"]) == event.video_url
    # X-ALT-DESC is TEXT-escaped on the wire; unescaped it is the HTML we gave.
    alt = vevent["X-ALT-DESC"]
    assert alt.params["FMTTYPE"] == "text/html"
    assert unescape(str(alt)) == HTML
    attach = [a for a in vevent["ATTACH"] if a.params.get("VALUE") == "BINARY"]
    (binary,) = attach
    assert binary.params["ENCODING"] == "BASE64"
    assert (binary.params["FMTTYPE"], binary.params["X-FILENAME"]) == (
        "application/pdf",
        "guide.pdf",
    )
    raw = read_text(root / "manager@example.com.ics")
    assert base64.b64encode(b"%PDF-1.4 \x00\xff").decode() in raw.replace("\r\n ", "")
    assert "ATTACH;VALUE=URI:https://intranet.example.com/coaching" in raw.replace("\r\n ", "")


def test_attendee_copies_make_attendees_busy(local: LocalConnector, root: Path) -> None:
    event = session()
    local.create([event])
    assert only_event(root / "seller1@example.com.ics", event.key)
    assert only_event(root / "s2-calendar.ics", event.key)
    answer = local.busy([SELLER1, SELLER2], *WINDOW)
    for person in ("seller1", "seller2"):
        assert [(b.start, b.end, b.kind) for b in answer.intervals[person]] == [
            (event.start, event.end, BusyKind.BUSY)
        ]


def test_one_invitation_per_attendee(local: LocalConnector, root: Path) -> None:
    event = session()
    local.create([event])
    sent = mails(root.parent / "outbox")
    assert sorted(str(m["To"]) for m in sent) == [
        "Not In Folder <seller3@example.com>",
        "Sam Seller <seller1@example.com>",
        "Sia Seller <seller2@example.com>",
    ]
    for message in sent:
        assert str(message["From"]) == "Maja <manager@example.com>"
        calendar_parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
        (itip,) = calendar_parts
        assert itip.get_param("method") == "REQUEST"
        body = icalendar.Calendar.from_ical(itip.get_content())
        assert str(body["METHOD"]) == "REQUEST"
        (vevent,) = body.walk("VEVENT")
        assert str(vevent["UID"]) == f"{event.key}@coachpass"
        assert message.get_body(("plain",)) is not None
        names = [p.get_filename() for p in message.iter_attachments()]
        assert names == ["invite.ics"]


def test_existing_key_writes_nothing_and_sends_nothing(local: LocalConnector, root: Path) -> None:
    event = session()
    local.create([event])
    before = {p: p.read_bytes() for p in root.parent.rglob("*") if p.is_file()}
    (again,) = local.create([event])
    (moved_key_again,) = local.create([session(start=START + timedelta(days=3))])
    after = {p: p.read_bytes() for p in root.parent.rglob("*") if p.is_file()}
    assert again.outcome is moved_key_again.outcome is Outcome.EXISTED
    assert after == before


def test_same_key_twice_in_one_batch(local: LocalConnector, root: Path) -> None:
    results = local.create([session(), session()])
    assert [r.outcome for r in results] == [Outcome.CREATED, Outcome.CREATED]
    only_event(root / "manager@example.com.ics", session().key)


def test_missing_organiser_calendar_fails_with_its_path(local: LocalConnector) -> None:
    lost = CalendarRef("manager", "manager@example.com", "typo.ics", "UTC")
    (result,) = local.create([session(organizer=lost)])
    assert result.outcome is Outcome.FAILED and not result.retryable
    assert "manager" in (result.error or "") and "typo.ics" in (result.error or "")


def test_foreign_content_survives_byte_for_byte(local: LocalConnector, root: Path) -> None:
    original = read_text(FIXTURES / "outlook.ics")
    original = original.replace(
        "END:VCALENDAR",
        'BEGIN:VTODO\r\nUID:todo-1\r\nSUMMARY:Call back\r\nX-ODD;X-P="a:b":keep me\r\n'
        "END:VTODO\r\nBEGIN:VEVENT\r\nUID:with-alarm\r\nDTSTART:20310311T080000Z\r\n"
        "DURATION:PT30M\r\nSUMMARY:Has an alarm\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\n"
        "TRIGGER:-PT15M\r\nEND:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR",
    )
    path = root / "manager@example.com.ics"
    write_text(path, original)
    event = session()
    local.create([event])
    local.update(
        [
            EventChange(
                event.key, MANAGER, ChangeAction.MOVE, None, START, START + timedelta(hours=1)
            )
        ]
    )
    local.update([EventChange(event.key, MANAGER, ChangeAction.CANCEL)])
    text = read_text(path)
    (ours,) = [s for s in vevent_spans(text) if s.tag == event.key]
    assert text[: ours.start] + text[ours.end :] == original


# --- update -------------------------------------------------------------------------


def test_move_bumps_sequence_resets_replies_and_reinvites(
    local: LocalConnector, root: Path
) -> None:
    event = session()
    local.create([event])
    path = root / "manager@example.com.ics"
    write_text(path, read_text(path).replace("PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED"))
    new_start = START + timedelta(days=2, hours=3)
    change = EventChange(
        event.key, MANAGER, ChangeAction.MOVE, None, new_start, new_start + timedelta(minutes=45)
    )
    (result,) = local.update([change])
    assert result.outcome is Outcome.UPDATED
    vevent = only_event(path, event.key)
    assert vevent["DTSTART"].dt == new_start and int(vevent["SEQUENCE"]) == 1
    assert {a.params["PARTSTAT"] for a in vevent["ATTENDEE"]} == {"NEEDS-ACTION"}
    assert unescape(str(vevent["X-ALT-DESC"])) == HTML  # not escaped twice
    assert only_event(root / "seller1@example.com.ics", event.key)["DTSTART"].dt == new_start
    updates = [m for m in mails(root.parent / "outbox") if "Updated" in str(m["Subject"])]
    assert len(updates) == 3
    # Retrying the same move (after a crash) changes and sends nothing more.
    files_before = sorted((root.parent / "outbox").iterdir())
    (again,) = local.update([change])
    assert again.outcome is Outcome.UPDATED
    assert int(only_event(path, event.key)["SEQUENCE"]) == 1
    assert sorted((root.parent / "outbox").iterdir()) == files_before


def test_cancel_frees_everyone_and_sends_cancel_once(local: LocalConnector, root: Path) -> None:
    event = session()
    local.create([event])
    cancel = EventChange(event.key, MANAGER, ChangeAction.CANCEL, comment="Sick today")
    (first,) = local.update([cancel])
    outbox_after_first = sorted((root.parent / "outbox").iterdir())
    (second,) = local.update([cancel])
    assert (first.outcome, second.outcome) == (Outcome.CANCELLED, Outcome.GONE)
    assert sorted((root.parent / "outbox").iterdir()) == outbox_after_first
    vevent = only_event(root / "manager@example.com.ics", event.key)
    assert (str(vevent["STATUS"]), int(vevent["SEQUENCE"])) == ("CANCELLED", 1)
    cancels = [
        m for m in mails(root.parent / "outbox") if str(m["Subject"]).startswith("Cancelled")
    ]
    assert len(cancels) == 3
    (itip,) = [p for p in cancels[0].walk() if p.get_content_type() == "text/calendar"]
    assert itip.get_param("method") == "CANCEL"
    assert "Sick today" in cancels[0].get_body(("plain",)).get_content()
    answer = local.busy([MANAGER, SELLER1, SELLER2], *WINDOW)
    assert all(v == () for v in answer.intervals.values()), answer.intervals


def test_move_of_missing_or_cancelled_session_fails(local: LocalConnector) -> None:
    event = session()
    end = START + timedelta(hours=1)
    (missing,) = local.update(
        [EventChange(event.key, MANAGER, ChangeAction.MOVE, None, START, end)]
    )
    assert missing.outcome is Outcome.FAILED and "manager" in (missing.error or "")
    local.create([event])
    local.update([EventChange(event.key, MANAGER, ChangeAction.CANCEL)])
    (dead,) = local.update([EventChange(event.key, MANAGER, ChangeAction.MOVE, None, START, end)])
    assert dead.outcome is Outcome.FAILED and "cancelled" in (dead.error or "")


# --- crashes and concurrency -----------------------------------------------------------


def test_crash_before_organiser_write_is_repaired_by_retry(
    local: LocalConnector, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import connectors.ics.connector as local_module

    organiser_file = root / "manager@example.com.ics"
    real_write = local_module.write_text

    def crash_on_organiser(path: Path, text: str) -> None:
        if path == organiser_file:
            raise KeyboardInterrupt("power cut")
        real_write(path, text)

    monkeypatch.setattr(local_module, "write_text", crash_on_organiser)
    with pytest.raises(KeyboardInterrupt):
        local.create([session()])
    assert read_text(organiser_file) == empty_calendar()
    monkeypatch.setattr(local_module, "write_text", real_write)
    (result,) = local.create([session()])
    assert result.outcome is Outcome.CREATED
    only_event(organiser_file, session().key)
    only_event(root / "seller1@example.com.ics", session().key)  # replaced, not doubled
    assert len(mails(root.parent / "outbox")) == 3  # rewritten, not sent twice
    assert not list(root.glob(".*.tmp"))
    # Locks sit in one hidden folder, not among the user's calendars.
    assert sorted(p.name for p in root.iterdir() if p.name.startswith(".")) == [".coachpass-locks"]


def test_disk_errors_are_retryable_failures_naming_the_calendar(
    local: LocalConnector, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import connectors.ics.connector as local_module

    organiser_file = root / "manager@example.com.ics"

    def disk_full(path: Path, text: str) -> None:
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(local_module, "write_text", disk_full)
    (created,) = local.create([session()])
    assert (created.outcome, created.retryable) == (Outcome.FAILED, True)
    assert "No space left" in (created.error or "") and "manager" in (created.error or "")
    monkeypatch.undo()
    local.create([session()])
    monkeypatch.setattr(local_module, "write_text", disk_full)
    (cancel,) = local.update([EventChange(session().key, MANAGER, ChangeAction.CANCEL)])
    assert (cancel.outcome, cancel.retryable) == (Outcome.FAILED, True)
    assert str(organiser_file.parent) in (cancel.error or "")


def _create_in_child(root: str, keys: list[str], queue: multiprocessing.Queue) -> None:
    connector = LocalConnector(Path(root), Path(root).parent / "outbox")
    events = [session(k, start=START + timedelta(days=i % 20)) for i, k in enumerate(keys)]
    queue.put([r.outcome.value for r in connector.create(events)])


def test_two_processes_create_each_key_once(root: Path) -> None:
    keys = [f"cp{i:032x}" for i in range(12)]
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue = context.Queue()
    children = [
        context.Process(target=_create_in_child, args=(str(root), order, queue))
        for order in (keys, list(reversed(keys)))
    ]
    for child in children:
        child.start()
    outcomes = [queue.get(timeout=60) for _ in children]
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    created = sum(o == "created" for run in outcomes for o in run)
    assert created == len(keys)
    text = read_text(root / "manager@example.com.ics")
    assert sorted(s.tag for s in vevent_spans(text)) == keys
    assert sorted(s.tag for s in vevent_spans(read_text(root / "seller1@example.com.ics"))) == keys


# --- changes ------------------------------------------------------------------------


def test_changes_see_external_cancel_and_ignore_others_sessions(
    local: LocalConnector, root: Path
) -> None:
    event = session()
    local.create([event])
    # seller1 organises nothing: the copy in their calendar is not "theirs".
    assert local.changes(SELLER1, None, *WINDOW).events == ()
    first = local.changes(MANAGER, None, *WINDOW)
    path = root / "manager@example.com.ics"
    write_text(path, read_text(path).replace("STATUS:CONFIRMED", "STATUS:CANCELLED"))
    (state,) = local.changes(MANAGER, first.cursor, *WINDOW).events
    assert state.cancelled and state.key == event.key


def test_changes_follow_an_event_moved_out_of_the_window(local: LocalConnector) -> None:
    event = session()
    local.create([event, session("cp" + "1" * 32, start=datetime(2031, 4, 15, 9, tzinfo=UTC))])
    first = local.changes(MANAGER, None, *WINDOW)
    assert [s.key for s in first.events] == [event.key]  # April's is outside the window
    later = datetime(2031, 4, 20, 9, tzinfo=UTC)
    local.update(
        [
            EventChange(
                event.key, MANAGER, ChangeAction.MOVE, None, later, later + timedelta(hours=1)
            )
        ]
    )
    second = local.changes(MANAGER, first.cursor, *WINDOW)
    (state,) = second.events
    assert (state.key, state.start) == (event.key, later)
    # Still followed while outside the window: its cancellation is reported too.
    local.update([EventChange(event.key, MANAGER, ChangeAction.CANCEL)])
    (state,) = local.changes(MANAGER, second.cursor, *WINDOW).events
    assert (state.key, state.cancelled) == (event.key, True)


def test_changes_read_a_move_written_in_a_custom_zone(local: LocalConnector, root: Path) -> None:
    # A +01:00 "Customized Time Zone" is parsed (and cached by icalendar) first.
    (root / "plus1.ics").write_bytes((FIXTURES / "custom_zone_plus1.ics").read_bytes())
    local.busy([CalendarRef("x", "x@example.com", "plus1.ics", "UTC")], *WINDOW)
    event = session()
    local.create([event])
    path = root / "manager@example.com.ics"
    zone = read_text(FIXTURES / "custom_zone_minus5.ics").split("BEGIN:VEVENT")[0]
    zone = zone[zone.index("BEGIN:VTIMEZONE") :]
    text = read_text(path).replace("BEGIN:VEVENT", zone + "BEGIN:VEVENT", 1)
    text = text.replace(
        "DTSTART:20310311T090000Z", 'DTSTART;TZID="Customized Time Zone":20310312T090000'
    )
    text = text.replace(
        "DTEND:20310311T094500Z", 'DTEND;TZID="Customized Time Zone":20310312T094500'
    )
    write_text(path, text)
    (state,) = local.changes(MANAGER, None, *WINDOW).events
    assert (state.start, state.end) == (
        datetime(2031, 3, 12, 14, 0, tzinfo=UTC),
        datetime(2031, 3, 12, 14, 45, tzinfo=UTC),
    )


def test_cursor_of_another_calendar_means_full_read(local: LocalConnector) -> None:
    local.create([session()])
    foreign = local.changes(SELLER1, None, *WINDOW).cursor
    answer = local.changes(MANAGER, foreign, *WINDOW)
    assert answer.full and len(answer.events) == 1


@pytest.mark.parametrize("text", ["", "ics1.", "ics1.!!!", "ics1.eJwLAQAAAP8AAQ", "gAAAA-token"])
def test_cursor_decode_rejects_junk(text: str) -> None:
    assert ics_cursor.decode(text) is None


def test_cursor_round_trip() -> None:
    cursor = ics_cursor.IcsCursor("/x/manager.ics", "7", {"cpa": "d1", "cpb": "d2"})
    assert ics_cursor.decode(ics_cursor.encode(cursor)) == cursor


def test_changes_on_missing_calendar_name_person_and_path(local: LocalConnector) -> None:
    lost = CalendarRef("manager", "manager@example.com", "gone.ics", "UTC")
    with pytest.raises(ConnectorUserError, match=r"manager.*gone\.ics"):
        local.changes(lost, None, *WINDOW)


# --- folder calendars and opening -------------------------------------------------------


def test_folder_calendar_gets_one_file_per_session(local: LocalConnector, root: Path) -> None:
    (root / "boss").mkdir()
    boss = CalendarRef("boss", "boss@example.com", "boss", "UTC")
    event = session(organizer=boss)
    assert local.create([event])[0].outcome is Outcome.CREATED
    assert local.create([event])[0].outcome is Outcome.EXISTED
    assert (root / "boss" / f"{event.key}.ics").is_file()
    assert [s.key for s in local.changes(boss, None, *WINDOW).events] == [event.key]
    (cancelled,) = local.update([EventChange(event.key, boss, ChangeAction.CANCEL)])
    assert cancelled.outcome is Outcome.CANCELLED
    assert local.busy([boss], *WINDOW).intervals["boss"] == ()


def test_open_through_registry_resolves_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "cals").mkdir()
    context = ConnectorContext(base_dir=tmp_path, outbox=tmp_path / "mail")
    connector = connectors.open_connector("local", {"path": "cals"}, context)
    assert isinstance(connector, LocalConnector)
    assert (connector.root, connector.outbox) == (tmp_path / "cals", tmp_path / "mail")
    with pytest.raises(ConnectorUserError, match="nowhere"):
        connectors.open_connector("local", {"path": "nowhere"}, context)
    with pytest.raises(ConnectorUserError, match="path"):
        connectors.open_connector("local", {}, context)
