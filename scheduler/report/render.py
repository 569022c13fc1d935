"""The monthly KPI report: an e-mail (plain text + HTML + CSV) and a terminal view.

The HTML uses inline styles only (many mail clients drop `<style>` blocks) and draws
the six-month trend as CSS bars (div widths, `scheduler.report.charts`), which need
no image library and survive clients that block images. Figures are formatted here
once into a view model, so the text and HTML templates cannot disagree about a
number. KPI definitions live in `scheduler.report.kpi`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.mail import new_message, set_address_header, set_text_header
from scheduler.errors import UserError
from scheduler.model import Month, Organisation
from scheduler.report.charts import format_minutes, format_pct, trend_charts
from scheduler.report.kpi import KpiFigures, OrgKpi, Rating, TrendPoint
from scheduler.sessions.agenda import load_messages, month_name, template_environment

REPORT_HEADER = "X-Coachpass-Report"

#: Inline styles of a rated cell: background and text colour with enough contrast.
RATING_STYLE: Mapping[Rating, str] = {
    Rating.GREEN: "background:#dafbe1;color:#116329;",
    Rating.AMBER: "background:#fff8c5;color:#7d4e00;",
    Rating.RED: "background:#ffebe9;color:#a40e26;",
    Rating.NONE: "",
}
CSV_COLUMNS = (
    "month",
    "level",
    "team",
    "manager",
    "active_sellers",
    "booked",
    "held",
    "held_sessions",
    "cancelled",
    "declined",
    "moved",
    "no_show",
    "unbookable",
    "coverage_pct",
    "held_rate_pct",
    "held_minutes",
    "minutes_per_manager_week",
    "target_minutes_per_manager_week",
)


# ---------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    text: str
    rating: Rating = Rating.NONE

    @property
    def style(self) -> str:
        return RATING_STYLE[self.rating]


@dataclass(frozen=True)
class Row:
    team: str
    manager: str
    counts: tuple[int, ...]  # in the order of COUNT_KEYS
    coverage: Cell
    held_rate: Cell
    minutes: Cell
    total: bool = False


#: Count columns shown in the tables: (catalogue key, attribute).
COUNT_KEYS = (
    ("report_sellers", "active_sellers"),
    ("report_booked", "booked"),
    ("report_held", "held"),
    ("report_cancelled", "cancelled"),
    ("report_declined", "declined"),
    ("report_moved", "moved"),
    ("report_no_show", "no_show"),
    ("report_unbookable", "unbookable"),
)


def _row(team: str, manager: str, k: KpiFigures, lang: str, none: str, total: bool) -> Row:
    return Row(
        team=team,
        manager=manager,
        counts=tuple(int(getattr(k, attr)) for _, attr in COUNT_KEYS),
        coverage=Cell(format_pct(k.coverage, lang, none), k.coverage_rating),
        held_rate=Cell(format_pct(k.held_rate, lang, none), k.held_rate_rating),
        minutes=Cell(format_minutes(k.minutes_per_manager_week, none), k.minutes_rating),
        total=total,
    )


def _context(
    org: Organisation,
    month: Month,
    kpi: OrgKpi,
    trend: Sequence[TrendPoint],
    messages: Mapping[str, Any],
    generated_at: datetime,
) -> dict[str, Any]:
    lang = org.language
    none = str(messages["report_no_data"])
    team_names = {t.id: t.name for t in org.teams}
    manager_rows = [
        _row(
            ", ".join(team_names.get(i, i) for i in m.team_ids),
            m.manager_name,
            m,
            lang,
            none,
            False,
        )
        for m in kpi.managers
    ]
    total = _row(str(messages["report_total"]), "", kpi, lang, none, True)
    team_rows = [_row(t.team_name, t.manager_name, t, lang, none, False) for t in kpi.teams]
    return {
        "t": messages,
        "org": org,
        "month": str(month),
        "month_name": month_name(messages, month),
        "generated": _local_time(generated_at, org.timezone),
        "kpi": kpi,
        "total": total,
        "manager_rows": manager_rows,
        # Teams get their own table only when some manager leads several of them;
        # otherwise it would repeat the manager table line for line.
        "team_rows": team_rows if len(kpi.teams) != len(kpi.managers) else [],
        "count_headers": [messages[key] for key, _ in COUNT_KEYS],
        "unbookable": [
            (team_names.get(u.team_id, u.team_id), u.name, u.reason) for u in kpi.unbookable_sellers
        ],
        "charts": trend_charts(trend, messages, lang, kpi.target_minutes_per_manager_week),
        "target": kpi.target_minutes_per_manager_week,
        "text_table": _text_table(messages, total, manager_rows),
        "text_team_table": _text_table(messages, None, team_rows)
        if len(kpi.teams) != len(kpi.managers)
        else [],
    }


def _local_time(moment: datetime, zone: str) -> str:
    """Readers see the time in the organisation's zone, with its abbreviation."""
    # Settings validate zones; an odd one still must not stop the report.
    with contextlib.suppress(ZoneInfoNotFoundError, ValueError):
        moment = moment.astimezone(ZoneInfo(zone))
    return moment.strftime("%Y-%m-%d %H:%M %Z").strip()


def _text_table(messages: Mapping[str, Any], total: Row | None, rows: Sequence[Row]) -> list[str]:
    headers = [
        str(messages["report_team"]),
        str(messages["report_manager"]),
        *(str(messages[k]) for k, _ in COUNT_KEYS),
        str(messages["report_coverage"]),
        str(messages["report_held_rate"]),
        str(messages["report_minutes"]),
    ]
    body = [
        [r.team, r.manager, *map(str, r.counts), r.coverage.text, r.held_rate.text, r.minutes.text]
        for r in [*rows, *([total] if total else [])]
    ]
    widths = [max(len(line[i]) for line in [headers, *body]) for i in range(len(headers))]

    def fmt(cells: Sequence[str]) -> str:
        # Names left-aligned, figures right-aligned, as in a spreadsheet.
        parts = [
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return [fmt(headers), "  ".join("-" * w for w in widths), *(fmt(b) for b in body)]


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def report_subject(org: Organisation, month: Month, templates_dir: Path) -> str:
    messages = load_messages(templates_dir, org.language)
    return str(messages["report_subject_format"]).format(month=month, org=org.name)


def render_report_text(
    org: Organisation,
    month: Month,
    kpi: OrgKpi,
    trend: Sequence[TrendPoint],
    *,
    templates_dir: Path,
    generated_at: datetime,
) -> str:
    """The plain-text report (also the e-mail's text part), for `coachpass report`."""
    return _render("report.txt.j2", org, month, kpi, trend, templates_dir, generated_at)


def render_report_html(
    org: Organisation,
    month: Month,
    kpi: OrgKpi,
    trend: Sequence[TrendPoint],
    *,
    templates_dir: Path,
    generated_at: datetime,
) -> str:
    return _render("report.html.j2", org, month, kpi, trend, templates_dir, generated_at)


def _render(
    template: str,
    org: Organisation,
    month: Month,
    kpi: OrgKpi,
    trend: Sequence[TrendPoint],
    templates_dir: Path,
    generated_at: datetime,
) -> str:
    messages = load_messages(templates_dir, org.language)
    context = _context(org, month, kpi, trend, messages, generated_at)
    return template_environment(templates_dir).get_template(template).render(context)


def _csv_number(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


#: What a spreadsheet reads as the start of a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: str) -> str:
    """A text cell a spreadsheet shows as text: a leading `= + - @`, tab or CR gets a
    single quote in front, as OWASP recommends (`=HYPERLINK(...)` stays a name).
    Only the text columns (level, team, manager) pass through here: the figures are
    counts, percentages and minutes that are never negative and are written by us,
    so a number keeps reading as a number."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _csv_row(month: Month, level: str, team: str, manager: str, k: KpiFigures) -> list[str]:
    return [
        str(month),
        csv_text(level),
        csv_text(team),
        csv_text(manager),
        *(
            str(int(getattr(k, name)))
            for name in (
                "active_sellers",
                "booked",
                "held",
                "held_sessions",
                "cancelled",
                "declined",
                "moved",
                "no_show",
                "unbookable",
            )
        ),
        _csv_number(None if k.coverage is None else k.coverage * 100),
        _csv_number(None if k.held_rate is None else k.held_rate * 100),
        str(k.held_minutes),
        _csv_number(k.minutes_per_manager_week),
        str(k.target_minutes_per_manager_week),
    ]


def report_csv(org: Organisation, kpi: OrgKpi) -> str:
    """One row per manager, then one per team, then the organisation total.

    Machine-readable on purpose: English column names, `.` decimals, percentages as
    numbers (83.3, not "83 %"), empty cells where a ratio has no denominator.
    """
    team_names = {t.id: t.name for t in org.teams}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for m in kpi.managers:
        teams = "; ".join(team_names.get(i, i) for i in m.team_ids)
        writer.writerow(_csv_row(kpi.month, "manager", teams, m.manager_name, m))
    for t in kpi.teams:
        writer.writerow(_csv_row(kpi.month, "team", t.team_name, t.manager_name, t))
    writer.writerow(_csv_row(kpi.month, "organisation", "", "", kpi))
    return out.getvalue()


def csv_filename(org: Organisation, month: Month) -> str:
    return f"coachpass-{org.id}-{month}.csv"


def build_report(
    org: Organisation,
    month: Month,
    kpi: OrgKpi,
    trend: Sequence[TrendPoint],
    *,
    sender: str,
    recipients: Sequence[str],
    templates_dir: Path,
    generated_at: datetime,
) -> EmailMessage:
    """The report e-mail: multipart/mixed(alternative(text, html), csv).

    Every call makes a fresh Message-ID (a resend is a new message); the
    `X-Coachpass-Report: <org>/<month>` header is what identifies the report.
    """
    if not recipients:
        raise UserError(
            f"no recipients for the {month} report of {org.id}: list them under"
            " organisation leadership in the config"
        )
    if generated_at.tzinfo is None:
        raise ValueError("generated_at must be timezone-aware")
    messages = load_messages(templates_dir, org.language)
    context = _context(org, month, kpi, trend, messages, generated_at)
    env = template_environment(templates_dir)

    message = new_message()  # CRLF, and non-ASCII names encoded so they read back
    set_text_header(
        message,
        "Subject",
        str(messages["report_subject_format"]).format(month=month, org=org.name),
    )
    sender_name, sender_address = parseaddr(sender)
    set_address_header(message, "From", sender_name, sender_address)
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(generated_at)
    domain = parseaddr(sender)[1].rpartition("@")[2] or "coachpass.invalid"
    # Short and random (see connectors.mail.new_message_id for why not make_msgid).
    message["Message-ID"] = f"<cp.report.{secrets.token_hex(10)}@{domain}>"
    message[REPORT_HEADER] = f"{org.id}/{month}"
    message.set_content(env.get_template("report.txt.j2").render(context))
    message.add_alternative(env.get_template("report.html.j2").render(context), subtype="html")
    # A byte-order mark lets Excel recognise UTF-8 (names like "Åsa Öberg").
    message.add_attachment(
        ("\ufeff" + report_csv(org, kpi)).encode("utf-8"),
        maintype="text",
        subtype="csv",
        filename=csv_filename(org, month),
        params={"charset": "utf-8"},
    )
    return message
