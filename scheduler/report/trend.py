"""The report's months: the trend of the headline ratios (from the first month with
data), the window it covers, and the managers at the top and bottom of the month."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from scheduler.model import Month, Organisation, SessionRecord
from scheduler.report.kpi import ManagerKpi, OrgKpi, TrendPoint, compute_month


def has_data(org: Organisation, month: Month, sessions: Iterable[SessionRecord]) -> bool:
    return any(r.org_id == org.id and r.month == month for r in sessions)


def trend(
    org: Organisation, months: Sequence[Month], sessions: Iterable[SessionRecord]
) -> list[TrendPoint]:
    """Organisation-level coverage, held rate and minutes for `months`, in order,
    starting at the first month with any session of the organisation (a new
    installation shows no empty months before it began); the last month always stays.

    Needs no history: the three ratios depend only on the sessions' current states.
    A month without any session after the first one has no data (all three None).
    """
    records = list(sessions)
    points = []
    for month in months:
        if not has_data(org, month, records):
            points.append(TrendPoint(month, None, None, None))
            continue
        kpi = compute_month(org, month, records)
        points.append(TrendPoint(month, kpi.coverage, kpi.held_rate, kpi.minutes_per_manager_week))
    while len(points) > 1 and not has_data(org, points[0].month, records):
        points.pop(0)
    return points


def ranked_managers(kpi: OrgKpi, count: int = 3) -> tuple[list[ManagerKpi], list[ManagerKpi]]:
    """Top and bottom managers: by coverage, then held rate, then minutes per week.

    At most `count` each and never the same manager in both (with five managers: top
    two, bottom two); managers without sellers are left out.
    """
    ranked = sorted(
        (m for m in kpi.managers if m.active_sellers),
        key=lambda m: (
            m.coverage or 0.0,
            m.held_rate or 0.0,
            m.minutes_per_manager_week or 0.0,
        ),
        reverse=True,
    )
    n = min(count, len(ranked) // 2)
    return ranked[:n], ranked[len(ranked) - n :][::-1] if n else []


def last_months(month: Month, count: int = 6) -> list[Month]:
    """`count` months ending with `month`, oldest first (the report's trend window)."""
    months = [month]
    while len(months) < count:
        months.append(months[-1].previous())
    return months[::-1]
