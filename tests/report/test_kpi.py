"""KPIs of a small month computed by hand (arithmetic in the comments), plus invariants
that must hold for any mix of session states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.model import (
    Month,
    Organisation,
    Person,
    Policy,
    SessionRecord,
    SessionState,
    StateChange,
    Team,
    session_key,
)
from scheduler.report.kpi import (
    OrgKpi,
    Rating,
    TrendPoint,
    compute_month,
    coverage_rating,
    held_rate_rating,
    last_months,
    minutes_rating,
    trend,
)

FEB = Month(2026, 2)  # 28 days: 28 / 7 = exactly 4 weeks
JAN = Month(2026, 1)
S = SessionState


def person(pid: str, name: str) -> Person:
    return Person(pid, name, f"{pid}@acme.example", "Europe/Stockholm", "SE", "local", pid)


ANNA = person("m1", "Anna Berg")
PER = person("m2", "Per Lund")
NORD = Team("nord", "Nord", ANNA, tuple(person(p, p.upper()) for p in "abcd"))
SYD = Team("syd", "Syd", PER, (person("e", "E"), person("f", "F")))
VAST = Team("vast", "Väst", ANNA, (person("g", "G"),))  # Anna leads two teams
ORG = Organisation(
    "acme",
    "Acme",
    "Europe/Stockholm",
    "SE",
    "en",
    Policy(target_minutes_per_manager_week=120),
    (NORD, SYD, VAST),
)


def rec(
    team: Team,
    seller: str,
    attempt: int,
    state: SessionState,
    minutes: int | None = 45,
    *,
    month: Month = FEB,
    org_id: str = "acme",
    **kw: object,
) -> SessionRecord:
    start = datetime(month.year, month.month, 10, 9, tzinfo=UTC)
    end = None if minutes is None else start + timedelta(minutes=minutes)
    key = session_key(org_id, team.manager.id, seller, month, attempt)
    return SessionRecord(
        key,
        org_id,
        team.id,
        team.manager.id,
        seller,
        month,
        attempt,
        state,
        start if minutes is not None else None,
        end,
        **kw,  # type: ignore[arg-type]
    )


def change(record: SessionRecord, *states: SessionState) -> list[StateChange]:
    at = datetime(2026, 2, 1, tzinfo=UTC)
    out, previous = [], None
    for n, state in enumerate(states):
        out.append(StateChange(record.key, at + timedelta(hours=n), previous, state))
        previous = state
    return out


A1 = rec(NORD, "a", 1, S.HELD, 45)
B1 = rec(NORD, "b", 1, S.DECLINED)
B2 = rec(NORD, "b", 2, S.HELD, 60, moved=True)
C1 = rec(NORD, "c", 1, S.UNBOOKABLE, None, reason="no common free time in working hours")
D1 = rec(NORD, "d", 1, S.CANCELLED)
D2 = rec(NORD, "d", 2, S.BOOKED)  # rebooked, still ahead
E1 = rec(SYD, "e", 1, S.NO_SHOW)  # moved once: only the history says so
F1 = rec(SYD, "f", 1, S.PLANNED)  # intent written, never confirmed in a calendar
G1 = rec(VAST, "g", 1, S.HELD, None)  # no times stored: the policy's 45 minutes count
NOISE = [
    rec(NORD, "a", 1, S.HELD, month=JAN),  # another month
    rec(NORD, "a", 1, S.HELD, org_id="other"),  # another organisation
    rec(NORD, "zed", 1, S.HELD),  # a seller no longer in the config
]
SESSIONS = [A1, B1, B2, C1, D1, D2, E1, F1, G1, *NOISE]
HISTORY = [
    *change(A1, S.PLANNED, S.BOOKED, S.HELD),
    *change(B1, S.PLANNED, S.BOOKED, S.DECLINED),
    *change(B2, S.PLANNED, S.BOOKED, S.RESCHEDULED, S.HELD),
    *change(E1, S.PLANNED, S.BOOKED, S.RESCHEDULED, S.NO_SHOW),
    *change(F1, S.PLANNED),
]


@pytest.fixture(scope="module")
def kpi() -> OrgKpi:
    return compute_month(ORG, FEB, SESSIONS, HISTORY)


def test_team_nord_by_hand(kpi: OrgKpi) -> None:
    nord = kpi.teams[0]
    assert nord.team_id == "nord" and nord.manager_name == "Anna Berg"
    assert nord.active_sellers == 4  # a b c d
    assert nord.booked == 3  # a, b (twice, counted once), d (twice, counted once); not c
    assert nord.held == 2  # a, b
    assert nord.held_sessions == 2
    assert (nord.cancelled, nord.declined, nord.no_show) == (1, 1, 0)  # D1, B1
    assert nord.moved == 1  # B2
    assert [(u.name, u.reason) for u in nord.unbookable_sellers] == [
        ("C", "no common free time in working hours")
    ]
    assert nord.unbookable == 1
    assert nord.held_minutes == 105  # 45 + 60
    assert nord.coverage == pytest.approx(0.5)  # 2 / 4
    assert nord.held_rate == pytest.approx(0.5)  # 2 / (2 held + 0 no-show + 1 + 1)
    assert nord.minutes_per_manager_week == pytest.approx(26.25)  # 105 / 4 weeks / 1
    assert nord.coverage_rating is Rating.RED  # 50 % < 70 %
    assert nord.minutes_rating is Rating.RED  # 26.25 < 90 (75 % of 120)


def test_team_syd_by_hand(kpi: OrgKpi) -> None:
    syd = kpi.teams[1]
    assert syd.active_sellers == 2
    assert syd.booked == 1  # e (a no-show was booked); f only planned
    assert (syd.held, syd.no_show, syd.moved) == (0, 1, 1)  # E1 moved per its history
    assert syd.unbookable == 0  # f is planned: not unbookable
    assert syd.coverage == 0.0  # 0 / 2, a real zero
    assert syd.held_rate == 0.0  # 0 / (0 + 1)
    assert syd.minutes_per_manager_week == 0.0


def test_manager_leading_two_teams_is_one_manager(kpi: OrgKpi) -> None:
    anna, per = kpi.managers
    assert anna.manager_id == "m1" and anna.team_ids == ("nord", "vast")
    assert anna.active_sellers == 5  # 4 in Nord + g
    assert anna.held == 3  # a, b, g
    assert anna.held_minutes == 150  # 105 + 45 (policy length for G1)
    assert anna.minutes_per_manager_week == pytest.approx(37.5)  # 150 / 4
    assert anna.coverage == pytest.approx(0.6)  # 3 / 5
    assert per.team_ids == ("syd",) and per.held == 0


def test_organisation_by_hand(kpi: OrgKpi) -> None:
    assert (kpi.org_id, kpi.month) == ("acme", FEB)
    assert kpi.active_sellers == 7  # 4 + 2 + 1
    assert kpi.booked == 5  # a b d e g
    assert kpi.held == 3
    assert (kpi.cancelled, kpi.declined, kpi.moved, kpi.no_show) == (1, 1, 2, 1)
    assert kpi.unbookable == 1
    assert kpi.manager_count == 2  # Anna counts once
    assert kpi.coverage == pytest.approx(3 / 7)
    assert kpi.held_rate == pytest.approx(0.5)  # 3 / (3 + 1 no-show + 1 cancel + 1 decline)
    assert kpi.minutes_per_manager_week == pytest.approx(18.75)  # 150 / 4 weeks / 2
    assert kpi.held_rate_rating is Rating.RED


def test_without_history_booked_follows_the_states() -> None:
    # Only the `booked` count may use history, and here no state needed it.
    assert compute_month(ORG, FEB, SESSIONS).booked == 5


def test_history_alone_can_show_a_session_was_booked() -> None:
    # A booked session that the provider later refused and the planner marked unbookable.
    h1 = rec(SYD, "f", 1, S.UNBOOKABLE, None, reason="calendar of F could not be read")
    with_history = compute_month(ORG, FEB, [h1], change(h1, S.PLANNED, S.BOOKED, S.UNBOOKABLE))
    assert with_history.booked == 1
    assert compute_month(ORG, FEB, [h1]).booked == 0


def test_unbookable_only_when_nothing_else_stands() -> None:
    later = rec(NORD, "c", 2, S.BOOKED)  # unbookable first, then a slot was found
    kpi = compute_month(ORG, FEB, [C1, later])
    assert kpi.unbookable == 0 and kpi.booked == 1


def test_empty_month_has_no_ratios_to_divide_by_zero() -> None:
    kpi = compute_month(ORG, FEB, [])
    assert kpi.active_sellers == 7 and kpi.held == 0
    assert kpi.coverage == 0.0  # there are sellers: nobody coached is a real 0 %
    assert kpi.held_rate is None and kpi.held_rate_rating is Rating.NONE
    empty = Organisation("x", "X", "UTC", "SE", "en", Policy(), ())
    nothing = compute_month(empty, FEB, [])
    assert nothing.coverage is None and nothing.minutes_per_manager_week is None


def test_ratings_at_the_thresholds() -> None:
    assert [coverage_rating(v) for v in (0.9, 0.8999, 0.7, 0.6999, None)] == [
        Rating.GREEN,
        Rating.AMBER,
        Rating.AMBER,
        Rating.RED,
        Rating.NONE,
    ]
    assert [held_rate_rating(v) for v in (1.0, 0.85, 0.84, 0.69)] == [
        Rating.GREEN,
        Rating.GREEN,
        Rating.AMBER,
        Rating.RED,
    ]
    # Target 120: amber from 90 (75 %).
    assert [minutes_rating(v, 120) for v in (130.0, 120.0, 90.0, 89.9)] == [
        Rating.GREEN,
        Rating.GREEN,
        Rating.AMBER,
        Rating.RED,
    ]


def test_weeks_follow_the_month_length() -> None:
    march = Month(2026, 3)
    held = rec(SYD, "e", 1, S.HELD, 62, month=march)
    # 62 min / (31 / 7 weeks) / 2 managers = 62 * 7 / 31 / 2 = 7.0
    assert compute_month(ORG, march, [held]).minutes_per_manager_week == pytest.approx(7.0)


def test_trend_months_and_no_data() -> None:
    months = last_months(FEB)
    assert months == [Month(2025, 9), Month(2025, 10), Month(2025, 11), Month(2025, 12), JAN, FEB]
    points = trend(ORG, months, SESSIONS)
    assert [p.month for p in points] == months
    # Before any session existed: no data rather than red zeros.
    assert points[0] == TrendPoint(Month(2025, 9), None, None, None)
    # January: only a's held session -> 1 of 7 sellers, 1 / 1 held,
    # 45 min / (31 / 7) weeks / 2 managers = 45 * 7 / 62 = 5.08...
    assert points[4].coverage == pytest.approx(1 / 7)
    assert points[4].held_rate == pytest.approx(1.0)
    assert points[4].minutes_per_manager_week == pytest.approx(45 * 7 / 62)
    # February agrees with compute_month (history does not change the ratios).
    feb = compute_month(ORG, FEB, SESSIONS, HISTORY)
    assert (points[5].coverage, points[5].held_rate, points[5].minutes_per_manager_week) == (
        feb.coverage,
        feb.held_rate,
        feb.minutes_per_manager_week,
    )


STATES = st.sampled_from(list(SessionState))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcdefg"), STATES, st.booleans()), max_size=25))
def test_invariants_for_any_mix_of_states(
    draws: list[tuple[str, SessionState, bool]],
) -> None:
    teams = {s.id: t for t in ORG.teams for s in t.sellers}
    attempts: dict[str, int] = {}
    records = []
    for seller, state, moved in draws:
        attempts[seller] = attempts.get(seller, 0) + 1
        records.append(rec(teams[seller], seller, attempts[seller], state, moved=moved))
    kpi = compute_month(ORG, FEB, records)
    # Per-seller counts can never exceed the sellers, and held implies booked.
    assert kpi.held <= kpi.booked <= kpi.active_sellers
    assert kpi.held + kpi.unbookable <= kpi.active_sellers
    assert kpi.held <= kpi.held_sessions
    assert kpi.coverage is not None and 0.0 <= kpi.coverage <= 1.0
    assert kpi.held_rate is None or 0.0 <= kpi.held_rate <= 1.0
    # Levels add up: teams and managers partition the organisation.
    for name in (
        "active_sellers",
        "booked",
        "held",
        "cancelled",
        "declined",
        "moved",
        "no_show",
        "unbookable",
        "held_minutes",
    ):
        total = getattr(kpi, name)
        assert sum(getattr(t, name) for t in kpi.teams) == total, name
        assert sum(getattr(m, name) for m in kpi.managers) == total, name
    # Event counts are per attempt.
    assert kpi.declined == sum(r.state is S.DECLINED for r in records)
