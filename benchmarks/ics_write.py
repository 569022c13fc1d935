"""Writing a month's sessions into local calendars: the local connector's `create` alone.

    .venv/bin/python benchmarks/ics_write.py                    # 25 copies: 1,000 sellers
    .venv/bin/python benchmarks/ics_write.py --copies 1 --runs 3
    .venv/bin/python benchmarks/ics_write.py --sync-workers 1   # fsyncs one at a time

Generates the demo's organisation (`--copies` x 3 teams), then creates one session per
seller (organiser: the manager; the seller's copy and invitation; an agenda with the
guidelines attached, as booking writes them) into a fresh copy of its calendars, in
one `create` call as booking makes it. Prints wall and CPU time per run (CPU of every
thread of this process); `--sync-workers` sets how many file flushes run at once
(`connectors.ics.files.SYNC_WORKERS`). Never asserts a time: the machine is shared.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.base import Attachment, Attendee, NewEvent
from connectors.ics import files
from connectors.ics.connector import LocalConnector
from scheduler.demo.data import generate
from scheduler.model import Month
from scheduler.settings.load import load_settings

MONTH = Month(2031, 3)
GUIDELINES = Path(__file__).resolve().parent.parent / "config" / "guidelines" / "en.md"


def sessions(config: Path) -> list[NewEvent]:
    org = load_settings(config).organisation
    guide = GUIDELINES.read_bytes()
    events = []
    for t, team in enumerate(org.teams):
        for s, seller in enumerate(team.sellers):
            start = datetime(2031, 3, 3 + s % 20, 9, tzinfo=UTC)
            events.append(
                NewEvent(
                    key=f"cp{t:06d}{s:06d}" + "0" * 20,
                    organizer=team.manager.calendar(),
                    attendees=(Attendee(seller.email, seller.name),),
                    start=start,
                    end=start + timedelta(minutes=45),
                    summary=f"Coaching: {team.manager.name} / {seller.name}",
                    description_text="Agenda\n" + "- a point of the guidelines\n" * 40,
                    description_html="<p>Agenda</p>\n" * 40,
                    attachments=(Attachment("guidelines.md", "text/markdown", guide),),
                    video_url=f"https://video.example.com/{t}-{s}",
                )
            )
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=25)
    parser.add_argument("--runs", type=int, default=2)
    # An older checkout (copied in to compare) has no SYNC_WORKERS: one at a time.
    parser.add_argument("--sync-workers", type=int, default=getattr(files, "SYNC_WORKERS", 1))
    args = parser.parse_args()
    files.SYNC_WORKERS = args.sync_workers
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "org"
        generate(source, MONTH, seed=11, copies=args.copies)
        events = sessions(source / "coachpass.yaml")
        print(f"{len(events)} sessions, fsyncs {args.sync_workers} at a time")
        for run in range(args.runs):
            folder = Path(tmp) / f"run{run}"
            shutil.copytree(source / "calendars", folder / "calendars")
            connector = LocalConnector(folder / "calendars", folder / "outbox")
            began, cpu = time.perf_counter(), time.process_time()
            results = connector.create(events)
            wall, cpu = time.perf_counter() - began, time.process_time() - cpu
            created = sum(r.ok for r in results)
            print(f"  run {run + 1}: {wall:6.2f} s wall, {cpu:6.2f} s CPU, {created} created")
            shutil.rmtree(folder)


if __name__ == "__main__":
    main()
