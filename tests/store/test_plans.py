"""The plan cache (table `plans`): exact round trip, one plan per (org, month, team),
never a plan of another organisation, month, team or key; and the migrations give
the tables the code describes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import scheduler.store.notices  # noqa: F401  (its tables join the metadata)
from scheduler.model import Month
from scheduler.planning.problem import Proposal, TeamPlan, Unbookable
from scheduler.store.plans import PlanStore, plan_from_json, plan_json
from scheduler.store.schema import metadata
from scheduler.store.store import Store

NOW = datetime(2031, 2, 20, 8, 0, tzinfo=UTC)
MARCH = Month(2031, 3)
NY = ZoneInfo("America/New_York")
STHLM = ZoneInfo("Europe/Stockholm")


def a_plan(team: str = "t1", zone: ZoneInfo = STHLM, hour: int = 9) -> TeamPlan:
    start = datetime(2031, 3, 4, hour, 15, tzinfo=zone)
    return TeamPlan(
        team_id=team,
        proposals=(Proposal("s1", start, start + timedelta(minutes=45)),),
        unbookable=(Unbookable("s2", "no common free time: Åsa’s calendar is full"),),
        optimal=True,
        upper_bound=1,
        solver="cp-sat",
    )


def test_json_round_trip_is_exact_zones_included() -> None:
    for zone in (STHLM, NY):
        plan = a_plan(zone=zone)
        back = plan_from_json("t1", plan_json(plan), zone)
        assert back == plan
        assert [p.start.tzinfo for p in back.proposals] == [zone]
        assert back.proposals[0].start.isoformat() == plan.proposals[0].start.isoformat()


def test_only_the_same_org_month_team_and_key_match(store_url: str) -> None:
    store = Store.open(store_url)
    try:
        plans = PlanStore(store.engine)
        plans.put("acme", MARCH, [("t1", "k1", a_plan()), ("t2", "k2", a_plan("t2"))], now=NOW)
        zones = {"t1": STHLM, "t2": STHLM, "t3": STHLM}
        assert plans.matching("acme", MARCH, {"t1": "k1", "t2": "k2"}, zones) == {
            "t1": a_plan(),
            "t2": a_plan("t2"),
        }
        assert plans.matching("acme", MARCH, {"t1": "k1", "t2": "other"}, zones) == {"t1": a_plan()}
        assert plans.matching("acme", MARCH, {"t3": "k1"}, zones) == {}
        assert plans.matching("other-org", MARCH, {"t1": "k1"}, zones) == {}
        assert plans.matching("acme", MARCH.next(), {"t1": "k1"}, zones) == {}
        assert plans.matching("acme", MARCH, {}, zones) == {}
    finally:
        store.close()


def test_the_newest_plan_replaces_the_older_one(store_url: str) -> None:
    store = Store.open(store_url)
    try:
        plans = PlanStore(store.engine)
        zones = {"t1": STHLM}
        plans.put("acme", MARCH, [("t1", "k1", a_plan())], now=NOW)
        plans.put("acme", MARCH, [("t1", "k2", a_plan(hour=14))], now=NOW + timedelta(hours=1))
        assert plans.matching("acme", MARCH, {"t1": "k1"}, zones) == {}
        assert plans.matching("acme", MARCH, {"t1": "k2"}, zones) == {"t1": a_plan(hour=14)}
        # The same plan stored twice (two runs at once) is one row, not an error.
        plans.put("acme", MARCH, [("t1", "k2", a_plan(hour=14))], now=NOW + timedelta(hours=2))
        with store.engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT org_id, month, team_id FROM plans").all()
        assert [tuple(r) for r in rows] == [("acme", "2031-03", "t1")]
    finally:
        store.close()


def test_months_nobody_plans_any_more_are_dropped(store_url: str) -> None:
    store = Store.open(store_url)
    try:
        plans = PlanStore(store.engine)
        zones = {"t1": STHLM}
        plans.put("acme", Month(2031, 1), [("t1", "k", a_plan())], now=NOW)
        plans.put("acme", Month(2031, 2), [("t1", "k", a_plan())], now=NOW)
        plans.put("other", Month(2031, 1), [("t1", "k", a_plan())], now=NOW)
        plans.put("acme", MARCH, [("t1", "k", a_plan())], now=NOW)
        assert plans.matching("acme", Month(2031, 1), {"t1": "k"}, zones) == {}
        assert plans.matching("acme", Month(2031, 2), {"t1": "k"}, zones) != {}
        assert plans.matching("other", Month(2031, 1), {"t1": "k"}, zones) != {}
    finally:
        store.close()


def test_migrations_give_the_tables_the_code_describes(store_url: str) -> None:
    store = Store.open(store_url)
    try:
        with store.engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), metadata)
        assert differences == []
        assert "plans" in metadata.tables
    finally:
        store.close()
