"""What `coachpass connectors check` reports: findings, and the probe event.

A check *proves* access rather than inferring it: besides reading free/busy it
creates and deletes one probe event in each organiser's calendar, because an app
that may read but not write passes every read and then fails every booking.

The probe is private, has no attendees (nobody is notified), is marked free (it
blocks nobody's time), lies in a scratch window two years ahead at 03:00 UTC (no
session is ever booked there) and is deleted at once. Its tag is not the session
tag, so the reconcile never mistakes it for a session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum

#: Private tag of the probe event (never `SESSION_TAG`).
PROBE_TAG = "X-COACHPASS-PROBE"
PROBE_SUMMARY = "Coachpass access check (deleted at once)"
PROBE_MINUTES = 15


class Level(StrEnum):
    OK = "ok"
    WARNING = "warning"  # works, but something Coachpass could use is missing
    PROBLEM = "problem"  # something Coachpass needs does not work


@dataclass(frozen=True)
class Finding:
    level: Level
    message: str  # names the person or setting and the fix; never a secret
    config: bool = False  # the settings themselves are wrong (exit 2, nothing checked)

    def __str__(self) -> str:
        return f"{self.level.value}: {self.message}"


def ok(message: str) -> Finding:
    return Finding(Level.OK, message)


def warning(message: str) -> Finding:
    return Finding(Level.WARNING, message)


def problem(message: str, *, config: bool = False) -> Finding:
    return Finding(Level.PROBLEM, message, config)


def probe_window(now: datetime) -> tuple[datetime, datetime]:
    """Two years ahead, 03:00-03:15 UTC: outside anybody's working hours."""
    day = (now.astimezone(UTC) + timedelta(days=730)).date()
    start = datetime.combine(day, time(3, 0), UTC)
    return start, start + timedelta(minutes=PROBE_MINUTES)


def exit_code(findings: list[Finding]) -> int:
    """0 all fine (warnings allowed), 2 the settings are wrong, 3 something failed."""
    problems = [f for f in findings if f.level is Level.PROBLEM]
    if any(f.config for f in problems):
        return 2
    return 3 if problems else 0
