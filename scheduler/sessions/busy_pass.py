"""One free/busy pass for every team of a run, instead of one read per team.

Read per team, a provider is asked once per manager (Google answers 50 calendars per
`freeBusy`, Graph 20 schedules per `getSchedule` and 20 of those per `$batch`), so a
team of 15 used a fraction of each request. Here the calendars of all teams that
use one connector are read together, in groups sized to the provider's request, on
the bounded pool (`pool.py`). Each group is asked through a manager in it (Google
impersonates the first calendar's owner with delegation; Graph asks through the
first calendar's mailbox): an organiser, whose identity the run uses anyway.

Isolation stays per team: a group whose whole call failed (the asker cannot be
impersonated, the provider kept throttling) is read again team by team, and so is
a team with a calendar the pass could not read, so each team ends up with exactly
what reading it alone (asked by its own manager) gives.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from connectors.base import Busy, CalendarRef, ConnectorError
from scheduler.model import Team
from scheduler.runtime import Runtime
from scheduler.sessions.pool import in_order, workers_for

#: Calendars per call of `busy` for one worker: one request's worth. Connectors not
#: listed get everything in one call (local files, CalDAV's own concurrency).
GROUP_SIZE = {"google": 50, "outlook": 400}


@dataclass(frozen=True)
class TeamBusy:
    """What one team's planning needs: busy time and per-person errors, by person id."""

    busy: dict[str, tuple[Busy, ...]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Group:
    connector: str
    calendars: tuple[CalendarRef, ...]
    teams: frozenset[str]  # teams with a calendar here: read again alone if it fails


def _people(team: Team, seller_ids: Sequence[str]) -> list[tuple[str, CalendarRef]]:
    wanted = set(seller_ids)
    people = [team.manager] + [s for s in team.sellers if s.id in wanted]
    return [(p.connector, p.calendar()) for p in people]


def _groups(rt: Runtime, wanted: Sequence[tuple[Team, Sequence[str]]]) -> list[_Group]:
    by_connector: dict[str, list[tuple[CalendarRef, str, bool]]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    owners: dict[tuple[str, str], set[str]] = defaultdict(set)
    for team, seller_ids in wanted:
        for n, (name, ref) in enumerate(_people(team, seller_ids)):
            owners[(name, ref.person_id)].add(team.id)
            if (name, ref.person_id) in seen:
                continue
            seen.add((name, ref.person_id))
            by_connector[name].append((ref, team.id, n == 0))
    groups = []
    for name, refs in by_connector.items():
        size = GROUP_SIZE.get(name, len(refs))
        for i in range(0, len(refs), size):
            chunk = refs[i : i + size]
            # A manager first: the one who asks for the whole group.
            chunk.sort(key=lambda r: not r[2])
            teams = frozenset(t for ref, _, _ in chunk for t in owners[(name, ref.person_id)])
            groups.append(_Group(name, tuple(ref for ref, _, _ in chunk), teams))
    return groups


def read_busy_all(
    rt: Runtime,
    wanted: Sequence[tuple[Team, Sequence[str]]],
    start: datetime,
    end: datetime,
) -> dict[str, TeamBusy | ConnectorError]:
    """Per team id: its people's busy time and errors, or the error that kept the
    team's calendars from being read at all."""
    busy: dict[str, tuple[Busy, ...]] = {}
    errors: dict[str, str] = {}
    again: set[str] = set()
    groups = _groups(rt, wanted)
    workers = max(
        (workers_for(g.connector, rt.settings.connectors.get(g.connector)) for g in groups),
        default=1,
    )

    def read(group: _Group) -> tuple[dict[str, tuple[Busy, ...]], dict[str, str]]:
        answer = rt.connector(group.connector).busy(list(group.calendars), start, end)
        return {k: tuple(v) for k, v in answer.intervals.items()}, dict(answer.errors)

    for group, handle in in_order(read, groups, workers):
        try:
            found, failed = handle.result()
        except ConnectorError:
            again |= group.teams
            continue
        busy.update(found)
        errors.update(failed)
    # A team with a calendar that could not be read is read again on its own, asked
    # by its own manager, as before the pass: the answer can depend on who asks (a
    # manager who cannot be impersonated fails the team, with the fix, instead of
    # being reported as an unreadable calendar by another team's manager).
    for team, ids in wanted:
        if any(ref.person_id in errors for _, ref in _people(team, ids)):
            again.add(team.id)
    out: dict[str, TeamBusy | ConnectorError] = {}
    alone = [(team, ids) for team, ids in wanted if team.id in again]

    def read_team(item: tuple[Team, Sequence[str]]) -> TeamBusy:
        team, ids = item
        mine: dict[str, tuple[Busy, ...]] = {}
        mine_errors: dict[str, str] = {}
        by_connector: dict[str, list[CalendarRef]] = defaultdict(list)
        for name, ref in _people(team, ids):
            by_connector[name].append(ref)
        for name, refs in by_connector.items():
            answer = rt.connector(name).busy(refs, start, end)
            mine.update({k: tuple(v) for k, v in answer.intervals.items()})
            mine_errors.update(answer.errors)
        return TeamBusy(mine, mine_errors)

    for (team, _ids), alone_handle in in_order(read_team, alone, workers):
        try:
            out[team.id] = alone_handle.result()
        except ConnectorError as exc:
            out[team.id] = exc
    for team, ids in wanted:
        if team.id in out:
            continue
        ids_here = {p.person_id for _, p in _people(team, ids)}
        out[team.id] = TeamBusy(
            {k: v for k, v in busy.items() if k in ids_here},
            {k: v for k, v in errors.items() if k in ids_here},
        )
    return out
