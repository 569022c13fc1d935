"""Files of the local connector: locking, crash-safe writes, and VEVENT splicing.

A calendar is either one `.ics` file or a folder of `.ics` files (vdir style). We
rewrite a file only by *splicing*: our own VEVENT blocks are replaced or appended as
text and every other byte (VTIMEZONEs, other people's events, X- properties we do
not understand, even components icalendar cannot parse) is written back unchanged.
A parse-and-serialise round trip would reformat or drop what it does not know.

Two processes (the service and an admin's CLI) may write the same calendar: every
read-modify-write holds an `fcntl` lock on a lock file beside the calendar, and the
new content goes to a temp file that replaces the old one with `os.replace`, so a
crash leaves either the old or the new file, never half of one.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from connectors.base import ConnectorUserError, TransientError
from connectors.flock import flock_within

CRLF = "\r\n"
PRODID = "-//Coachpass//Coachpass local connector//EN"
LOCK_FOLDER = ".coachpass-locks"

SESSION_PROPERTY = "X-COACHPASS-SESSION"

_BLOCK_LINE = re.compile(r"^(BEGIN|END):([A-Za-z0-9-]+)[ \t]*\r?$", re.MULTILINE)
#: A fold is CRLF (or a bare LF) and one space or tab. Searched as LF + blank, which
#: starts with a fixed character the regex engine skips to; a CR before it is
#: dropped by hand (`\r?\n[ \t]` made the engine try every position: ~0.3 ms per
#: 25 kB calendar, and every file, block and event is unfolded at least once).
_FOLD_AFTER_LF = re.compile(r"\n[ \t]")


def empty_calendar(extra: str = "") -> str:
    return CRLF.join(
        ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN"]
        + ([extra] if extra else [])
        + ["END:VCALENDAR", ""]
    )


def unfold(text: str) -> str:
    """`text` without its folds: as `re.sub(r"\\r?\\n[ \\t]", "", text)`."""
    pieces = _FOLD_AFTER_LF.split(text)
    if len(pieces) == 1:
        return text
    # Each piece but the last ended where a fold began: at its LF, or at its CR.
    kept = (piece[:-1] if piece.endswith("\r") else piece for piece in pieces[:-1])
    return "".join(kept) + pieces[-1]


def property_value(block: str, name: str) -> str | None:
    """First value of property `name` in an unfolded-or-folded block (parameters ignored)."""
    return _value_in(unfold(block), name)


@functools.lru_cache(maxsize=64)
def _property_line(name: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(name)}(?:;[^:\r\n]*)?:(.*?)\r?$", re.MULTILINE | re.I)


def _value_in(unfolded: str, name: str) -> str | None:
    match = _property_line(name).search(unfolded)
    return match.group(1) if match else None


@dataclass(frozen=True)
class Span:
    """A top-level VEVENT block inside a VCALENDAR: text[start:end], end after its EOL."""

    start: int
    end: int
    uid: str | None
    tag: str | None


def vevent_spans(text: str) -> list[Span]:
    """VEVENT blocks directly inside a VCALENDAR (their VALARMs stay inside them)."""
    spans: list[Span] = []
    depth = 0
    begin = -1
    for match in _BLOCK_LINE.finditer(text):
        kind, name = match.group(1).upper(), match.group(2).upper()
        if kind == "BEGIN":
            depth += 1
            if depth == 2 and name == "VEVENT":
                begin = match.start()
        else:
            if depth == 2 and name == "VEVENT" and begin >= 0:
                end = match.end()
                if text.startswith("\r\n", end):
                    end += 2
                elif text.startswith("\n", end):
                    end += 1
                block = unfold(text[begin:end])  # once: blocks carry big attachments
                spans.append(
                    Span(begin, end, _value_in(block, "UID"), _value_in(block, SESSION_PROPERTY))
                )
                begin = -1
            depth = max(0, depth - 1)
    return spans


def replace_span(text: str, span: Span, block: str) -> str:
    return text[: span.start] + block + text[span.end :]


class DamagedCalendar(ConnectorUserError):
    """A calendar file that is not whole: never written to (that would lose its events)."""


def append_vevent(text: str, block: str, where: object = "the calendar file") -> str:
    """Insert `block` before the last END:VCALENDAR; an empty text becomes a new
    calendar. Text without END:VCALENDAR is a damaged (cut off) file: rewriting it
    as a new calendar would throw its events away, so that is refused."""
    matches = [
        m
        for m in _BLOCK_LINE.finditer(text)
        if m.group(1).upper() == "END" and m.group(2).upper() == "VCALENDAR"
    ]
    if not matches:
        if text.strip():
            raise DamagedCalendar(
                f"{where} is not a whole iCalendar file (no END:VCALENDAR): nothing was "
                "written to it; repair or restore it, then run again"
            )
        return empty_calendar().replace("END:VCALENDAR", block + "END:VCALENDAR", 1)
    at = matches[-1].start()
    prefix = text[:at]
    if prefix and not prefix.endswith("\n"):
        prefix += CRLF
    return prefix + block + text[at:]


def calendar_level_property(text: str, name: str) -> str | None:
    """A property of the VCALENDAR itself (before its first component)."""
    first = re.search(r"^BEGIN:(?!VCALENDAR)", text, re.MULTILINE | re.I)
    head = text[: first.start()] if first else text
    return property_value(head, name)


def set_calendar_level_property(text: str, name: str, value: str) -> str:
    first = re.search(r"^BEGIN:(?!VCALENDAR)", text, re.MULTILINE | re.I)
    cut = first.start() if first else len(text)
    head, tail = text[:cut], text[cut:]
    pattern = re.compile(rf"^{re.escape(name)}(?:;[^:\r\n]*)?:.*?\r?\n", re.MULTILINE | re.I)
    head = pattern.sub("", head)
    if first is None:
        # No component: the property goes before END:VCALENDAR.
        return append_vevent(head, f"{name}:{value}{CRLF}")
    return head + f"{name}:{value}{CRLF}" + tail


# --- locking and writing --------------------------------------------------------------


def lock_path(calendar: Path) -> Path:
    """Lock files live in one hidden `.coachpass-locks/` folder beside the calendars
    (inside a folder calendar), not as one dot-file per calendar among the user's."""
    if calendar.is_dir():
        folder, name = calendar / LOCK_FOLDER, "calendar.lock"
    else:
        folder, name = calendar.parent / LOCK_FOLDER, f"{calendar.name}.lock"
    folder.mkdir(exist_ok=True)
    return folder / name


#: How long a writer waits for another process's lock on a calendar. A writer that
#: died released its lock with its file descriptors; one that is alive but frozen
#: (stopped, swapped out, a suspended VM) must not hang this one for ever: after
#: this long the calendar is "busy, try again", and the next run does.
LOCK_WAIT_SECONDS = 30.0


class CalendarLocked(TransientError):
    """Another process held a calendar's lock for longer than LOCK_WAIT_SECONDS."""


@contextlib.contextmanager
def locked(calendar: Path, wait: float | None = None) -> Iterator[None]:
    """Exclusive lock for one calendar, held across read-modify-write."""
    path = lock_path(calendar)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not flock_within(fd, LOCK_WAIT_SECONDS if wait is None else wait, 0.25):
            raise CalendarLocked(
                f"calendar {calendar} is locked by another Coachpass process "
                f"(lock file {path}) and stayed locked: it is retried on the next run"
            )
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def locked_all(paths: set[Path]) -> Iterator[None]:
    """Lock several calendars in one global order, so two writers cannot deadlock."""
    with contextlib.ExitStack() as stack:
        for path in sorted(paths, key=lambda p: str(p.resolve())):
            stack.enter_context(locked(path))
        yield


#: Atomic writes this process made, per (device, inode) written: part of a file's
#: stamp, so a cached read is never stale after our own write, even if the new file
#: got the inode number the old one freed, with the old size and the same coarse
#: mtime. (By inode, not path: any spelling of the path finds it, with no lookups.)
_WRITES: dict[tuple[int, int], int] = {}


@dataclass(frozen=True)
class FileStamp:
    """What tells a file's content changed, without reading it."""

    inode: int
    size: int
    mtime_ns: int
    writes: int  # our own writes to it (`_WRITES`)


def file_stamp(path: Path) -> FileStamp:
    info = path.stat()
    writes = _WRITES.get((info.st_dev, info.st_ino), 0)
    return FileStamp(info.st_ino, info.st_size, info.st_mtime_ns, writes)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so readers and crashes see old or new, never a mix."""
    write_all({path: data})


#: Files whose data is forced to disk at once. Flushes in flight together are taken
#: by the disk (and the file system's journal) as one; one after another, each waits
#: for the last: 2,000 small files took 1.0-1.9 s with 8 at once, 1.8-6.3 s one by
#: one, on this machine's disk (noisy, shared).
SYNC_WORKERS = 8
#: Temp files open at once while a batch is written (file descriptors are limited).
_OPEN_AT_ONCE = 256


def write_all(files: Mapping[Path, bytes]) -> None:
    """Replace each file with its data, durably, before returning.

    Each file's data goes to a temp file beside it and is on disk (fsync) before the
    temp file is renamed over the old one, so a crash leaves every file old or new,
    never empty or half written; the renames are made durable by one fsync of each
    folder at the end, also when a rename fails half-way. The fsyncs of a batch run
    together (`SYNC_WORKERS`): that is what makes writing a team's copies and
    invitations as one batch cheaper than writing them one by one. Nothing is
    renamed before every file's data is on disk; a failure before that (disk full)
    leaves every old file as it was and no temp file behind."""
    temps: list[tuple[str, Path, tuple[int, int]]] = []  # (temp, target, device/inode)
    renamed = 0
    folders: set[Path] = set()
    try:
        items = list(files.items())
        for at in range(0, len(items), _OPEN_AT_ONCE):
            temps.extend(_write_synced(items[at : at + _OPEN_AT_ONCE]))
        for tmp, path, written in temps:
            with contextlib.suppress(OSError):
                os.chmod(tmp, 0o644)
            os.replace(tmp, path)
            renamed += 1
            folders.add(path.parent)
            _WRITES[written] = _WRITES.get(written, 0) + 1
    finally:
        for tmp, _path, _written in temps[renamed:]:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        for folder in sorted(folders):
            _sync_folder(folder)


def _write_synced(items: list[tuple[Path, bytes]]) -> list[tuple[str, Path, tuple[int, int]]]:
    """Temp files holding `items`' data, on disk; removed again if any write fails."""
    opened: list[tuple[int, str, Path]] = []
    try:
        for path, data in items:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            opened.append((fd, tmp, path))
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        fds = [fd for fd, _tmp, _path in opened]
        if len(fds) > 1:
            with ThreadPoolExecutor(min(SYNC_WORKERS, len(fds))) as pool:
                list(pool.map(os.fsync, fds))
        else:
            os.fsync(fds[0])
        done = []
        for fd, tmp, path in opened:
            info = os.fstat(fd)
            done.append((tmp, path, (info.st_dev, info.st_ino)))
        return done
    except BaseException:
        for _fd, tmp, _path in opened:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    finally:
        for fd, _tmp, _path in opened:
            os.close(fd)


def _sync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def read_text(path: Path) -> str:
    # newline="" keeps CRLF as it is, so splicing writes back exactly what was read.
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
        return handle.read()


def write_text(path: Path, text: str) -> None:
    atomic_write(path, text.encode("utf-8", errors="surrogateescape"))


def calendar_files(calendar: Path) -> list[Path]:
    """The .ics files making up a calendar (one file, or a folder's files, sorted)."""
    if calendar.is_dir():
        return sorted(p for p in calendar.iterdir() if p.suffix.lower() == ".ics" and p.is_file())
    return [calendar]
