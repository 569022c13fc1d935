"""What the local connector read, kept while the files it came from are unchanged.

A run reads the same calendars more than once (plan then book, every cycle of the
service, each organiser's sessions per reconcile), and parsing is most of the cost.
An answer is kept per calendar and question (owner, zone, window) together with the
stamps of the calendar's files at the moment it was read; it is used again only while
every stamp is the same (`files.FileStamp`: inode, size, mtime in nanoseconds, and
this process's own writes to the file). The stamps are taken before reading, so a
file that changes during a read is read again next time. Failures are not kept: a
calendar that could not be read is read again, so fixing it needs no restart.

One cache per connector instance (one instance per run or service process); safe to
share between threads (two threads may both read a calendar that changed, and the
later answer stays).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Generic, TypeVar

from connectors.ics.files import FileStamp, file_stamp

T = TypeVar("T")


class StampedCache(Generic[T]):
    """Answers per (calendar, question), dropped oldest first above `max_entries`."""

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self.reads = 0  # answers read from the files (not from the cache)
        self._lock = threading.Lock()
        self._entries: dict[
            tuple[Path, Hashable], tuple[tuple[tuple[Path, FileStamp], ...], T]
        ] = {}

    def get(
        self, calendar: Path, files: Sequence[Path], question: Hashable, read: Callable[[], T]
    ) -> T:
        """`read()`'s answer for `calendar` made of `files`, from the cache while none
        of the files changed. OSError from a file's stat propagates, as a read's would."""
        stamps = tuple((file, file_stamp(file)) for file in files)
        key = (calendar, question)
        kept = self._entries.get(key)
        if kept is not None and kept[0] == stamps:
            return kept[1]
        answer = read()  # outside the lock: reads of other calendars go on meanwhile
        with self._lock:
            self.reads += 1
            self._entries.pop(key, None)
            if len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))  # oldest first
            self._entries[key] = (stamps, answer)
        return answer
