"""Plans kept for reuse (table `plans`, migration 0005).

`plan` (the dry run) and `book` store each team's proven-optimal plan under its
planning key (`scheduler.planning.key`); a later run whose problem has the same key
takes the stored plan instead of solving again, so `book` after `plan` does not
plan twice. Only the newest plan per (organisation, month, team) is kept: a
changed input gives a new key, which replaces the row, and a row whose key does
not match is simply not used. The table is a cache: losing it costs a re-plan,
never a session, so its writes are not fenced (a plan under its key is right
whoever stored it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Column, Engine, String, Table, Text, and_, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from scheduler.model import Month
from scheduler.planning.problem import Proposal, TeamPlan, Unbookable
from scheduler.store.schema import UtcDateTime, metadata

plans = Table(
    "plans",
    metadata,
    Column("org_id", String(100), primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("team_id", String(100), primary_key=True),
    Column("key", String(64), nullable=False),  # the planning key of the problem
    Column("plan", Text, nullable=False),  # JSON, see `plan_json`
    Column("created_at", UtcDateTime(), nullable=False),
)


def plan_json(plan: TeamPlan) -> str:
    return json.dumps(
        {
            "proposals": [
                [p.seller_id, p.start.isoformat(), p.end.isoformat()] for p in plan.proposals
            ],
            "unbookable": [[u.seller_id, u.reason] for u in plan.unbookable],
            "optimal": plan.optimal,
            "upper_bound": plan.upper_bound,
            "solver": plan.solver,
        },
        ensure_ascii=False,
    )


def plan_from_json(team_id: str, text: str, zone: ZoneInfo) -> TeamPlan:
    """The stored plan, its times in `zone` (the manager's, as the planner gives them)."""
    data: dict[str, Any] = json.loads(text)

    def at(iso: str) -> datetime:
        return datetime.fromisoformat(iso).astimezone(zone)

    return TeamPlan(
        team_id=team_id,
        proposals=tuple(Proposal(s, at(b), at(e)) for s, b, e in data["proposals"]),
        unbookable=tuple(Unbookable(s, r) for s, r in data["unbookable"]),
        optimal=bool(data["optimal"]),
        upper_bound=data["upper_bound"],
        solver=str(data["solver"]),
    )


class PlanStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def matching(
        self, org_id: str, month: Month, keys: Mapping[str, str], zones: Mapping[str, ZoneInfo]
    ) -> dict[str, TeamPlan]:
        """team id -> the stored plan, for the teams of `keys` whose stored plan
        was made under the same key (times in the team's `zones`)."""
        if not keys:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(plans.c.team_id, plans.c.key, plans.c.plan).where(
                    and_(plans.c.org_id == org_id, plans.c.month == str(month))
                )
            ).all()
        return {
            row.team_id: plan_from_json(row.team_id, row.plan, zones[row.team_id])
            for row in rows
            if keys.get(row.team_id) == row.key
        }

    def put(
        self,
        org_id: str,
        month: Month,
        entries: Sequence[tuple[str, str, TeamPlan]],
        *,
        now: datetime,
    ) -> None:
        """Store (team id, key, plan) for each entry, replacing the team's older plan
        of the month, in one transaction; plans of months before the previous one
        go (nothing plans them any more)."""
        if not entries:
            return
        rows = [
            {
                "org_id": org_id,
                "month": str(month),
                "team_id": team_id,
                "key": key,
                "plan": plan_json(plan),
                "created_at": now,
            }
            for team_id, key, plan in entries
        ]
        with self.engine.begin() as conn:
            # An upsert: two runs storing the same team at once must not fail
            # on the primary key (the last one wins, and either plan is right).
            stmt = (
                postgresql.insert(plans)
                if conn.dialect.name == "postgresql"
                else sqlite.insert(plans)
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=[plans.c.org_id, plans.c.month, plans.c.team_id],
                set_={
                    "key": stmt.excluded.key,
                    "plan": stmt.excluded.plan,
                    "created_at": stmt.excluded.created_at,
                },
            )
            conn.execute(stmt, rows)
            conn.execute(
                delete(plans).where(
                    and_(plans.c.org_id == org_id, plans.c.month < str(month.previous()))
                )
            )
