"""What booking says when part of it fails: lines that name the team or person and
the fix, so an admin (or a cron log) can act on each one (see `BookingSummary`)."""

from __future__ import annotations

from dataclasses import dataclass

from connectors.base import AuthError, ConnectorError, TransientError
from scheduler.model import SessionRecord, Team
from scheduler.runtime import Runtime


@dataclass(frozen=True)
class TeamFailure:
    """A team (or one person's calendar in it) this run could not read."""

    team_id: str
    person_id: str  # the manager when the whole team failed
    text: str  # names the team, the person and the fix


def team_failure(team: Team, exc: ConnectorError) -> TeamFailure:
    if isinstance(exc, AuthError):
        fix = (
            "fix that account's access (left the company, suspended, not delegated, or a "
            "typo in the e-mail in the config), then run book again"
        )
    elif isinstance(exc, TransientError):
        fix = "the calendar service kept failing; the next run tries again"
    else:
        fix = "fix what the message names, then run book again"
    text = (
        f"team {team.id} (manager {team.manager.name} <{team.manager.email}>): calendars "
        f"not read, nothing planned for this team: {exc}; {fix}"
    )
    return TeamFailure(team.id, team.manager.id, text)


def who(rt: Runtime, rec: SessionRecord) -> str:
    """The people of a session as an admin knows them, for failure lines."""
    seller = rt.person(rec.seller_id)
    manager = rt.person(rec.manager_id)
    return (
        f"seller {seller.name if seller else rec.seller_id} ({rec.seller_id}) with manager "
        f"{manager.name if manager else rec.manager_id} ({rec.manager_id}), {rec.month}"
    )
