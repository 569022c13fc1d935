"""The monthly KPI report: an e-mail (plain text + HTML + two CSV files) and a
terminal view.

The HTML uses inline styles only (many mail clients drop `<style>` blocks) and no
JavaScript. It is fluid rather than wide: the ranking table has five columns that fit
a phone, and the per-manager details and trend charts are inline blocks that sit side
by side on a desktop and stack at 400 px. The trend is drawn as CSS bars
(`scheduler.report.charts`), which need no image library and survive clients that
block images. Figures are formatted once into a view model (`scheduler.report.view`),
so the text and HTML cannot disagree about a number. KPI definitions live in
`scheduler.report.kpi`.
"""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any

from connectors.mail import new_message, set_address_header, set_text_header
from scheduler.errors import UserError
from scheduler.model import Month, Organisation, SessionRecord, StateChange
from scheduler.report.kpi import KpiFigures, OrgKpi, TrendPoint
from scheduler.report.sessions_csv import sessions_csv, sessions_csv_filename
from scheduler.report.view import RATING_STYLE, context
from scheduler.sessions.agenda import load_messages, template_environment
from scheduler.settings.spreadsheet import as_text

REPORT_HEADER = "X-Coachpass-Report"

__all__ = ["RATING_STYLE", "build_report", "render_report_html", "render_report_text"]
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
    # Added later, so at the end: a reader that goes by position keeps working.
    "held_verified",
    "held_by_manager",
    "held_presumed",
    "not_coached",
    "ahead",
)


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def report_subject(org: Organisation, month: Month, templates_dir: Path) -> str:
    messages = load_messages(templates_dir, org.language)
    return str(messages["report_subject_format"]).format(month=month, org=org.name)


@dataclass(frozen=True)
class ReportData:
    """What one month's report is made of (the KPIs, last month's for the changes, the
    trend, and the sessions behind the per-session CSV)."""

    org: Organisation
    month: Month
    kpi: OrgKpi
    trend: Sequence[TrendPoint]
    previous: OrgKpi | None = None  # last month's, when it has data
    sessions: Sequence[SessionRecord] = ()
    history: Sequence[StateChange] = ()


def render_report_text(
    org: Organisation,
    month: Month,
    kpi: OrgKpi,
    trend: Sequence[TrendPoint],
    *,
    templates_dir: Path,
    generated_at: datetime,
    previous: OrgKpi | None = None,
) -> str:
    """The plain-text report (also the e-mail's text part), for `coachpass report`."""
    data = ReportData(org, month, kpi, trend, previous)
    return _render("report.txt.j2", data, templates_dir, generated_at)


def render_report_html(
    org: Organisation,
    month: Month,
    kpi: OrgKpi,
    trend: Sequence[TrendPoint],
    *,
    templates_dir: Path,
    generated_at: datetime,
    previous: OrgKpi | None = None,
) -> str:
    data = ReportData(org, month, kpi, trend, previous)
    return _render("report.html.j2", data, templates_dir, generated_at)


def _context(data: ReportData, templates_dir: Path, generated_at: datetime) -> dict[str, Any]:
    messages = load_messages(templates_dir, data.org.language)
    return context(
        data.org, data.month, data.kpi, data.trend, messages, generated_at, data.previous
    )


#: Lets a long word (Swedish "Genomförandegrad") break in a narrow HTML column; a
#: terminal or text mail would show it, or miscount a column, so the text drops it.
SOFT_HYPHEN = "\u00ad"


def _render(template: str, data: ReportData, templates_dir: Path, generated_at: datetime) -> str:
    values = _context(data, templates_dir, generated_at)
    text = template_environment(templates_dir).get_template(template).render(values)
    return text.replace(SOFT_HYPHEN, "") if template.endswith(".txt.j2") else text


def _csv_number(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def csv_text(value: str) -> str:
    """A text cell a spreadsheet shows as text (see `settings.spreadsheet`). Only the
    text columns (level, team, manager) pass through here: the figures are counts,
    percentages and minutes that are never negative and are written by us, so a
    number keeps reading as a number."""
    return as_text(value)


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
        str(k.held_verified),
        str(k.held_recorded),
        str(k.held_presumed),
        str(k.not_coached),
        str(k.ahead),
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
    previous: OrgKpi | None = None,
    sessions: Sequence[SessionRecord] = (),
    history: Sequence[StateChange] = (),
) -> EmailMessage:
    """The report e-mail: multipart/mixed(alternative(text, html), summary CSV,
    per-session CSV).

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
    data = ReportData(org, month, kpi, trend, previous, sessions, history)
    messages = load_messages(templates_dir, org.language)
    values = _context(data, templates_dir, generated_at)
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
    message.set_content(env.get_template("report.txt.j2").render(values).replace(SOFT_HYPHEN, ""))
    message.add_alternative(env.get_template("report.html.j2").render(values), subtype="html")
    # A byte-order mark lets Excel recognise UTF-8 (names like "Åsa Öberg").
    attachments = (
        (csv_filename(org, month), report_csv(org, kpi)),
        (sessions_csv_filename(org, month), sessions_csv(org, month, sessions, history)),
    )
    for filename, text in attachments:
        message.add_attachment(
            ("\ufeff" + text).encode("utf-8"),
            maintype="text",
            subtype="csv",
            filename=filename,
            params={"charset": "utf-8"},
        )
    return message
