"""The monthly report at growing organisation sizes, in memory (no store, no calendars):
the KPIs, the text and HTML parts, both CSV files and the whole message, with the size
of each part. Prints figures; never asserts a time (this machine is shared and noisy).

    .venv/bin/python benchmarks/report.py                     # 10, 100, 770 managers
    .venv/bin/python benchmarks/report.py --managers 50 500
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scheduler.model import (
    Month,
    Organisation,
    Person,
    Policy,
    SessionRecord,
    SessionState,
    Team,
    session_key,
)
from scheduler.report.kpi import compute_month
from scheduler.report.render import build_report
from scheduler.report.trend import last_months, trend

TEMPLATES = Path(__file__).resolve().parent.parent / "config" / "templates"
MONTH = Month(2031, 3)
S = SessionState
OUTCOMES = [S.HELD] * 16 + [S.NO_SHOW, S.DECLINED, S.CANCELLED, S.UNBOOKABLE]


def organisation(managers: int, rng: random.Random) -> tuple[Organisation, list[SessionRecord]]:
    teams, sessions = [], []

    def person(pid: str) -> Person:
        return Person(
            pid, pid.title(), f"{pid}@acme.example", "Europe/Stockholm", "SE", "local", pid
        )

    for t in range(managers):
        manager = person(f"m{t}")
        sellers = tuple(person(f"s{t}x{n}") for n in range(rng.randint(10, 16)))
        team = Team(f"t{t}", f"Team {t}", manager, sellers)
        teams.append(team)
        for month in last_months(MONTH):
            for n, seller in enumerate(sellers):
                start = datetime(month.year, month.month, 2 + n, 9, tzinfo=UTC)
                state = rng.choice(OUTCOMES)
                sessions.append(
                    SessionRecord(
                        session_key("acme", manager.id, seller.id, month, 1),
                        "acme",
                        team.id,
                        manager.id,
                        seller.id,
                        month,
                        1,
                        state,
                        start,
                        start + timedelta(minutes=45),
                        reason="no common free time" if state is S.UNBOOKABLE else "",
                    )
                )
    org = Organisation("acme", "Acme", "Europe/Stockholm", "SE", "en", Policy(), tuple(teams))
    return org, sessions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--managers", type=int, nargs="+", default=[10, 100, 770])
    args = parser.parse_args()
    heads = (
        "managers",
        "sellers",
        "kpi s",
        "message s",
        "text KB",
        "html KB",
        "csv KB",
        "total KB",
    )
    print(" ".join(f"{h:>9}" for h in heads))
    for managers in args.managers:
        org, sessions = organisation(managers, random.Random(managers))
        now = [r for r in sessions if r.month == MONTH]
        t0 = time.perf_counter()
        kpi = compute_month(org, MONTH, now)
        points = trend(org, last_months(MONTH), sessions)
        previous = compute_month(org, MONTH.previous(), sessions)
        t1 = time.perf_counter()
        message = build_report(
            org,
            MONTH,
            kpi,
            points,
            sender="c@acme.example",
            recipients=["ceo@acme.example"],
            templates_dir=TEMPLATES,
            generated_at=datetime(2031, 4, 1, 7, tzinfo=UTC),
            previous=previous,
            sessions=now,
        )
        t2 = time.perf_counter()
        text = message.get_body(("plain",))
        html = message.get_body(("html",))
        assert text is not None and html is not None
        csv_kb = sum(len(p.get_content()) for p in message.iter_attachments()) / 1024
        figures = (
            f"{managers}",
            f"{kpi.active_sellers}",
            f"{t1 - t0:.2f}",
            f"{t2 - t1:.2f}",
            f"{len(text.get_content()) / 1024:.0f}",
            f"{len(html.get_content()) / 1024:.0f}",
            f"{csv_kb:.0f}",
            f"{len(bytes(message)) / 1024:.0f}",
        )
        print(" ".join(f"{f:>9}" for f in figures))


if __name__ == "__main__":
    main()
