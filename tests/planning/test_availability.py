"""Candidate slots: time zones, DST, holidays, blackout, lead time, buffers, OOF.

Each test checks the slots with `tests.planning.checker` (zoneinfo per slot, no code
shared with the availability module) or with facts stated in the test itself.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.base import Busy, BusyKind
from scheduler.model import Month, Person, Policy, Team, WorkingHours
from scheduler.planning.availability import Block, team_availability
from scheduler.planning.intervals import intersect, merge, subtract
from scheduler.planning.problem import TeamProblem
from tests.planning.checker import grid_slots, slot_problems

STHLM = ZoneInfo("Europe/Stockholm")
NY = ZoneInfo("America/New_York")


def person(pid: str, tz: str = "Europe/Stockholm", country: str = "SE", **kw: object) -> Person:
    return Person(pid, pid.title(), f"{pid}@example.com", tz, country, "local", pid, **kw)  # type: ignore[arg-type]


MANAGER = person("manager", working_hours=WorkingHours(time(8), time(17)))
SELLER = person("seller")
NY_SELLER = person("nyseller", "America/New_York", "US", subdivision="NY")


def problem(
    month: Month,
    sellers: tuple[Person, ...] = (SELLER,),
    *,
    policy: Policy | None = None,
    busy: dict[str, tuple[Busy, ...]] | None = None,
    now: datetime | None = None,
    errors: dict[str, str] | None = None,
    manager: Person = MANAGER,
) -> TeamProblem:
    return TeamProblem(
        team=Team("team", "Team", manager, sellers),
        policy=policy or Policy(latest_day=31),
        month=month,
        now=now or datetime(month.year, month.month, 1, tzinfo=UTC) - timedelta(days=10),
        busy=busy or {},
        to_book=tuple(s.id for s in sellers),
        calendar_errors=errors or {},
    )


def starts(p: TeamProblem, seller_id: str) -> list[datetime]:
    av = team_availability(p)
    (slots,) = [s for s in av.sellers if s.seller.id == seller_id]
    return [av.to_datetime(m) for m in slots.starts]


def test_slots_are_exactly_the_grid_starts_the_checker_accepts_across_dst_and_zones() -> None:
    # March 2026: New York switches on the 8th, Stockholm on the 29th; October 2026:
    # Stockholm on the 25th, New York on 1 November. Manager 08-17 Stockholm, seller
    # 09-17 New York.
    for month in (Month(2026, 3), Month(2026, 10)):
        p = problem(month, (NY_SELLER,))
        got = starts(p, "nyseller")
        expected = grid_slots(p, NY_SELLER)
        assert got == expected
        assert got, "there must be common time to check"
        for start in got:
            assert slot_problems(p, NY_SELLER, start) == []


def test_new_york_overlap_moves_with_each_zones_own_dst_switch() -> None:
    got = starts(problem(Month(2026, 3), (NY_SELLER,)), "nyseller")
    by_day: dict[date, list[datetime]] = {}
    for s in got:
        by_day.setdefault(s.astimezone(STHLM).date(), []).append(s.astimezone(STHLM))
    # Seller's 09:00 New York is 15:00 Stockholm normally, 14:00 between the two
    # switches (8-29 March), and the manager's day ends 17:00.
    assert min(by_day[date(2026, 3, 2)]).time() == time(15, 0)
    assert min(by_day[date(2026, 3, 10)]).time() == time(14, 0)
    assert min(by_day[date(2026, 3, 30)]).time() == time(15, 0)
    for day in by_day.values():
        assert max(day).time() == time(16, 15)  # 45 minutes before 17:00 Stockholm


def test_swedish_christmas_and_new_years_eve_are_never_slots() -> None:
    got = starts(problem(Month(2026, 12)), "seller")
    days = {s.astimezone(STHLM).date() for s in got}
    for day in (24, 25, 26, 31):
        assert date(2026, 12, day) not in days
    assert date(2026, 12, 23) in days and date(2026, 12, 28) in days


def test_a_holiday_of_only_one_person_blocks_the_day() -> None:
    # 26 November 2026 is Thanksgiving in the US, an ordinary Thursday in Sweden.
    got = starts(problem(Month(2026, 11), (NY_SELLER,)), "nyseller")
    days = {s.astimezone(STHLM).date() for s in got}
    assert date(2026, 11, 26) not in days
    assert date(2026, 11, 25) in days


def test_blackout_dates_and_days_of_month() -> None:
    policy = Policy(earliest_day=3, latest_day=20, blackout_dates=frozenset({date(2026, 6, 10)}))
    days = {
        s.astimezone(STHLM).date() for s in starts(problem(Month(2026, 6), policy=policy), "seller")
    }
    assert date(2026, 6, 10) not in days
    # 19 June 2026 is Midsummer Eve (de facto holiday), the 20th a Saturday.
    assert min(days) == date(2026, 6, 3) and max(days) == date(2026, 6, 18)


def test_lead_time_counts_from_now() -> None:
    now = datetime(2026, 6, 8, 10, 7, tzinfo=UTC)  # Monday, 12:07 in Stockholm
    got = starts(problem(Month(2026, 6), now=now), "seller")
    assert min(got) == datetime(2026, 6, 10, 12, 15, tzinfo=STHLM)  # 48 h later, on the grid


def test_buffer_keeps_slots_off_busy_time_but_not_off_out_of_office() -> None:
    day = date(2026, 6, 9)
    busy = {
        "seller": (
            Busy(datetime.combine(day, time(11), STHLM), datetime.combine(day, time(12), STHLM)),
        ),
        "manager": (
            Busy(
                datetime.combine(day, time(14), STHLM),
                datetime.combine(day, time(15), STHLM),
                BusyKind.TENTATIVE,
            ),
            Busy(
                datetime.combine(day, time(0), STHLM),
                datetime.combine(day, time(10), STHLM),
                BusyKind.OOF,
            ),
        ),
    }
    policy = Policy(buffer_minutes=15, latest_day=31)
    got = [
        s.astimezone(STHLM).time()
        for s in starts(problem(Month(2026, 6), policy=policy, busy=busy), "seller")
        if s.astimezone(STHLM).date() == day
    ]
    # 10:00 right after the OOF (no buffer), ending 10:45 = 11:00 less the buffer;
    # then from 12:15 until 13:00 (ends 13:45, the buffer before the tentative 14-15);
    # then from 15:15 to the end of the day.
    assert got == [
        time(10, 0),
        *(time(12, m) for m in (15, 30, 45)),
        time(13, 0),
        *(time(15, m) for m in (15, 30, 45)),
        time(16, 0),
        time(16, 15),
    ]


def test_unreadable_calendar_is_never_free() -> None:
    p = problem(
        Month(2026, 6),
        (SELLER, NY_SELLER),
        errors={"seller": "HTTP 403 from Google for seller@example.com"},
    )
    av = team_availability(p)
    by_id = {s.seller.id: s for s in av.sellers}
    assert by_id["seller"].starts == ()
    assert by_id["seller"].diagnosis is not None
    assert by_id["seller"].diagnosis.block is Block.CALENDAR
    assert by_id["nyseller"].starts
    p = problem(Month(2026, 6), (SELLER,), errors={"manager": "token revoked"})
    (only,) = team_availability(p).sellers
    assert only.starts == () and only.diagnosis is not None and only.diagnosis.person == "manager"


def test_sellers_not_to_book_are_left_out() -> None:
    p = problem(Month(2026, 6), (SELLER, NY_SELLER))
    p = TeamProblem(p.team, p.policy, p.month, p.now, p.busy, ("nyseller",))
    assert [s.seller.id for s in team_availability(p).sellers] == ["nyseller"]


# Interval arithmetic against sets of minutes.
spans = st.lists(
    st.tuples(st.integers(0, 200), st.integers(0, 60)).map(lambda t: (t[0], t[0] + t[1])),
    max_size=8,
)


def minutes(intervals: list[tuple[int, int]]) -> set[int]:
    return {m for s, e in intervals for m in range(s, e)}


@settings(max_examples=200, deadline=None)
@given(spans, spans)
def test_interval_operations_match_sets_of_minutes(
    a: list[tuple[int, int]], b: list[tuple[int, int]]
) -> None:
    ma, mb = merge(a), merge(b)
    assert minutes(ma) == minutes(a)
    assert all(x[1] < y[0] for x, y in itertools.pairwise(ma))
    assert minutes(intersect(ma, mb)) == minutes(a) & minutes(b)
    assert minutes(subtract(ma, mb)) == minutes(a) - minutes(b)


@pytest.mark.parametrize("month", [Month(2026, 3), Month(2026, 10)])
def test_dst_month_with_busy_calendars_matches_checker(month: Month) -> None:
    # Busy blocks straddling the switch days, in both people's own zones.
    busy: dict[str, tuple[Busy, ...]] = {"manager": (), "nyseller": ()}
    for n in range(1, 29, 3):
        d = date(month.year, month.month, n)
        busy["manager"] += (
            Busy(datetime.combine(d, time(15, 30), STHLM), datetime.combine(d, time(16), STHLM)),
        )
        busy["nyseller"] += (
            Busy(datetime.combine(d, time(9), NY), datetime.combine(d, time(9, 50), NY)),
        )
    p = problem(month, (NY_SELLER,), busy=busy)
    assert starts(p, "nyseller") == grid_slots(p, NY_SELLER)
