"""Invitation e-mails give the time in the organiser's zone (their CalendarRef's
`timezone`), in the subject as in the body: a manager in Stockholm reads 10:00 CET,
not 09:00 UTC. The calendar part keeps UTC, which every client converts."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from connectors.base import ChangeAction, EventChange
from connectors.ics.connector import LocalConnector
from tests.connectors.ics.test_connector import MANAGER, START, mails, session
from tests.connectors.ics.test_connector import local as local
from tests.connectors.ics.test_connector import root as root

STOCKHOLM = replace(MANAGER, timezone="Europe/Stockholm")


def _subjects(outbox: Path, prefix: str) -> set[str]:
    return {str(m["Subject"]) for m in mails(outbox) if str(m["Subject"]).startswith(prefix)}


def test_subjects_and_bodies_use_the_organisers_zone(local: LocalConnector, root: Path) -> None:
    outbox = root.parent / "outbox"
    event = session(organizer=STOCKHOLM)  # 2031-03-11 09:00 UTC = 10:00 CET
    local.create([event])
    assert _subjects(outbox, "Invitation") == {
        "Invitation: Coaching: Maja / Sam @ 2031-03-11 10:00 CET"
    }
    body = mails(outbox)[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "2031-03-11 10:00 CET" in body and "UTC" not in body
    # After the change to summer time the offset follows the date, not today's.
    later = START + timedelta(days=30)  # 2031-04-10 09:00 UTC = 11:00 CEST
    move = EventChange(
        event.key, STOCKHOLM, ChangeAction.MOVE, start=later, end=later + timedelta(minutes=45)
    )
    local.update([move])
    assert _subjects(outbox, "Updated") == {
        "Updated invitation: Coaching: Maja / Sam @ 2031-04-10 11:00 CEST"
    }
    local.update([EventChange(event.key, STOCKHOLM, ChangeAction.CANCEL)])
    cancels = [m for m in mails(outbox) if str(m["Subject"]).startswith("Cancelled")]
    assert cancels and all(
        "(2031-04-10 11:00 CEST)" in m.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        for m in cancels
    )


def test_an_organiser_in_utc_still_reads_utc(local: LocalConnector, root: Path) -> None:
    local.create([session()])
    assert _subjects(root.parent / "outbox", "Invitation") == {
        "Invitation: Coaching: Maja / Sam @ 2031-03-11 09:00 UTC"
    }
