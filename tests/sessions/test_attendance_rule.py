"""The attendance rule: intervals of one person merge, two people's overlap is what
counts, and each provider answer maps to held, no-show or no verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.base import Attendance, AttendanceStatus
from scheduler.model import SessionState
from scheduler.sessions.attendance import judge, overlap, union

T0 = datetime(2031, 3, 4, 9, 0, tzinfo=UTC)
BOSS, SELLER = "boss@example.com", "s1@example.com"


def at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


def spans(*pairs: tuple[int, int]) -> tuple[tuple[datetime, datetime], ...]:
    return tuple((at(a), at(b)) for a, b in pairs)


def met(**presence: tuple[tuple[datetime, datetime], ...]) -> Attendance:
    return Attendance(
        "cpkey",
        AttendanceStatus.MET,
        {f"{who}@example.com": p for who, p in presence.items()},
        "report r1",
    )


# -- interval arithmetic: properties against a minute-by-minute count --------------

minute_spans = st.lists(
    st.tuples(st.integers(0, 120), st.integers(0, 60)).map(lambda t: (t[0], t[0] + t[1])),
    max_size=6,
)


def minutes_in(pairs: list[tuple[int, int]]) -> set[int]:
    return {m for a, b in pairs for m in range(a, b)}


@settings(max_examples=300, deadline=None)
@given(minute_spans, minute_spans)
def test_overlap_is_the_minutes_both_were_in(a: list[tuple[int, int]], b: list[tuple[int, int]]):  # type: ignore[no-untyped-def]
    together = overlap(spans(*a), spans(*b))
    assert together == timedelta(minutes=len(minutes_in(a) & minutes_in(b)))
    assert together == overlap(spans(*b), spans(*a))


@settings(max_examples=300, deadline=None)
@given(minute_spans)
def test_union_counts_each_minute_once(a: list[tuple[int, int]]) -> None:
    merged = union(spans(*a))
    total = sum((end - start for start, end in merged), timedelta())
    assert total == timedelta(minutes=len(minutes_in(a)))
    # Disjoint and sorted, nothing empty: a second pass changes nothing.
    assert all(s < e for s, e in merged)
    assert all(merged[i][1] < merged[i + 1][0] for i in range(len(merged) - 1))
    assert union(merged) == merged
    # A person's duplicate or overlapping intervals (two devices) add nothing.
    assert union(spans(*a) + spans(*a)) == merged


@settings(max_examples=200, deadline=None)
@given(minute_spans, st.integers(0, 180))
def test_splitting_a_stay_in_two_changes_nothing(a: list[tuple[int, int]], cut: int) -> None:
    """A rejoin right where one left is the same time in the meeting."""
    split = [p for s, e in a for p in ([(s, cut), (cut, e)] if s < cut < e else [(s, e)])]
    full = spans((0, 200))
    assert overlap(spans(*split), full) == overlap(spans(*a), full)


# -- the rule --------------------------------------------------------------------


def test_together_long_enough_is_verified_held() -> None:
    verdict = judge(met(boss=spans((0, 45)), s1=spans((5, 40))), BOSS, SELLER, 15)
    assert (verdict.outcome, verdict.final) == (SessionState.HELD, True)
    assert "together for 35 min" in verdict.detail and "report r1" in verdict.detail


def test_rejoins_add_up_but_overlaps_count_once() -> None:
    # Seller in 0-8 and 10-18 (rejoined): 16 min; manager on two devices 0-20 twice.
    attendance = met(boss=spans((0, 20), (0, 20), (5, 12)), s1=spans((0, 8), (10, 18)))
    assert judge(attendance, BOSS, SELLER, 16).outcome is SessionState.HELD
    assert judge(attendance, BOSS, SELLER, 17).outcome is None


def test_both_present_but_not_together_is_no_verdict_and_final() -> None:
    # Each came, at different times: 5 minutes together.
    verdict = judge(met(boss=spans((0, 20)), s1=spans((15, 45))), BOSS, SELLER, 15)
    assert (verdict.outcome, verdict.final) == (None, True)
    assert "only 5 min" in verdict.detail and "stays presumed" in verdict.detail


@pytest.mark.parametrize(
    ("presence", "missing"),
    [
        ({"boss": spans((0, 45))}, "the seller (s1@example.com)"),
        ({"s1": spans((0, 45))}, "the manager (boss@example.com)"),
        ({"boss": spans((0, 45)), "s1": ()}, "the seller (s1@example.com)"),
        ({}, "the manager (boss@example.com) and the seller (s1@example.com)"),
    ],
)
def test_meeting_without_one_of_them_is_a_verified_no_show(
    presence: dict[str, tuple[tuple[datetime, datetime], ...]], missing: str
) -> None:
    verdict = judge(met(**presence), BOSS, SELLER, 15)
    assert (verdict.outcome, verdict.final) == (SessionState.NO_SHOW, True)
    assert f"took place without {missing}" in verdict.detail


def test_emails_match_whatever_their_case() -> None:
    attendance = Attendance(
        "k",
        AttendanceStatus.MET,
        {"Boss@Example.com": spans((0, 30)), "s1@example.com": spans((0, 30))},
    )
    assert judge(attendance, "BOSS@example.com", "S1@Example.com", 15).outcome is SessionState.HELD


@pytest.mark.parametrize(
    ("status", "outcome", "final"),
    [
        (AttendanceStatus.NOT_HELD, SessionState.NO_SHOW, True),
        (AttendanceStatus.PENDING, None, False),
        (AttendanceStatus.EXPIRED, None, True),
        (AttendanceStatus.NO_MEETING, None, True),
        (AttendanceStatus.UNSUPPORTED, None, False),  # about the back end: ask again
    ],
)
def test_other_answers(status: AttendanceStatus, outcome: SessionState | None, final: bool) -> None:
    verdict = judge(Attendance("k", status, detail="why"), BOSS, SELLER, 15)
    assert (verdict.outcome, verdict.final) == (outcome, final)
    assert "why" in verdict.detail
