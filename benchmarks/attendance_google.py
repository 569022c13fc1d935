"""Request-count benchmark of Meet attendance against the fake Meet v2 / Directory.

    .venv/bin/python benchmarks/attendance_google.py                  # 50 managers x 15
    .venv/bin/python benchmarks/attendance_google.py --managers 200 --sellers 12

Books one session per seller (a delegated service account, one batch per organiser),
seeds a Meet call for each booked link (both present; every fourth seller rejoins
once, every fifth never comes), then asks `attendance` for every session twice:
cold (every person's Google user id looked up) and warm (ids cached by the
connector). Prints API requests per session (Meet list calls, Directory look-ups,
the event read when only the id is known) and token requests per organiser, and the
fake serves Meet's real page sizes (up to 250 participants). Figures only: nothing
here asserts a time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.base import Attendee, CalendarRef, ConnectorContext, MeetingQuery, NewEvent
from connectors.google.attendance import meeting_code
from connectors.google.connector import GoogleConnector
from tests.fakes.google_server import FakeGoogle

ZONE = ZoneInfo("Europe/Stockholm")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--managers", type=int, default=50)
    parser.add_argument("--sellers", type=int, default=15)
    args = parser.parse_args()
    fake = FakeGoogle().start()
    fake.meet.page_cap = 250
    try:
        with tempfile.TemporaryDirectory() as folder:
            run(fake, Path(folder), args.managers, args.sellers)
    finally:
        fake.stop()


def run(fake: FakeGoogle, folder: Path, managers: int, sellers: int) -> None:
    key = fake.tokens.service_account_file(folder)
    now = datetime(2031, 3, 31, 12, tzinfo=UTC)
    fake.meet.clock = lambda: now
    options = {
        "api_endpoint": fake.api_endpoint,
        "meet_endpoint": fake.api_endpoint,
        "directory_endpoint": fake.api_endpoint,
        "service_account_file": str(key),
        "delegation": True,
    }
    google = GoogleConnector(options, ConnectorContext(folder), clock=lambda: now)
    queries: list[MeetingQuery] = []
    for m in range(managers):
        boss = f"m{m}@example.com"
        fake.add_user(boss)
        organizer = CalendarRef(f"m{m}", boss, boss, "Europe/Stockholm")
        events = []
        for s in range(sellers):
            seller = f"s{m}x{s}@example.com"
            fake.add_user(seller)
            start = datetime(2031, 3, 3 + s, 10, tzinfo=ZONE)
            events.append(
                NewEvent(
                    key=f"bench{m:04d}{s:03d}",
                    organizer=organizer,
                    attendees=(Attendee(seller),),
                    start=start,
                    end=start + timedelta(minutes=45),
                    summary="Coaching",
                    description_text="Agenda",
                )
            )
        for event, result in zip(events, google.create(events), strict=True):
            code = meeting_code(result.video_url)
            assert code is not None, result
            begin, end = event.start.astimezone(UTC), event.end.astimezone(UTC)
            seller = event.attendees[0].email
            index = len(queries) % sellers
            people: list[tuple[str | None, list[tuple[datetime, datetime | None]]]] = [
                (boss, [(begin, end)])
            ]
            if index % 5 != 4:
                spans: list[tuple[datetime, datetime | None]] = [(begin, end)]
                if index % 4 == 3:
                    middle = begin + timedelta(minutes=20)
                    spans = [(begin, middle), (middle + timedelta(minutes=2), end)]
                people.append((seller, spans))
            fake.add_conference(code, begin, end, people)
            queries.append(
                MeetingQuery(
                    event.key,
                    organizer,
                    (Attendee(boss), Attendee(seller)),
                    event.start,
                    event.end,
                    result.event_id,
                    result.video_url,
                )
            )
    print(f"{managers} managers x {sellers} sellers = {len(queries)} sessions")
    booking_tokens = fake.stats["token"]
    tokens = 0
    for label in ("cold (ids looked up)", "warm (ids cached)"):
        tokens += fake.stats["token"]
        fake.reset_stats()
        began = time.perf_counter()
        answer = google.attendance(queries)
        seconds = time.perf_counter() - began
        assert not answer.errors, list(answer.errors.values())[:1]
        directory = len(list(fake.api_calls(kind="/admin/directory/")))
        meet = len(list(fake.api_calls(kind="/v2/")))
        print(
            f"{label:22} requests/session {fake.stats['api'] / len(queries):.2f} "
            f"(Meet {meet / len(queries):.2f}, Directory {directory / len(queries):.2f}), "
            f"new tokens {fake.stats['token']}, "
            f"{seconds:.1f} s ({seconds / len(queries) * 1000:.1f} ms/session)"
        )
    tokens += fake.stats["token"]
    print(
        f"tokens per organiser over booking and both reads: {tokens / managers:.2f} "
        f"(booking fetched {booking_tokens}; attendance reuses them within the hour)"
    )
    google.close()


if __name__ == "__main__":
    main()
