"""Batched durable writes of the local connector (issue 14): every file's data is on
disk before any file of its batch is renamed, each folder is synced once, and a
booking's copies and invitations are one batch written after the organiser's
calendar is durable."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

import pytest

from connectors.base import Attendee, CalendarRef, Outcome
from connectors.ics import files
from connectors.ics.connector import LocalConnector
from connectors.ics.staged import StagedWrites
from tests.connectors.ics.test_connector import local, root, session  # noqa: F401


class DiskLog:
    """What reached the disk, in order: ("data", fd) per fsync of a file,
    ("rename", target) per os.replace, ("folder", path) per folder sync."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.steps: list[tuple[str, object]] = []
        self._lock = threading.Lock()
        real_fsync, real_replace = os.fsync, os.replace

        def fsync(fd: int) -> None:
            real_fsync(fd)
            with self._lock:
                self.steps.append(("data", fd))

        def replace(src: str, dst: str | Path) -> None:
            real_replace(src, dst)
            self.steps.append(("rename", Path(dst)))

        def sync_folder(folder: Path) -> None:
            self.steps.append(("folder", folder))

        monkeypatch.setattr(files.os, "fsync", fsync)
        monkeypatch.setattr(files.os, "replace", replace)
        monkeypatch.setattr(files, "_sync_folder", sync_folder)

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.steps]


def test_every_file_is_on_disk_before_any_rename_and_each_folder_is_synced_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    log = DiskLog(monkeypatch)
    batch = {tmp_path / "a" / f"{n}.eml": f"mail {n}".encode() for n in range(5)}
    batch[tmp_path / "b" / "x.ics"] = b"calendar"
    files.write_all(batch)
    assert log.kinds() == ["data"] * 6 + ["rename"] * 6 + ["folder"] * 2
    assert [p for kind, p in log.steps if kind == "folder"] == [tmp_path / "a", tmp_path / "b"]
    assert {p: p.read_bytes() for p in batch} == batch
    assert {oct(p.stat().st_mode & 0o777) for p in batch} == {"0o644"}
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_batch_that_cannot_be_written_changes_no_file_and_leaves_no_temp(
    tmp_path: Path,
) -> None:
    (tmp_path / "a").mkdir()
    old = tmp_path / "a" / "seller.ics"
    old.write_bytes(b"old")
    with pytest.raises(OSError):
        # The second file's folder is missing: found before anything is renamed.
        files.write_all({old: b"new", tmp_path / "missing" / "x.eml": b"mail"})
    assert old.read_bytes() == b"old"
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["seller.ics"]


def test_more_files_than_open_at_once_are_written_all_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "_OPEN_AT_ONCE", 3)
    log = DiskLog(monkeypatch)
    batch = {tmp_path / f"{n}.eml": bytes([n]) * n for n in range(8)}
    files.write_all(batch)
    assert {p: p.read_bytes() for p in batch} == batch
    assert log.kinds() == ["data"] * 8 + ["rename"] * 8 + ["folder"]


def test_staged_reads_see_the_batch_and_commit_writes_it_once(tmp_path: Path) -> None:
    calendar = tmp_path / "seller.ics"
    calendar.write_text("one\r\n", newline="")
    staged = StagedWrites()
    staged.write_text(calendar, staged.read_text(calendar) + "two\r\n")
    staged.write_text(calendar, staged.read_text(calendar) + "three\r\n")
    assert calendar.read_text() == "one\n"  # nothing on disk before the commit
    assert staged.exists(tmp_path / "new.eml") is False
    staged.write_bytes(tmp_path / "new.eml", b"mail")
    assert staged.exists(tmp_path / "new.eml")
    staged.commit()
    assert calendar.read_bytes() == b"one\r\ntwo\r\nthree\r\n"
    assert (tmp_path / "new.eml").read_bytes() == b"mail"
    staged.commit()  # empty now: writes nothing again


def test_a_booking_writes_its_copies_and_invitations_as_one_batch_after_the_organiser(
    local: LocalConnector,  # noqa: F811
    root: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    organiser = root / "manager@example.com.ics"
    log = DiskLog(monkeypatch)
    local.create([session("cp" + "1" * 32), session("cp" + "2" * 32)])
    renames = [p for kind, p in log.steps if kind == "rename"]
    # The record first, durable (data, rename, folder) before anything else is written.
    assert log.steps[:3] == [("data", log.steps[0][1]), ("rename", organiser), ("folder", root)]
    rest = log.kinds()[3:]
    # Two copies (seller1, seller2: both sessions in each) and six invitations (three
    # attendees, two sessions): all their data on disk, then every rename, then the
    # two folders once each.
    assert rest == ["data"] * 8 + ["rename"] * 8 + ["folder"] * 2
    assert set(renames[1:]) >= {root / "seller1@example.com.ics", root / "s2-calendar.ics"}
    assert len([p for p in renames if p.suffix == ".eml"]) == 6
    for calendar in (root / "seller1@example.com.ics", root / "s2-calendar.ics"):
        text = calendar.read_text()
        assert text.count("X-COACHPASS-SESSION") == 2  # both copies kept in one batch


def _locked_by_someone(calendar: Path) -> bool:
    fd = os.open(files.lock_path(calendar), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_calendars_stay_locked_until_their_copies_and_invitations_are_on_disk(
    local: LocalConnector,  # noqa: F811
    root: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import connectors.ics.staged as staged_module

    seller = root / "seller1@example.com.ics"
    seen: list[bool] = []
    real_write_all = staged_module.write_all

    def write_all(batch: dict[Path, bytes]) -> None:
        seen.append(_locked_by_someone(seller))  # another process would wait here
        real_write_all(batch)
        seen.append(_locked_by_someone(seller))

    monkeypatch.setattr(staged_module, "write_all", write_all)
    local.create([session()])
    assert seen == [True, True]
    assert not _locked_by_someone(seller)  # and released once written


def test_organisers_whose_copies_could_not_be_written_fail_retryably_and_the_retry_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import connectors.ics.staged as staged_module

    folder = tmp_path / "calendars"
    folder.mkdir()
    for name in ("boss1", "boss2", "sam", "sia"):
        files.write_text(folder / f"{name}@example.com.ics", files.empty_calendar())
    connector = LocalConnector(folder, tmp_path / "outbox")
    events = [
        session("cp" + "1" * 32, organizer=_ref("boss1"), attendees=(Attendee("sam@example.com"),)),
        session("cp" + "2" * 32, organizer=_ref("boss2"), attendees=(Attendee("sia@example.com"),)),
    ]
    real_write_all = staged_module.write_all

    def disk_full_for_sia(batch: dict[Path, bytes]) -> None:
        if folder / "sia@example.com.ics" in batch:
            raise OSError(28, "No space left on device", str(folder))
        real_write_all(batch)

    monkeypatch.setattr(staged_module, "write_all", disk_full_for_sia)
    first, second = connector.create(events)
    assert first.outcome is Outcome.CREATED
    assert (second.outcome, second.retryable) == (Outcome.FAILED, True)
    assert "No space left" in (second.error or "") and "boss2" in (second.error or "")
    monkeypatch.undo()
    again = connector.create(events)
    assert [r.outcome for r in again] == [Outcome.EXISTED, Outcome.EXISTED]
    assert "cp" + "2" * 32 in (folder / "sia@example.com.ics").read_text()
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2


def _ref(name: str) -> CalendarRef:
    return CalendarRef(name, f"{name}@example.com", f"{name}@example.com.ics", "UTC")
