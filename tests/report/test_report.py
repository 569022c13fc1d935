"""The report e-mail and terminal text, read back the way a recipient would."""

from __future__ import annotations

import csv
import email
import email.policy
import io
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

import pytest

from scheduler.errors import UserError
from scheduler.model import (
    Month,
    Organisation,
    Person,
    Policy,
    ReportThresholds,
    SessionRecord,
    SessionState,
    Team,
    session_key,
)
from scheduler.report.kpi import OrgKpi, Rating, compute_month
from scheduler.report.render import RATING_STYLE, build_report, render_report_text, report_csv
from scheduler.report.trend import last_months, trend

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "config" / "templates"
FEB = Month(2026, 2)  # 28 days = 4 weeks
GENERATED = datetime(2026, 3, 1, 7, 30, tzinfo=UTC)
S = SessionState


def person(pid: str, name: str) -> Person:
    return Person(pid, name, f"{pid}@acme.example", "Europe/Stockholm", "SE", "local", pid)


NORD = Team("nord", "Nord", person("m1", "Anna Berg"), (person("a", "A"), person("b", "B")))
SYD = Team("syd", "Syd", person("m2", "Per Lund"), tuple(person(p, p.upper()) for p in "cde"))
OST = Team("ost", "Öst", person("m3", "Olle Ström"), tuple(person(p, p.upper()) for p in "fghij"))


def make_org(language: str = "en", teams: tuple[Team, ...] = (NORD, SYD, OST)) -> Organisation:
    return Organisation("acme", "Acme Sälj AB", "Europe/Stockholm", "SE", language, Policy(), teams)


def rec(
    team: Team,
    seller: str,
    state: SessionState,
    minutes: int = 45,
    *,
    month: Month = FEB,
    reason: str = "",
) -> SessionRecord:
    start = datetime(month.year, month.month, 9, 9, tzinfo=UTC)
    return SessionRecord(
        session_key("acme", team.manager.id, seller, month, 1),
        "acme",
        team.id,
        team.manager.id,
        seller,
        month,
        1,
        state,
        start,
        start + timedelta(minutes=minutes),
        reason=reason,
    )


SESSIONS = [
    # Nord: 2 of 2 held, 60 min each -> coverage 100 %, held rate 100 %, 120 / 4 = 30 min/week.
    rec(NORD, "a", S.HELD, 60),
    rec(NORD, "b", S.HELD, 60),
    # Syd: 1 of 3 held -> 33 %; held rate 1 / (1 + 1 declined + 1 no-show) = 33 %.
    rec(SYD, "c", S.HELD),
    rec(SYD, "d", S.DECLINED),
    rec(SYD, "e", S.NO_SHOW),
    # Öst: 4 of 5 held -> 80 % (amber); j could not be booked.
    *(rec(OST, s, S.HELD) for s in "fghi"),
    rec(OST, "j", S.UNBOOKABLE, reason="on parental leave <until May> & no free time"),
    # January: one held session (a), so January has data in the trend.
    rec(NORD, "a", S.HELD, month=Month(2026, 1)),
]


def kpi_of(org: Organisation) -> OrgKpi:
    return compute_month(org, FEB, SESSIONS)


def message(
    language: str = "en",
    org: Organisation | None = None,
    recipients: tuple[str, ...] = ("ceo@acme.example", "Sales VP <vp@acme.example>"),
) -> EmailMessage:
    org = org or make_org(language)
    built = build_report(
        org,
        FEB,
        kpi_of(org),
        trend(org, last_months(FEB), SESSIONS),
        sender="Coachpass <coachpass@acme.example>",
        recipients=recipients,
        templates_dir=TEMPLATES,
        generated_at=GENERATED,
    )
    # Round-trip through bytes, as a mail client receives it.
    parsed = email.message_from_bytes(bytes(built), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


class Cells(HTMLParser):
    """Table rows as lists of (text, style) cells, plus every tag and bar width."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[tuple[str, str]]] = []
        self.tags: list[str] = []
        self.bar_widths: list[int] = []
        self._cell: list[str] | None = None
        self._style = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        a = dict(attrs)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell, self._style = [], a.get("style") or ""
        elif tag == "div" and a.get("class") == "bar":
            match = re.search(r"width:(\d+)%", a.get("style") or "")
            assert match, a
            self.bar_widths.append(int(match.group(1)))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            text = " ".join(" ".join(self._cell).split())
            self.rows[-1].append((text, self._style))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_of(msg: EmailMessage) -> Cells:
    part = msg.get_body(("html",))
    assert part is not None
    cells = Cells()
    cells.feed(part.get_content())
    return cells


def row_of(cells: Cells, name: str) -> list[tuple[str, str]]:
    """The table row whose first cell is `name` (a manager's teams follow the name)."""
    (row,) = [r for r in cells.rows if len(r) > 1 and r[0][0] == name]
    return row


# ---------------------------------------------------------------------------


def test_structure_and_headers() -> None:
    msg = message()
    assert msg["Subject"] == "Coaching KPI report 2026-02 — Acme Sälj AB"
    assert msg["X-Coachpass-Report"] == "acme/2026-02"
    assert msg["From"].addresses[0].addr_spec == "coachpass@acme.example"
    assert [a.addr_spec for a in msg["To"].addresses] == ["ceo@acme.example", "vp@acme.example"]
    assert msg["Date"].datetime == GENERATED
    assert msg.get_content_type() == "multipart/mixed"
    body, summary, per_session = msg.iter_parts()
    assert body.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in body.iter_parts()] == ["text/plain", "text/html"]
    assert summary.get_filename() == "coachpass-acme-2026-02.csv"
    assert per_session.get_filename() == "coachpass-acme-2026-02-sessions.csv"
    # Every build is a new message; the X- header is what identifies the report.
    assert message()["Message-ID"] != msg["Message-ID"]


def test_swedish_subject_headings_and_numbers() -> None:
    msg = message("sv")
    assert msg["Subject"] == "Coachningsrapport 2026-02 — Acme Sälj AB"
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Täckning: ~ 70 % (nära)" in text  # 7 of 10 sellers
    assert "Ej coachade denna månad" in text
    assert "Uteblivanden" in text and "Uteblev" not in text  # a noun heading, not a verb
    # The soft hyphen that lets the word break in a phone's HTML column is not in the text.
    assert "Genomförandegrad: ~ 78 %" in text and "\u00ad" not in text
    (header,) = [line for line in text.splitlines() if line.startswith("Chef ")]
    (total,) = [line for line in text.splitlines() if line.startswith("Totalt ")]
    assert len(header) == len(total)  # columns line up


def test_html_ranking_is_rated_by_colour_symbol_and_word() -> None:
    cells = html_of(message())
    assert "style" not in cells.tags and "script" not in cells.tags  # inline CSS only
    header = next(r for r in cells.rows if r and r[0][0] == "Manager")
    columns = [text for text, _ in header]
    assert columns == ["Manager", "Coached", "Coverage", "Held rate", "Min/manager-week"]
    anna, per, olle = (
        row_of(cells, "Anna Berg Nord"),
        row_of(cells, "Per Lund Syd"),
        row_of(cells, "Olle Ström Öst"),
    )
    assert [c for c, _ in anna[1:]] == ["2/2", "✓ 100%", "✓ 100%", "✗ 30"]
    assert RATING_STYLE[Rating.GREEN] in anna[2][1]
    assert RATING_STYLE[Rating.RED] in anna[4][1]  # 30 < 90 (75 % of 120)
    # Per: d declined, e no-show: 1 held / (1 + 1 + 1) = 33 %.
    assert [c for c, _ in per[1:4]] == ["1/3", "✗ 33%", "✗ 33%"]
    assert RATING_STYLE[Rating.RED] in per[2][1]
    assert olle[2][0] == "~ 80%" and RATING_STYLE[Rating.AMBER] in olle[2][1]
    # j could not be booked: not part of the held rate (never booked).
    assert olle[3][0] == "✓ 100%"
    total = row_of(cells, "Total")
    # 7 held sellers of 10; 7 held / (7 + 1 declined + 1 no-show) = 78 %.
    assert [c for c, _ in total[1:4]] == ["7/10", "~ 70%", "~ 78%"]
    html = message().get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert ">close<" in html and ">needs attention<" in html  # status words on the tiles
    # One manager per team: no separate team table.
    assert "Per team" not in html


def test_not_coached_sellers_named_with_why_and_escaped() -> None:
    cells = html_of(message())
    rows = {r[0][0]: [t for t, _ in r] for r in cells.rows if r and r[0][0] in ("D Syd", "J Öst")}
    assert rows["D Syd"] == ["D Syd", "Per Lund", "declined by the seller"]
    assert rows["J Öst"] == [
        "J Öst",
        "Olle Ström",
        "could not be booked: on parental leave <until May> & no free time",
    ]
    html = message().get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "&lt;until May&gt; &amp; no free time" in html


def test_trend_starts_with_the_first_month_with_data() -> None:
    cells = html_of(message())
    assert len(cells.bar_widths) == 3 * 2  # coverage, held rate, minutes x Jan, Feb
    # Jan: 1 of 10 sellers = 10 %. Feb: 70 %.
    assert cells.bar_widths[:2] == [10, 70]
    # Feb: (120 + 45 + 180) min / 4 weeks / 3 managers = 28.75 of a 120 target -> 24 %.
    assert cells.bar_widths[-1] == 24


def test_changes_since_last_month_and_unfinished_month() -> None:
    org = make_org()
    january = compute_month(org, Month(2026, 1), SESSIONS)
    text = render_report_text(
        org,
        FEB,
        kpi_of(org),
        trend(org, last_months(FEB), SESSIONS),
        templates_dir=TEMPLATES,
        generated_at=datetime(2026, 2, 20, 9, tzinfo=UTC),  # February is not over
        previous=january,
    )
    # January: 1 of 10 coached (10 %, held rate 100 %); February 70 %, 78 %.
    assert "Coverage: ~ 70% (close); +60 pp vs January 2026" in text
    assert "Held rate: ~ 78% (close); −22 pp vs January 2026" in text
    assert "Coached: 7/10; +6 vs January 2026" in text
    assert "This month is not over yet" in text
    assert "not over" not in render_report_text(
        org, FEB, kpi_of(org), [], templates_dir=TEMPLATES, generated_at=GENERATED
    )


def test_thresholds_from_the_config_are_in_the_legend_and_the_ratings() -> None:
    org = replace(
        make_org(),
        thresholds=ReportThresholds(coverage_green=0.8, coverage_amber=0.6, held_rate_green=0.75),
    )
    text = render_report_text(
        org, FEB, kpi_of(org), [], templates_dir=TEMPLATES, generated_at=GENERATED
    )
    assert "coverage ✓ from 80%, ~ from 60%; held rate ✓ from 75%, ~ from 70%" in text
    assert "✓ from the target 120, ~ from 90 (75% of the target)" in text
    (total,) = [line for line in text.splitlines() if line.startswith("Total")]
    assert "~ 70%" in total and "✓ 78%" in total  # 70 % is amber, 78 % green now


def test_team_table_when_a_manager_leads_two_teams() -> None:
    anna = NORD.manager
    twin = Team("syd", "Syd", anna, SYD.sellers)
    org = make_org(teams=(NORD, twin))
    msg = message(org=org)
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Per team" in html
    cells = html_of(msg)
    anna_row = row_of(cells, "Anna Berg Nord, Syd")
    assert anna_row[1][0] == "3/5"  # 2 + 3 sellers, 3 coached
    assert row_of(cells, "Syd Anna Berg")[1][0] == "1/3"


def test_csv_has_managers_teams_and_total() -> None:
    msg = message()
    attachment, _ = list(msg.iter_attachments())
    raw = attachment.get_payload(decode=True)
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the file as UTF-8
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [r["level"] for r in rows] == ["manager"] * 3 + ["team"] * 3 + ["organisation"]
    by_manager = {r["manager"]: r for r in rows if r["level"] == "manager"}
    olle = by_manager["Olle Ström"]
    assert (olle["team"], olle["active_sellers"], olle["held"], olle["unbookable"]) == (
        "Öst",
        "5",
        "4",
        "1",
    )
    assert float(olle["coverage_pct"]) == 80.0
    assert float(olle["minutes_per_manager_week"]) == 45.0  # 4 x 45 / 4 weeks
    total = rows[-1]
    assert float(total["coverage_pct"]) == 70.0
    assert float(total["held_rate_pct"]) == pytest.approx(77.8, abs=0.05)  # 7 / 9
    assert int(total["held_minutes"]) == 345  # 120 + 45 + 180
    # 345 / 4 weeks / 3 managers = 28.75, written with one decimal.
    assert total["minutes_per_manager_week"] == "28.8"
    assert total["target_minutes_per_manager_week"] == "120"


def test_csv_leaves_ratios_without_data_empty() -> None:
    org = make_org()
    rows = list(csv.DictReader(io.StringIO(report_csv(org, compute_month(org, FEB, [])))))
    assert rows[-1]["held_rate_pct"] == "" and rows[-1]["coverage_pct"] == "0.0"


def test_terminal_text() -> None:
    org = make_org()
    text = render_report_text(
        org,
        FEB,
        kpi_of(org),
        trend(org, last_months(FEB), SESSIONS),
        templates_dir=TEMPLATES,
        generated_at=GENERATED,
    )
    assert text.startswith("Coaching KPI report 2026-02: Acme Sälj AB\n")
    assert "Generated: 2026-03-01 08:30 CET" in text  # 07:30 UTC in Stockholm
    assert (
        "- J (Öst, Olle Ström): could not be booked: on parental leave <until May> & no free time"
        in text
    )
    assert "Coverage: ~ 70% (close)" in text and "(target 120)" in text
    assert "Highest coverage: Anna Berg (✓ 100%)" in text
    assert "Lowest coverage: Per Lund (✗ 33%)" in text
    (total,) = [line for line in text.splitlines() if line.startswith("Total")]
    assert total.split() == ["Total", "7/10", "~", "70%", "~", "78%", "✗", "29"]
    assert "  2025-09" not in text and "  2026-02  ██████████████" in text


def test_user_errors() -> None:
    org = make_org()
    with pytest.raises(UserError, match="leadership"):
        build_report(
            org,
            FEB,
            kpi_of(org),
            [],
            sender="c@acme.example",
            recipients=[],
            templates_dir=TEMPLATES,
            generated_at=GENERATED,
        )
    with pytest.raises(ValueError, match="timezone"):
        build_report(
            org,
            FEB,
            kpi_of(org),
            [],
            sender="c@acme.example",
            recipients=["x@acme.example"],
            templates_dir=TEMPLATES,
            generated_at=datetime(2026, 3, 1),
        )


HOSTILE_NAMES = {
    '=HYPERLINK("http://evil.example","click")': '\'=HYPERLINK("http://evil.example","click")',
    "+cmd|' /C calc'!A0": "'+cmd|' /C calc'!A0",
    "-2+3": "'-2+3",
    "@SUM(A1:A9)": "'@SUM(A1:A9)",
    "\tTabbed": "'\tTabbed",
    "\rReturn": "'\rReturn",
    "Plain Name": "Plain Name",
    "Ann = Boss": "Ann = Boss",  # only the first character starts a formula
}


@pytest.mark.parametrize(("name", "cell"), HOSTILE_NAMES.items(), ids=list(HOSTILE_NAMES))
def test_csv_neutralises_formulas_in_names(name: str, cell: str) -> None:
    """OWASP CSV injection: a team or manager named like a formula is written with a
    leading quote, so a spreadsheet shows it as text; the figures stay numbers."""
    team = Team("nord", name, person("m1", name), (person("a", "A"), person("b", "B")))
    org = make_org(teams=(team,))
    rows = list(csv.DictReader(io.StringIO(report_csv(org, compute_month(org, FEB, SESSIONS)))))
    manager_row, team_row, total = rows
    assert (manager_row["team"], manager_row["manager"]) == (cell, cell)
    assert (team_row["team"], team_row["manager"]) == (cell, cell)
    # Every figure column is a plain non-negative number (no quote, no sign), which is
    # why numbers are never neutralised: none of them can be negative.
    for row in rows:
        for column, value in row.items():
            if column in ("month", "level", "team", "manager") or value == "":
                continue
            assert re.fullmatch(r"[0-9]+(\.[0-9])?", value), (column, value)
    assert total["team"] == total["manager"] == ""


def test_report_headers_read_back_in_any_language_with_crlf() -> None:
    org = Organisation(
        "acme", "مبيعات Åsa 😀 AB", "Europe/Stockholm", "SE", "sv", Policy(), (NORD,)
    )
    built = build_report(
        org,
        FEB,
        kpi_of(org),
        trend(org, last_months(FEB), SESSIONS),
        sender="Coachpass Försäljning 📈 <coachpass@acme.example>",
        recipients=("ceo@acme.example",),
        templates_dir=TEMPLATES,
        generated_at=GENERATED,
    )
    raw = bytes(built)
    assert re.search(rb"(?<!\r)\n", raw) is None, "CRLF line ends throughout"
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert "مبيعات Åsa 😀 AB" in str(parsed["Subject"])
    [sender] = parsed["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (
        "Coachpass Försäljning 📈",
        "coachpass@acme.example",
    )


def test_a_month_not_started_adds_up_and_never_says_everyone_was_coached() -> None:
    org = make_org()
    ahead = [rec(team, s.id, S.BOOKED) for team in org.teams for s in team.sellers]
    for language, none in (("en", "Every seller was coached."), ("sv", "Alla säljare coachades.")):
        lang_org = make_org(language)
        text = render_report_text(
            lang_org,
            FEB,
            compute_month(lang_org, FEB, ahead),
            [],
            templates_dir=TEMPLATES,
            generated_at=datetime(2026, 1, 20, 9, tzinfo=UTC),
        )
        assert none not in text
        if language == "en":
            assert "Coached: 0/10" in text and "Not coached: 0" in text
            assert "Still ahead: 10" in text
            assert "None so far: 10 of 10 sellers have their session still ahead." in text
    rows = list(csv.DictReader(io.StringIO(report_csv(org, compute_month(org, FEB, ahead)))))
    total = rows[-1]
    assert (total["held"], total["not_coached"], total["ahead"]) == ("0", "0", "10")


def test_every_seller_coached_is_said_only_when_true() -> None:
    org = make_org()
    held = [rec(team, s.id, S.HELD) for team in org.teams for s in team.sellers]
    text = render_report_text(
        org, FEB, compute_month(org, FEB, held), [], templates_dir=TEMPLATES, generated_at=GENERATED
    )
    assert "Every seller was coached." in text and "Still ahead" not in text


def test_the_summary_splits_coached_by_how_it_is_known() -> None:
    org = make_org()
    verified = replace(rec(NORD, "a", S.HELD), verified=True)
    sessions = [verified, rec(NORD, "b", S.HELD), rec(SYD, "c", S.BOOKED)]
    kpi = compute_month(org, FEB, sessions)
    text = render_report_text(org, FEB, kpi, [], templates_dir=TEMPLATES, generated_at=GENERATED)
    lines = text.splitlines()
    coached = next(i for i, line in enumerate(lines) if line.startswith("  Coached: 2/10"))
    assert lines[coached + 1].strip() == "1 attendance verified, 0 marked by manager, 1 presumed"
    html = build_report(
        org,
        FEB,
        kpi,
        [],
        sender="Coachpass <coachpass@acme.example>",
        recipients=("ceo@acme.example",),
        templates_dir=TEMPLATES,
        generated_at=GENERATED,
    )
    assert "1 attendance verified, 0 marked by manager, 1 presumed" in str(
        html.get_body(("html",)).get_content()  # type: ignore[union-attr]
    )
    rows = list(csv.DictReader(io.StringIO(report_csv(org, kpi))))
    total = rows[-1]
    split = (total["held_verified"], total["held_by_manager"], total["held_presumed"])
    assert split == ("1", "0", "1")
    assert int(total["held"]) + int(total["not_coached"]) + int(total["ahead"]) == 10
