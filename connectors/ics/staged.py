"""Writes the local connector makes durable together: a team's copies and invitations.

A booking writes, per session, a copy into the seller's calendar and an invitation
into the outbox. Made durable one by one, each file waits for its own disk flush;
staged here and written by `files.write_all` at `commit`, their flushes run together
and each folder is synced once. The files of one batch have no order among them on
disk (a crash may keep any subset; the retry rewrites the same names), so only
writes with that property are staged: the organiser's calendar, which must be on
disk before any copy, is written apart, before the batch.

Reads through the batch see what it holds: a calendar that gets two sessions'
copies in one batch keeps both.
"""

from __future__ import annotations

from pathlib import Path

from connectors.ics.files import calendar_files, read_text, write_all


class StagedWrites:
    """Whole files to replace at `commit`, durably before it returns."""

    def __init__(self) -> None:
        self._files: dict[Path, bytes] = {}

    def write_text(self, path: Path, text: str) -> None:
        self._files[path] = text.encode("utf-8", errors="surrogateescape")

    def write_bytes(self, path: Path, data: bytes) -> None:
        self._files[path] = data

    def read_text(self, path: Path) -> str:
        """The staged text of `path`, else what the disk holds (as `files.read_text`)."""
        staged = self._files.get(path)
        if staged is None:
            return read_text(path)
        return staged.decode("utf-8", errors="surrogateescape")

    def exists(self, path: Path) -> bool:
        return path in self._files or path.exists()

    def calendar_files(self, calendar: Path) -> list[Path]:
        """`files.calendar_files`, with the files staged into a folder calendar."""
        found = calendar_files(calendar)
        if calendar.is_dir():
            new = [p for p in self._files if p.parent == calendar and p not in found]
            found = sorted([*found, *(p for p in new if p.suffix.lower() == ".ics")])
        return found

    def commit(self) -> None:
        """Write everything staged (see `files.write_all`); the batch is empty after,
        also when writing failed (what it held is the caller's to redo)."""
        files, self._files = self._files, {}
        if files:
            write_all(files)
