"""Request count of reading Teams attendance through the Outlook connector, against
the fake Graph.

    .venv/bin/python benchmarks/attendance_graph.py                 # 100 managers x 15
    .venv/bin/python benchmarks/attendance_graph.py --managers 20 --sellers 10

Every session gets an attendance report with both people in it, then `attendance`
is asked for all sessions at once (as a reconcile would), in two ways: with the
invitation's join link known (`video_url`: look-up, reports, records: 3 requests'
worth of `$batch` parts per session) and with only the event id (one more, to read
the link from the event). HTTP requests are counted at the fake (a `$batch` is one
request, token requests apart). Figures only: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.base import Attendee, MeetingQuery, NewEvent
from tests.fakes.graph_client import SECRET_ENV, connect, ref
from tests.fakes.graph_server import CLIENT_SECRET, FakeGraph

ROLES = {"OnlineMeetings.Read.All", "OnlineMeetingArtifact.Read.All"}


def run(managers: int, sellers: int) -> None:
    os.environ[SECRET_ENV] = CLIENT_SECRET
    teams = {
        f"m{m}@example.com": [f"s{m}-{s}@example.com" for s in range(sellers)]
        for m in range(managers)
    }
    boxes = [b for manager, team in teams.items() for b in (manager, *team)]
    fake = FakeGraph(boxes).start()
    fake.app_roles |= ROLES
    last = datetime(2031, 3, 31, tzinfo=UTC)
    fake.state.meetings.now = lambda: last
    try:
        with tempfile.TemporaryDirectory() as tmp:
            conn = connect(fake, Path(tmp), clock=lambda: last)
            queries = []
            for manager, team in teams.items():
                events = []
                for n, seller in enumerate(team):
                    start = datetime(2031, 3, 3 + n // 4, 8 + 2 * (n % 4), tzinfo=UTC)
                    events.append(
                        NewEvent(
                            key=f"cp{manager[:-12]}x{n}",
                            organizer=ref(manager),
                            attendees=(Attendee(seller),),
                            start=start,
                            end=start + timedelta(minutes=45),
                            summary="Coaching",
                            description_text="Agenda",
                            may_exist=False,
                        )
                    )
                for event, result in zip(events, conn.create(events), strict=True):
                    assert result.ok and result.video_url, result.error
                    people = (Attendee(manager), event.attendees[0])
                    fake.add_attendance(
                        result.video_url,
                        event.start,
                        event.end,
                        [(p.email, [(event.start, event.end)]) for p in people],
                    )
                    queries.append(
                        MeetingQuery(
                            event.key,
                            ref(manager),
                            people,
                            event.start,
                            event.end,
                            event_id=result.event_id,
                            video_url=result.video_url,
                        )
                    )
            n = len(queries)
            print(f"Teams attendance on the fake Graph: {managers} managers x {sellers} sellers")
            print(
                f"{'link known':<12} {'sessions':>8} {'requests':>8} {'per session':>11} "
                f"{'parts/session':>13} {'wall s':>7}"
            )
            for label, asked in (
                ("video_url", queries),
                (
                    "event id",
                    [
                        MeetingQuery(
                            q.key, q.organizer, q.people, q.start, q.end, event_id=q.event_id
                        )
                        for q in queries
                    ],
                ),
            ):
                before, parts = fake.counts["graph"], fake.counts["batch_parts"]
                began = time.perf_counter()
                answer = conn.attendance(asked)
                wall = time.perf_counter() - began
                requests = fake.counts["graph"] - before
                made = fake.counts["batch_parts"] - parts
                met = sum(len(a.presence) == 2 for a in answer.results.values())
                assert met == n and not answer.errors, (met, answer.errors)
                print(
                    f"{label:<12} {n:>8} {requests:>8} {requests / n:>11.2f} "
                    f"{made / n:>13.2f} {wall:>7.2f}"
                )
            conn.close()
    finally:
        fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--managers", type=int, default=100)
    parser.add_argument("--sellers", type=int, default=15)
    args = parser.parse_args()
    run(args.managers, args.sellers)


if __name__ == "__main__":
    main()
