"""The report's view model: every figure formatted once, so the text and HTML templates
(and the CSV, built from the same KPIs) cannot disagree about a number.

Status is carried three ways, so it survives a colour-blind reader and a mail client
that drops colours: the colour (inline style), a symbol in the figure (✓ / ~ / ✗) and,
on the headline figures, a word ("on target").
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scheduler.model import Month, Organisation
from scheduler.report.charts import format_minutes, format_pct, trend_charts
from scheduler.report.kpi import KpiFigures, OrgKpi, Rating, TrendPoint
from scheduler.report.outcomes import Outcome, SellerMonth, Source
from scheduler.report.trend import ranked_managers
from scheduler.sessions.agenda import month_name

#: Inline styles of a rated cell: background and text colour with enough contrast.
RATING_STYLE: Mapping[Rating, str] = {
    Rating.GREEN: "background:#dafbe1;color:#116329;",
    Rating.AMBER: "background:#fff8c5;color:#7d4e00;",
    Rating.RED: "background:#ffebe9;color:#a40e26;",
    Rating.NONE: "",
}
RATING_SYMBOL: Mapping[Rating, str] = {
    Rating.GREEN: "✓",
    Rating.AMBER: "~",
    Rating.RED: "✗",
    Rating.NONE: "",
}


@dataclass(frozen=True)
class Cell:
    text: str  # the figure with its status symbol: "✓ 92%"
    rating: Rating = Rating.NONE
    status: str = ""  # the status word: "on target"

    @property
    def style(self) -> str:
        return RATING_STYLE[self.rating]


@dataclass(frozen=True)
class Row:
    """A line of the narrow ranking table (fits a phone: five columns)."""

    name: str
    teams: str
    coached: str  # "3/5"
    coverage: Cell
    held_rate: Cell
    minutes: Cell
    total: bool = False


@dataclass(frozen=True)
class Tile:
    """A headline figure with its change since last month."""

    label: str
    value: Cell
    change: str  # "+5 pp vs January 2026", or "" without a previous month
    detail: str = ""  # what the figure is made of: "2 attendance verified, ..."


@dataclass(frozen=True)
class Card:
    """One manager's month: the sellers' outcomes (they add up to the sellers) and the
    sessions along the way."""

    name: str
    teams: str
    sellers: tuple[tuple[str, int], ...]
    sessions: tuple[tuple[str, int], ...]


def _cell(value: str, rating: Rating, t: Mapping[str, Any]) -> Cell:
    symbol = RATING_SYMBOL[rating]
    status = str(t[f"report_status_{rating.value}"]) if rating is not Rating.NONE else ""
    return Cell(f"{symbol} {value}" if symbol else value, rating, status)


def _cells(k: KpiFigures, t: Mapping[str, Any], lang: str) -> tuple[Cell, Cell, Cell]:
    none = str(t["report_no_data"])
    return (
        _cell(format_pct(k.coverage, lang, none), k.coverage_rating, t),
        _cell(format_pct(k.held_rate, lang, none), k.held_rate_rating, t),
        _cell(format_minutes(k.minutes_per_manager_week, none), k.minutes_rating, t),
    )


def row(name: str, teams: str, k: KpiFigures, t: Mapping[str, Any], lang: str, total: bool) -> Row:
    coverage, held_rate, minutes = _cells(k, t, lang)
    return Row(name, teams, f"{k.held}/{k.active_sellers}", coverage, held_rate, minutes, total)


def card(name: str, teams: str, k: KpiFigures, t: Mapping[str, Any]) -> Card:
    """Outcomes that happened only (zeros left out, so a card stays short on a phone
    and a mail with hundreds of managers stays small); they still add up to Sellers."""
    outcomes = (
        (str(t["report_held_verified"]), k.held_verified),
        (str(t["report_held_recorded"]), k.held_recorded),
        (str(t["report_held_presumed"]), k.held_presumed),
        (str(t["report_no_show"]), k.no_show_sellers),
        (str(t["report_cancelled_by_manager"]), k.cancelled_sellers),
        (str(t["report_declined_by_seller"]), k.declined_sellers),
        (str(t["report_unbookable"]), k.unbookable),
        (str(t["report_not_booked"]), k.not_booked),
        (str(t["report_ahead"]), k.ahead),
    )
    sessions = (
        (str(t["report_cancelled_by_manager"]), k.cancelled),
        (str(t["report_declined_by_seller"]), k.declined),
        (str(t["report_rebooked"]), k.rebooked),
        (str(t["report_rebooked_held"]), k.rebooked_held),
        (str(t["report_moved"]), k.moved),
    )
    return Card(
        name,
        teams,
        sellers=((str(t["report_sellers"]), k.active_sellers), *((a, n) for a, n in outcomes if n)),
        sessions=tuple((a, n) for a, n in sessions if n),
    )


def _signed(value: float, digits: int = 0) -> str:
    text = f"{abs(value):.{digits}f}"
    if float(text) == 0:
        return "±0"
    return ("+" if value > 0 else "−") + text


def _ratio_change(now: float | None, before: float | None, unit: str) -> str | None:
    if now is None or before is None:
        return None
    return f"{_signed((now - before) * 100)} {unit}"


def tiles(
    kpi: OrgKpi, previous: OrgKpi | None, t: Mapping[str, Any], lang: str, month: Month
) -> list[Tile]:
    coverage, held_rate, minutes = _cells(kpi, t, lang)
    pp = str(t["report_pp"])
    since = str(t["report_change_format"])
    prev_name = month_name(t, month.previous())

    def change(text: str | None) -> str:
        return since.format(change=text, month=prev_name) if previous and text else ""

    p = previous
    minutes_before = p.minutes_per_manager_week if p else None
    now_minutes = kpi.minutes_per_manager_week
    return [
        Tile(
            str(t["report_coverage"]),
            coverage,
            change(_ratio_change(kpi.coverage, p.coverage if p else None, pp)),
        ),
        Tile(
            str(t["report_held_rate"]),
            held_rate,
            change(_ratio_change(kpi.held_rate, p.held_rate if p else None, pp)),
        ),
        Tile(
            f"{t['report_minutes']} ({t['report_target']} {kpi.target_minutes_per_manager_week})",
            minutes,
            change(
                _signed(now_minutes - minutes_before)
                if now_minutes is not None and minutes_before is not None
                else None
            ),
        ),
        Tile(
            str(t["report_coached"]),
            Cell(f"{kpi.held}/{kpi.active_sellers}"),
            change(_signed(kpi.held - p.held) if p else None),
            # Leadership weighs a verified session above a presumed one: the split
            # belongs at the top, not only in each manager's card.
            str(t["report_held_split_format"]).format(
                verified=kpi.held_verified, manager=kpi.held_recorded, presumed=kpi.held_presumed
            )
            if kpi.held
            else "",
        ),
        Tile(
            str(t["report_not_coached"]),
            Cell(str(kpi.not_coached)),
            change(_signed(kpi.not_coached - p.not_coached) if p else None),
        ),
        # Coached + not coached + still ahead = sellers: without this tile a month that
        # has not happened yet reads as "0/10 coached, 0 not coached".
        *([Tile(str(t["report_ahead"]), Cell(str(kpi.ahead)), "")] if kpi.ahead else []),
    ]


def not_coached_none(kpi: OrgKpi, t: Mapping[str, Any]) -> str:
    """What the not-coached list says when it is empty: everyone was coached only when
    they were; otherwise the rest is still ahead (the list holds every other seller)."""
    if kpi.held == kpi.active_sellers:
        return str(t["report_not_coached_none"])
    return str(t["report_not_coached_none_yet_format"]).format(
        ahead=kpi.ahead, sellers=kpi.active_sellers
    )


def why(seller: SellerMonth, t: Mapping[str, Any]) -> str:
    """Why a seller was not coached, in the reader's language."""
    o = seller.outcome
    if o is Outcome.NO_SHOW:
        sources = {
            Source.MANAGER: "report_source_manager",
            Source.PROVIDER: "report_source_verified",
        }
        by = t[sources[seller.source]] if seller.source in sources else None
        base = str(t["report_why_no_show"])
        return f"{base} ({by})" if by else base
    if o is Outcome.SELLER_DECLINED:
        if seller.declines > 1:
            return str(t["report_why_declined_times_format"]).format(n=seller.declines)
        return str(t["report_why_declined"])
    if o is Outcome.MANAGER_CANCELLED:
        base = str(t["report_why_cancelled"])
        return f"{base}: {seller.detail}" if seller.detail else base
    if o is Outcome.UNBOOKABLE:
        return f"{t['report_why_unbookable']}: {seller.detail}"
    base = str(t["report_why_not_booked"])
    return f"{base}: {seller.detail}" if seller.detail else base


def local_time(moment: datetime, zone: str) -> str:
    """Readers see the time in the organisation's zone, with its abbreviation."""
    # Settings validate zones; an odd one still must not stop the report.
    with contextlib.suppress(ZoneInfoNotFoundError, ValueError):
        moment = moment.astimezone(ZoneInfo(zone))
    return moment.strftime("%Y-%m-%d %H:%M %Z").strip()


def month_is_over(month: Month, moment: datetime, zone: str) -> bool:
    try:
        tz: Any = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = moment.tzinfo
    return moment >= datetime.combine(month.next().first_day, time(0), tz)


def legend(org: Organisation, t: Mapping[str, Any], target: int) -> list[str]:
    th = org.thresholds

    def pct(share: float) -> str:
        return format_pct(share, org.language, "")

    return [
        str(t["report_legend_status"]),
        str(t["report_legend_thresholds_format"]).format(
            coverage_green=pct(th.coverage_green),
            coverage_amber=pct(th.coverage_amber),
            held_green=pct(th.held_rate_green),
            held_amber=pct(th.held_rate_amber),
            target=target,
            minutes_amber=round(target * th.minutes_amber_share),
            minutes_share=pct(th.minutes_amber_share),
        ),
        str(t["report_legend"]),
        str(t["report_legend_sources_format"]).format(
            min_minutes=org.policy.attendance.min_minutes_together
        ),
    ]


def context(
    org: Organisation,
    month: Month,
    kpi: OrgKpi,
    trend: Sequence[TrendPoint],
    messages: Mapping[str, Any],
    generated_at: datetime,
    previous: OrgKpi | None,
) -> dict[str, Any]:
    lang = org.language
    t = messages
    team_names = {team.id: team.name for team in org.teams}
    manager_names = {m.manager_id: m.manager_name for m in kpi.managers}

    def teams_of(ids: Sequence[str]) -> str:
        return ", ".join(team_names.get(i, i) for i in ids)

    manager_rows = [
        row(m.manager_name, teams_of(m.team_ids), m, t, lang, False) for m in kpi.managers
    ]
    total = row(str(t["report_total"]), "", kpi, t, lang, True)
    several = len(kpi.teams) != len(kpi.managers)
    top, bottom = ranked_managers(kpi)
    return {
        "t": t,
        "org": org,
        "month": str(month),
        "month_name": month_name(t, month),
        "generated": local_time(generated_at, org.timezone),
        "unfinished": not month_is_over(month, generated_at, org.timezone),
        "kpi": kpi,
        "tiles": tiles(kpi, previous, t, lang, month),
        "total": total,
        "manager_rows": manager_rows,
        # Teams get their own table only when some manager leads several of them;
        # otherwise it would repeat the manager table line for line.
        "team_rows": (
            [row(tk.team_name, tk.manager_name, tk, t, lang, False) for tk in kpi.teams]
            if several
            else []
        ),
        "cards": [card(m.manager_name, teams_of(m.team_ids), m, t) for m in kpi.managers],
        "not_coached_none": not_coached_none(kpi, t),
        "not_coached": [
            (
                s.name,
                team_names.get(s.team_id, s.team_id),
                manager_names.get(s.manager_id, ""),
                why(s, t),
            )
            for s in kpi.not_coached_sellers
        ],
        "top": [(m.manager_name, _cells(m, t, lang)[0].text) for m in top],
        "bottom": [(m.manager_name, _cells(m, t, lang)[0].text) for m in bottom],
        "charts": trend_charts(trend, t, lang, kpi.target_minutes_per_manager_week, org.thresholds),
        "target": kpi.target_minutes_per_manager_week,
        "legend": legend(org, t, kpi.target_minutes_per_manager_week),
        "text_table": text_table(t, [*manager_rows, total], str(t["report_manager"])),
        "text_team_table": (
            text_table(
                t,
                [row(tk.team_name, "", tk, t, lang, False) for tk in kpi.teams],
                str(t["report_team"]),
            )
            if several
            else []
        ),
    }


def text_table(t: Mapping[str, Any], rows: Sequence[Row], first: str) -> list[str]:
    headers = [
        first,
        str(t["report_coached"]),
        str(t["report_coverage"]),
        str(t["report_held_rate"]),
        str(t["report_minutes"]),
    ]
    headers = [h.replace("\u00ad", "") for h in headers]  # the text drops soft hyphens
    body = [[r.name, r.coached, r.coverage.text, r.held_rate.text, r.minutes.text] for r in rows]
    widths = [max(len(line[i]) for line in [headers, *body]) for i in range(len(headers))]

    def fmt(cells: Sequence[str]) -> str:
        # Names left-aligned, figures right-aligned, as in a spreadsheet.
        parts = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return [fmt(headers), "  ".join("-" * w for w in widths), *(fmt(b) for b in body)]
