"""KPIs of a small month computed by hand (arithmetic in the comments), plus invariants
that must hold for any mix of session states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.model import (
    NO_REBOOK,
    SLOT_PASSED,
    Month,
    Organisation,
    Person,
    Policy,
    ReportThresholds,
    SessionRecord,
    SessionState,
    StateChange,
    Team,
    session_key,
)
from scheduler.report.kpi import (
    COUNTS,
    OrgKpi,
    Rating,
    TrendPoint,
    compute_month,
    coverage_rating,
    held_rate_rating,
    minutes_rating,
)
from scheduler.report.outcomes import Outcome, Source, outcome_source
from scheduler.report.trend import last_months, ranked_managers, trend

FEB = Month(2026, 2)  # 28 days: 28 / 7 = exactly 4 weeks
JAN = Month(2026, 1)
S = SessionState


def person(pid: str, name: str) -> Person:
    return Person(pid, name, f"{pid}@acme.example", "Europe/Stockholm", "SE", "local", pid)


ANNA = person("m1", "Anna Berg")
PER = person("m2", "Per Lund")
NORD = Team("nord", "Nord", ANNA, tuple(person(p, p.upper()) for p in "abcd"))
SYD = Team("syd", "Syd", PER, (person("e", "E"), person("f", "F"), person("h", "H")))
VAST = Team("vast", "Väst", ANNA, (person("g", "G"), person("i", "I")))  # Anna leads two
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


def change(record: SessionRecord, *states: SessionState, last: str = "") -> list[StateChange]:
    """The record's history; `last` is the detail of the final change (who said so)."""
    at = datetime(2026, 2, 1, tzinfo=UTC)
    out, previous = [], None
    for n, state in enumerate(states):
        detail = last if n == len(states) - 1 else ""
        out.append(StateChange(record.key, at + timedelta(hours=n), previous, state, detail))
        previous = state
    return out


# The hand-computed month (February: 28 days = exactly 4 weeks).
A1 = rec(NORD, "a", 1, S.HELD, 45, verified=True)  # attendance reported by Teams/Meet
B1 = rec(NORD, "b", 1, S.DECLINED)  # the seller declined ...
B2 = rec(NORD, "b", 2, S.HELD, 60, moved=True)  # ... the rebook was held (presumed)
C1 = rec(NORD, "c", 1, S.UNBOOKABLE, None, reason="no common free time in working hours")
D1 = rec(NORD, "d", 1, S.CANCELLED)  # cancelled by the manager ...
D2 = rec(NORD, "d", 2, S.BOOKED)  # ... rebooked, still ahead
E1 = rec(SYD, "e", 1, S.NO_SHOW, verified=True)  # no-show the manager recorded; moved once
F1 = rec(SYD, "f", 1, S.PLANNED)  # intent written, never confirmed in a calendar
H1 = rec(SYD, "h", 1, S.CANCELLED, reason=NO_REBOOK + "on sick leave")  # not rebooked
G1 = rec(VAST, "g", 1, S.HELD, None, verified=True)  # marked held by the manager, no times
I1 = rec(VAST, "i", 1, S.DECLINED)
I2 = rec(VAST, "i", 2, S.DECLINED)  # declined twice
NOISE = [
    rec(NORD, "a", 1, S.HELD, month=JAN),  # another month
    rec(NORD, "a", 1, S.HELD, org_id="other"),  # another organisation
    rec(NORD, "zed", 1, S.CANCELLED),  # a seller who left mid-month ...
    rec(NORD, "zed", 2, S.HELD),  # ... is in no figure
]
SESSIONS = [A1, B1, B2, C1, D1, D2, E1, F1, H1, G1, I1, I2, *NOISE]
HISTORY = [
    *change(A1, S.PLANNED, S.BOOKED, S.HELD, last="attendance reported by the provider"),
    *change(B1, S.PLANNED, S.BOOKED, S.DECLINED),
    *change(B2, S.PLANNED, S.BOOKED, S.RESCHEDULED, S.HELD, last="presumed held"),
    *change(E1, S.PLANNED, S.BOOKED, S.RESCHEDULED, S.NO_SHOW, last="marked by manager"),
    *change(F1, S.PLANNED),
    *change(G1, S.PLANNED, S.BOOKED, S.HELD, last="marked by manager"),
]


@pytest.fixture(scope="module")
def kpi() -> OrgKpi:
    return compute_month(ORG, FEB, SESSIONS, HISTORY)


def test_team_nord_by_hand(kpi: OrgKpi) -> None:
    nord = kpi.teams[0]
    assert nord.team_id == "nord" and nord.manager_name == "Anna Berg"
    assert nord.active_sellers == 4  # a b c d
    assert nord.booked == 3  # a, b (twice, counted once), d (twice, counted once); not c
    assert nord.held == 2  # a, b: b's decline was rebooked and held
    assert (nord.held_verified, nord.held_recorded, nord.held_presumed) == (1, 0, 1)
    assert (nord.unbookable, nord.ahead, nord.not_booked) == (1, 1, 0)  # c; d's rebook
    assert nord.held_sessions == 2
    # Sessions along the way: D1 cancelled by Anna, B1 declined by b, B2 and D2 rebooks.
    assert (nord.cancelled, nord.declined, nord.no_show) == (1, 1, 0)
    assert (nord.rebooked, nord.rebooked_held) == (2, 1)
    assert nord.moved == 1  # B2
    assert [(u.name, u.reason) for u in nord.unbookable_sellers] == [
        ("C", "no common free time in working hours")
    ]
    assert nord.held_minutes == 105  # 45 + 60
    assert nord.coverage == pytest.approx(0.5)  # 2 / 4
    # 2 held / (2 held + 0 no-show + 0 cancelled + 0 declined sellers): b's decline was
    # rebooked and held, so it does not count against Anna; d is still ahead.
    assert nord.held_rate == pytest.approx(1.0)
    assert nord.minutes_per_manager_week == pytest.approx(26.25)  # 105 / 4 weeks / 1
    assert nord.coverage_rating is Rating.RED  # 50 % < 70 %
    assert nord.held_rate_rating is Rating.GREEN
    assert nord.minutes_rating is Rating.RED  # 26.25 < 90 (75 % of 120)


def test_team_syd_by_hand(kpi: OrgKpi) -> None:
    syd = kpi.teams[1]
    assert syd.active_sellers == 3
    assert syd.booked == 2  # e (a no-show was booked), h (cancelled); f only planned
    assert (syd.held, syd.no_show, syd.moved) == (0, 1, 1)  # E1 moved per its history
    assert (syd.no_show_sellers, syd.cancelled_sellers, syd.ahead) == (1, 1, 1)
    assert syd.cancelled == 1  # H1, by the manager
    assert syd.unbookable == 0  # f is planned: not unbookable
    assert syd.coverage == 0.0  # 0 / 3, a real zero
    assert syd.held_rate == 0.0  # 0 / (0 + 1 no-show + 1 cancelled)
    assert syd.minutes_per_manager_week == 0.0


def test_manager_leading_two_teams_is_one_manager(kpi: OrgKpi) -> None:
    anna, per = kpi.managers
    assert anna.manager_id == "m1" and anna.team_ids == ("nord", "vast")
    assert anna.active_sellers == 6  # 4 in Nord + g, i
    assert anna.held == 3  # a, b, g
    assert (anna.held_verified, anna.held_recorded, anna.held_presumed) == (1, 1, 1)
    assert (anna.declined_sellers, anna.declined) == (1, 3)  # i (twice), B1
    assert anna.held_minutes == 150  # 105 + 45 (policy length for G1)
    assert anna.minutes_per_manager_week == pytest.approx(37.5)  # 150 / 4
    assert anna.coverage == pytest.approx(0.5)  # 3 / 6
    assert anna.held_rate == pytest.approx(0.75)  # 3 / (3 held + 1 declined seller)
    assert per.team_ids == ("syd",) and per.held == 0


def test_organisation_by_hand(kpi: OrgKpi) -> None:
    assert (kpi.org_id, kpi.month) == ("acme", FEB)
    assert kpi.active_sellers == 9  # 4 + 3 + 2; zed left mid-month and is in no figure
    # Each seller has one outcome, so the outcomes add up to the sellers:
    # 3 held + 1 no-show + 1 cancelled + 1 declined + 1 unbookable + 0 + 2 ahead = 9.
    parts = (
        kpi.held,
        kpi.no_show_sellers,
        kpi.cancelled_sellers,
        kpi.declined_sellers,
        kpi.unbookable,
        kpi.not_booked,
        kpi.ahead,
    )
    assert parts == (3, 1, 1, 1, 1, 0, 2) and sum(parts) == kpi.active_sellers
    assert kpi.held == kpi.held_verified + kpi.held_recorded + kpi.held_presumed
    assert kpi.booked == 7  # a b d e h g i
    # Sessions: D1, H1 cancelled (zed's is not counted); B1, I1, I2 declined.
    assert (kpi.cancelled, kpi.declined, kpi.moved, kpi.no_show) == (2, 3, 2, 1)
    assert (kpi.rebooked, kpi.rebooked_held) == (3, 1)  # B2 (held), D2, I2
    assert kpi.manager_count == 2  # Anna counts once
    assert kpi.coverage == pytest.approx(3 / 9)
    assert kpi.held_rate == pytest.approx(0.5)  # 3 / (3 + 1 no-show + 1 cancel + 1 decline)
    assert kpi.minutes_per_manager_week == pytest.approx(18.75)  # 150 / 4 weeks / 2
    assert kpi.held_rate_rating is Rating.RED


def test_not_coached_names_each_seller_and_why(kpi: OrgKpi) -> None:
    why = [(s.name, s.outcome, s.declines, s.detail) for s in kpi.not_coached_sellers]
    assert why == [
        ("C", Outcome.UNBOOKABLE, 0, "no common free time in working hours"),
        ("E", Outcome.NO_SHOW, 0, ""),
        ("H", Outcome.MANAGER_CANCELLED, 0, "on sick leave"),
        ("I", Outcome.SELLER_DECLINED, 2, ""),
    ]
    no_show = kpi.not_coached_sellers[1]
    assert no_show.source is Source.MANAGER  # marked by the manager, not the provider


def test_how_a_held_session_was_known() -> None:
    assert outcome_source(A1, change(A1, S.HELD, last="attendance reported by the provider")) is (
        Source.PROVIDER
    )
    assert outcome_source(G1, change(G1, S.HELD, last="marked by manager")) is Source.MANAGER
    assert outcome_source(B2, change(B2, S.HELD, last="presumed held")) is Source.PRESUMED
    # A later mark by the manager is what counts, not an earlier provider report.
    marked_later = [
        *change(A1, S.HELD, last="attendance reported by the provider"),
        StateChange(A1.key, datetime(2026, 3, 1, tzinfo=UTC), S.HELD, S.HELD, "marked by manager"),
    ]
    assert outcome_source(A1, marked_later) is Source.MANAGER
    # Presumed and marked in the same run (same instant): the mark came last.
    at = datetime(2026, 3, 1, tzinfo=UTC)
    same_instant = [
        StateChange(G1.key, at, S.BOOKED, S.HELD, "presumed held: the time passed"),
        StateChange(G1.key, at, S.HELD, S.HELD, "marked by manager"),
    ]
    assert outcome_source(G1, same_instant) is Source.MANAGER
    assert outcome_source(H1) is Source.CALENDAR
    slot_passed = rec(SYD, "h", 1, S.CANCELLED, reason=SLOT_PASSED)
    assert outcome_source(slot_passed) is Source.COACHPASS
    # Coachpass's own failure to book in time is not the manager's cancellation.
    alone = compute_month(ORG, FEB, [slot_passed])
    assert (alone.cancelled, alone.cancelled_sellers) == (0, 0)
    (h,) = [s for s in alone.not_coached_sellers if s.seller_id == "h"]
    assert (h.outcome, h.detail) == (Outcome.NOT_BOOKED, SLOT_PASSED)


def test_top_and_bottom_managers(kpi: OrgKpi) -> None:
    top, bottom = ranked_managers(kpi)
    assert [m.manager_name for m in top] == ["Anna Berg"]  # 50 % coverage
    assert [m.manager_name for m in bottom] == ["Per Lund"]  # 0 %
    # One manager is neither top nor bottom of anything.
    alone = Organisation("x", "X", "UTC", "SE", "en", Policy(), (SYD,))
    assert ranked_managers(compute_month(alone, FEB, [])) == ([], [])


def test_without_history_booked_follows_the_states() -> None:
    # Only the `booked` count may use history, and here no state needed it.
    assert compute_month(ORG, FEB, SESSIONS).booked == 7


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
    assert kpi.active_sellers == 9 and kpi.held == 0
    assert kpi.not_booked == 9  # nobody has a session: each is listed as not booked
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
    # Thresholds come from the config.
    strict = ReportThresholds(coverage_green=0.95, coverage_amber=0.8, minutes_amber_share=0.5)
    assert [coverage_rating(v, strict) for v in (0.95, 0.9, 0.79)] == [
        Rating.GREEN,
        Rating.AMBER,
        Rating.RED,
    ]
    assert minutes_rating(60.0, 120, strict) is Rating.AMBER


def test_weeks_follow_the_month_length() -> None:
    march = Month(2026, 3)
    held = rec(SYD, "e", 1, S.HELD, 62, month=march)
    # 62 min / (31 / 7 weeks) / 2 managers = 62 * 7 / 31 / 2 = 7.0
    assert compute_month(ORG, march, [held]).minutes_per_manager_week == pytest.approx(7.0)


def test_trend_starts_at_the_first_month_with_data() -> None:
    months = last_months(FEB)
    assert months == [Month(2025, 9), Month(2025, 10), Month(2025, 11), Month(2025, 12), JAN, FEB]
    points = trend(ORG, months, SESSIONS)
    # September to December had no session: a new installation shows no empty months.
    assert [p.month for p in points] == [JAN, FEB]
    # January: only a's held session -> 1 of 9 sellers, 1 / 1 held,
    # 45 min / (31 / 7) weeks / 2 managers = 45 * 7 / 62 = 5.08...
    assert points[0].coverage == pytest.approx(1 / 9)
    assert points[0].held_rate == pytest.approx(1.0)
    assert points[0].minutes_per_manager_week == pytest.approx(45 * 7 / 62)
    # February agrees with compute_month (history does not change the ratios).
    feb = compute_month(ORG, FEB, SESSIONS, HISTORY)
    assert (points[1].coverage, points[1].held_rate, points[1].minutes_per_manager_week) == (
        feb.coverage,
        feb.held_rate,
        feb.minutes_per_manager_week,
    )
    # A gap after the start stays, as "no data"; a store with nothing keeps the month.
    november = rec(NORD, "a", 1, S.HELD, month=Month(2025, 11))
    gap = trend(ORG, months, [november, *(r for r in SESSIONS if r.month == FEB)])
    assert [p.month for p in gap] == [Month(2025, 11), Month(2025, 12), JAN, FEB]
    assert gap[1] == TrendPoint(Month(2025, 12), None, None, None)
    assert trend(ORG, months, []) == [TrendPoint(FEB, None, None, None)]


STATES = st.sampled_from(list(SessionState))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcdefghi"), STATES, st.booleans()), max_size=25))
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
    # Each seller has exactly one outcome: the outcomes add up to the sellers.
    assert kpi.active_sellers == (
        kpi.held
        + kpi.no_show_sellers
        + kpi.cancelled_sellers
        + kpi.declined_sellers
        + kpi.unbookable
        + kpi.not_booked
        + kpi.ahead
    )
    assert kpi.held == kpi.held_verified + kpi.held_recorded + kpi.held_presumed
    assert kpi.not_coached == kpi.active_sellers - kpi.held - kpi.ahead
    assert kpi.rebooked_held <= kpi.rebooked
    # Levels add up: teams and managers partition the organisation.
    for name in (*COUNTS, "unbookable", "not_coached"):
        total = getattr(kpi, name)
        assert sum(getattr(t, name) for t in kpi.teams) == total, name
        assert sum(getattr(m, name) for m in kpi.managers) == total, name
    # Event counts are per attempt.
    assert kpi.declined == sum(r.state is S.DECLINED for r in records)
