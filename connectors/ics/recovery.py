"""What the local connector finds again after a crash: copies of a session in any
calendar of the folder, and temp files an interrupted write left behind.

Creation writes the organiser's calendar first, so a crash can no longer leave an
attendee's copy without the organiser's event. Copies written by an older version in
the other order (or kept by hand) are still found here by key, so a cancellation or
an expiry reaches them too and a look-up does not call such a session gone.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

from connectors.ics import events as ics_events
from connectors.ics.files import LOCK_FOLDER, Span, calendar_files, read_text, vevent_spans

log = logging.getLogger(__name__)

#: A temp file of `atomic_write` lives for milliseconds; one this old was left by a
#: process that died (kill -9, power cut). Younger ones may be another writer's.
STALE_TEMP_SECONDS = 600.0


def folder_calendars(root: Path) -> Iterator[Path]:
    """Every calendar in the folder: top-level `.ics` files and folder calendars."""
    if not root.is_dir():
        return
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if (entry.is_file() and entry.suffix.lower() == ".ics") or (
            entry.is_dir() and any(calendar_files(entry))
        ):
            yield entry


def copies_of(root: Path, key: str, skip: set[Path]) -> list[tuple[Path, Span]]:
    """Files in the folder (outside `skip`) that hold a VEVENT of session `key`."""
    found: list[tuple[Path, Span]] = []
    for calendar in folder_calendars(root):
        if calendar in skip:
            continue
        for file in calendar_files(calendar):
            if file in skip:
                continue
            try:
                text = read_text(file)
            except OSError:
                continue  # unreadable: busy() reports it; a copy there cannot be fixed
            if key not in text:  # cheap test first: most files hold no such session
                continue
            span = ics_events.find_session(vevent_spans(text), key)
            if span is not None:
                found.append((file, span))
    return found


def remove_stale_temp_files(
    folders: list[Path], *, older_than: float = STALE_TEMP_SECONDS, now: float | None = None
) -> list[Path]:
    """Delete `.<name>.<random>.tmp` files older than `older_than` seconds in the
    folders and their calendar sub-folders; returns what was removed."""
    limit = (time.time() if now is None else now) - older_than
    removed: list[Path] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        places = [folder] + [d for d in folder.iterdir() if d.is_dir() and d.name != LOCK_FOLDER]
        for place in places:
            for tmp in place.glob(".*.tmp"):
                try:
                    if tmp.is_file() and tmp.stat().st_mtime < limit:
                        os.unlink(tmp)
                        removed.append(tmp)
                except OSError:
                    continue  # gone meanwhile, or not ours to remove: harmless
    if removed:
        log.info("removed %d temp file(s) left by an interrupted write", len(removed))
    return removed
