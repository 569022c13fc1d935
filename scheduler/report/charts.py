"""The report's six-month trend as bar charts, and the number formats it shares with
the report tables.

Bars are widths in percent of the chart, drawn as CSS (div widths) in the HTML and as
block characters in the text: no image library, and nothing for a mail client to block.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scheduler.model import ReportThresholds
from scheduler.report.kpi import (
    DEFAULT_THRESHOLDS,
    Rating,
    TrendPoint,
    coverage_rating,
    held_rate_rating,
    minutes_rating,
)

#: Bar colours of the trend chart.
RATING_BAR: Mapping[Rating, str] = {
    Rating.GREEN: "#2da44e",
    Rating.AMBER: "#d4a72c",
    Rating.RED: "#cf222e",
    Rating.NONE: "#8c959f",
}


def format_pct(value: float | None, language: str, none: str) -> str:
    if value is None:
        return none
    # Swedish typography puts a space before the percent sign.
    return f"{value * 100:.0f}{' %' if language == 'sv' else '%'}"


def format_minutes(value: float | None, none: str) -> str:
    return none if value is None else f"{value:.0f}"


@dataclass(frozen=True)
class Bar:
    label: str
    value: str
    width: int  # percent of the chart width
    rating: Rating

    @property
    def colour(self) -> str:
        return RATING_BAR[self.rating]

    def text_bar(self, length: int = 20) -> str:
        return "█" * round(self.width * length / 100)


@dataclass(frozen=True)
class Chart:
    title: str
    bars: tuple[Bar, ...]


def _width(value: float | None, scale: float) -> int:
    if value is None or scale <= 0:
        return 0
    return max(0, min(100, round(value / scale * 100)))


def trend_charts(
    trend: Sequence[TrendPoint],
    t: Mapping[str, Any],
    lang: str,
    target: int,
    thresholds: ReportThresholds = DEFAULT_THRESHOLDS,
) -> tuple[Chart, ...]:
    none = str(t["report_no_data"])
    # Minutes bars share one scale that always includes the target, so a month at
    # target looks the same every time rather than being stretched to the widest bar.
    top = max([target, *(p.minutes_per_manager_week or 0 for p in trend)])
    return (
        Chart(
            str(t["report_coverage"]),
            tuple(
                Bar(
                    str(p.month),
                    format_pct(p.coverage, lang, none),
                    _width(p.coverage, 1.0),
                    coverage_rating(p.coverage, thresholds),
                )
                for p in trend
            ),
        ),
        Chart(
            str(t["report_held_rate"]),
            tuple(
                Bar(
                    str(p.month),
                    format_pct(p.held_rate, lang, none),
                    _width(p.held_rate, 1.0),
                    held_rate_rating(p.held_rate, thresholds),
                )
                for p in trend
            ),
        ),
        Chart(
            f"{t['report_minutes']} ({t['report_target']} {target})",
            tuple(
                Bar(
                    str(p.month),
                    format_minutes(p.minutes_per_manager_week, none),
                    _width(p.minutes_per_manager_week, top),
                    minutes_rating(p.minutes_per_manager_week, target, thresholds),
                )
                for p in trend
            ),
        ),
    )
