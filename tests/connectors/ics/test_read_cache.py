"""The local connector keeps what it read while the files are unchanged
(`ics.cache`), and never answers from a stale copy: not after its own writes, not
after another process rewrote a file (same size with another mtime, or another size,
in place or replaced), not after a file joined a folder calendar."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.base import (
    Attendee,
    Busy,
    BusyKind,
    CalendarRef,
    ChangeAction,
    EventChange,
    NewEvent,
)
from connectors.ics import files
from connectors.ics.cache import StampedCache
from connectors.ics.connector import LocalConnector
from connectors.ics.files import empty_calendar, file_stamp, write_text

WINDOW = (datetime(2031, 3, 1, tzinfo=UTC), datetime(2031, 4, 1, tzinfo=UTC))
NOW = datetime(2031, 2, 20, 12, 0, tzinfo=UTC)
MANAGER = CalendarRef("manager", "manager@example.com", "manager@example.com.ics", "UTC")
SELLER = CalendarRef("seller", "seller@example.com", "seller@example.com.ics", "UTC")
ANNA = CalendarRef("anna", "anna@example.com", "anna.ics", "UTC")


def calendar(*events: tuple[str, str]) -> str:
    """A calendar of single events (DTSTART, DTEND in UTC, as 'YYYYMMDDTHHMMSS')."""
    blocks = "".join(
        f"BEGIN:VEVENT\r\nUID:e{i}@x\r\nDTSTAMP:20310101T000000Z\r\n"
        f"DTSTART:{start}Z\r\nDTEND:{end}Z\r\nEND:VEVENT\r\n"
        for i, (start, end) in enumerate(events)
    )
    return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n" + blocks + "END:VCALENDAR\r\n"


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2031, 3, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "calendars"
    folder.mkdir()
    write_text(folder / "manager@example.com.ics", empty_calendar())
    write_text(folder / "seller@example.com.ics", empty_calendar())
    (folder / "anna.ics").write_text(calendar(("20310304T090000", "20310304T100000")))
    return folder


@pytest.fixture
def local(root: Path) -> LocalConnector:
    return LocalConnector(root, root.parent / "outbox", clock=lambda: NOW)


def busy_of(local: LocalConnector, ref: CalendarRef) -> tuple[Busy, ...]:
    answer = local.busy([ref], *WINDOW)
    assert not answer.errors, answer.errors
    return answer.intervals[ref.person_id]


def test_an_unchanged_calendar_is_read_once(local: LocalConnector) -> None:
    first = busy_of(local, ANNA)
    reads = local._reads.reads
    assert busy_of(local, ANNA) == first == (Busy(utc(4, 9), utc(4, 10)),)
    assert local._reads.reads == reads  # answered from the cache
    # Another window is another question: read from the files.
    local.busy([ANNA], WINDOW[0], WINDOW[1] + timedelta(days=30))
    assert local._reads.reads == reads + 1


def test_own_writes_are_seen_at_once(local: LocalConnector) -> None:
    assert busy_of(local, MANAGER) == () and busy_of(local, SELLER) == ()
    key = "cp" + "1" * 32
    start = utc(11, 9)
    event = NewEvent(
        key=key,
        organizer=MANAGER,
        attendees=(Attendee("seller@example.com", "Sam"),),
        start=start,
        end=start + timedelta(minutes=45),
        summary="Coaching",
        description_text="Agenda",
    )
    local.create([event])
    session = (Busy(start, start + timedelta(minutes=45), BusyKind.BUSY),)
    # The organiser's calendar and the attendee's copy were rewritten by this
    # connector: neither answer may come from before.
    assert busy_of(local, MANAGER) == session
    assert busy_of(local, SELLER) == session
    local.update([EventChange(key, MANAGER, ChangeAction.CANCEL)])
    assert busy_of(local, MANAGER) == () and busy_of(local, SELLER) == ()


def test_rewritten_in_place_with_the_same_size_and_another_mtime(
    local: LocalConnector, root: Path
) -> None:
    file = root / "anna.ics"
    assert busy_of(local, ANNA) == (Busy(utc(4, 9), utc(4, 10)),)
    before = file.stat()
    moved = calendar(("20310305T090000", "20310305T100000"))
    assert len(moved) == before.st_size
    with open(file, "r+", newline="") as handle:  # same inode, same size
        handle.write(moved)
    os.utime(file, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
    assert file.stat().st_ino == before.st_ino and file.stat().st_size == before.st_size
    assert busy_of(local, ANNA) == (Busy(utc(5, 9), utc(5, 10)),)


def test_rewritten_with_another_size(local: LocalConnector, root: Path) -> None:
    assert busy_of(local, ANNA) == (Busy(utc(4, 9), utc(4, 10)),)
    file = root / "anna.ics"
    stamp = file.stat()
    file.write_text(
        calendar(("20310304T090000", "20310304T100000"), ("20310306T130000", "20310306T140000"))
    )
    os.utime(file, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # even with the old mtime
    assert busy_of(local, ANNA) == (Busy(utc(4, 9), utc(4, 10)), Busy(utc(6, 13), utc(6, 14)))


def test_own_write_with_same_size_and_mtime_is_still_seen(
    local: LocalConnector, root: Path
) -> None:
    """Coarse file times and a reused inode number can leave a stat unchanged after a
    rewrite; a write through `files.atomic_write` counts in the stamp all the same."""
    file = root / "anna.ics"
    assert busy_of(local, ANNA) == (Busy(utc(4, 9), utc(4, 10)),)
    stamp, counted = file.stat(), file_stamp(file)
    write_text(file, calendar(("20310307T090000", "20310307T100000")))
    os.utime(file, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    # The inode a rename gives cannot be chosen here; the write count is what would
    # tell the files apart if it were the old one.
    assert file_stamp(file).writes == counted.writes + 1
    assert busy_of(local, ANNA) == (Busy(utc(7, 9), utc(7, 10)),)


def test_a_file_added_to_a_folder_calendar_is_read(local: LocalConnector, root: Path) -> None:
    folder = root / "team"
    folder.mkdir()
    (folder / "a.ics").write_text(calendar(("20310304T090000", "20310304T100000")))
    ref = CalendarRef("team", "team@example.com", "team", "UTC")
    assert busy_of(local, ref) == (Busy(utc(4, 9), utc(4, 10)),)
    (folder / "b.ics").write_text(calendar(("20310308T090000", "20310308T100000")))
    assert busy_of(local, ref) == (Busy(utc(4, 9), utc(4, 10)), Busy(utc(8, 9), utc(8, 10)))


def test_a_calendar_that_failed_is_read_again_once_fixed(local: LocalConnector, root: Path) -> None:
    file = root / "anna.ics"
    file.write_text(calendar(("20310304T090000", "20310304T100000"))[:-20])  # cut off
    answer = local.busy([ANNA], *WINDOW)
    assert "does not close BEGIN:VEVENT" in answer.errors["anna"]
    file.write_text(calendar(("20310304T090000", "20310304T100000")))
    assert busy_of(local, ANNA) == (Busy(utc(4, 9), utc(4, 10)),)


def test_changes_are_read_again_after_a_write(local: LocalConnector, root: Path) -> None:
    key = "cp" + "2" * 32
    start = utc(12, 9)
    event = NewEvent(
        key=key,
        organizer=MANAGER,
        attendees=(Attendee("seller@example.com", "Sam"),),
        start=start,
        end=start + timedelta(minutes=45),
        summary="Coaching",
        description_text="Agenda",
    )
    local.create([event])
    first = local.changes(MANAGER, None, *WINDOW)
    assert [e.key for e in first.events] == [key] and not first.events[0].cancelled
    reads = local._ours.reads
    assert local.changes(MANAGER, first.cursor, *WINDOW).events == ()
    assert local._ours.reads == reads  # unchanged: from the cache
    # The seller declines in the organiser's file (another program, in place).
    file = root / "manager@example.com.ics"
    text = file.read_bytes()
    declined = text.replace(b"PARTSTAT=NEEDS-ACTION", b"PARTSTAT=DECLINED;X=1")
    assert len(declined) == len(text) and declined != text
    stamp = file.stat()
    file.write_bytes(declined)
    os.utime(file, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1))
    [changed] = local.changes(MANAGER, first.cursor, *WINDOW).events
    assert changed.key == key and changed.responses["seller@example.com"].value == "declined"


def test_the_cache_holds_at_most_its_size_dropping_the_oldest(tmp_path: Path) -> None:
    cache: StampedCache[str] = StampedCache(max_entries=2)
    paths = [tmp_path / f"{n}.ics" for n in range(3)]
    for path in paths:
        path.write_text(path.name)
    for path in [*paths, paths[2], paths[0]]:
        assert cache.get(path, [path], "q", path.read_text) == path.name
    # 0, 1, 2 read; 2 again from the cache; 0 was dropped when 2 came: read again.
    assert cache.reads == 4


def test_a_calendar_locked_by_a_stalled_process_fails_that_write_and_does_not_hang(
    tmp_path: Path,
) -> None:
    """A writer that died released its lock; one alive but frozen holds it. After the
    wait the write fails as retryable, naming the calendar, and nothing is written."""
    import multiprocessing
    import signal

    from connectors.base import TransientError

    calendar = tmp_path / "boss.ics"
    calendar.write_text("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n")
    ready = multiprocessing.Event()

    def hold() -> None:
        with files.locked(calendar):
            ready.set()
            signal.pause()

    holder = multiprocessing.get_context("fork").Process(target=hold, daemon=True)
    holder.start()
    try:
        assert ready.wait(10)
        with (
            pytest.raises(files.CalendarLocked, match=r"boss\.ics") as caught,
            files.locked(calendar, wait=0.3),
        ):
            pass
        assert isinstance(caught.value, TransientError)  # "try again", not a user error
    finally:
        holder.kill()
        holder.join(5)
    with files.locked(calendar, wait=0.3):  # released with the process
        pass
