"""The agenda's date and time in each reader's zone, follow-ups as a list, guideline
links, the guidelines as HTML in the invite, and focus themes pinned per month."""

from __future__ import annotations

import base64
import shutil
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import icalendar
import yaml

from scheduler.model import Month, Organisation, Person, Policy, Team
from scheduler.runtime import Runtime
from scheduler.sessions.agenda import Agenda, render_agenda
from scheduler.sessions.booking import book_month
from scheduler.sessions.month_theme import theme_of_month
from scheduler.settings.load import load_settings
from scheduler.store.themes import pinned_theme
from tests.orgs import write_org

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "config" / "templates"
GUIDELINES = ROOT / "config" / "guidelines"
MONTH = Month(2026, 11)
START = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)  # a Tuesday; 10:00 in Stockholm
END = datetime(2026, 11, 10, 9, 45, tzinfo=UTC)


def person(pid: str, name: str, zone: str = "Europe/Stockholm") -> Person:
    return Person(pid, name, f"{pid}@acme.example", zone, "SE", "local", pid)


MANAGER = person("m1", "Anna Berg")


def render(
    seller: Person,
    language: str = "en",
    followups: str = "",
    guidelines: Path = GUIDELINES,
) -> Agenda:
    team = Team("nord", "Nord", MANAGER, (seller,))
    org = Organisation("acme", "Acme", "Europe/Stockholm", "SE", language, Policy(), (team,))
    return render_agenda(
        org,
        team,
        seller,
        MONTH,
        previous_followups=followups,
        video_url=None,
        templates_dir=TEMPLATES,
        guidelines_dir=guidelines,
        start=START,
        end=END,
    )


class Page(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[str] = []
        self.items: list[str] = []
        self._li: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.links += [v or "" for k, v in attrs if k == "href"]
        if tag == "li":
            self._li = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "li" and self._li is not None:
            self.items.append("".join(self._li).strip())
            self._li = None

    def handle_data(self, data: str) -> None:
        if self._li is not None:
            self._li.append(data)


def test_date_and_time_in_each_readers_zone() -> None:
    london = render(person("s1", "Erik Lund", "Europe/London"))
    assert "When (Anna Berg): Tuesday 10 November 2026, 10:00–10:45 CET" in london.text
    assert "When (Erik Lund): Tuesday 10 November 2026, 09:00–09:45 GMT" in london.text
    assert "10:00–10:45 CET" in london.html and "09:00–09:45 GMT" in london.html
    # Both in Stockholm: one line, no names.
    same = render(person("s2", "Sara Ek"))
    assert "When: Tuesday 10 November 2026, 10:00–10:45 CET" in same.text
    swedish = render(person("s2", "Sara Ek"), "sv")
    assert "När: tisdag 10 november 2026, 10:00–10:45 CET" in swedish.text
    # Across the date line the day differs too.
    auckland = render(person("s3", "Tama", "Pacific/Auckland"))
    assert "When (Tama): Tuesday 10 November 2026, 22:00–22:45 NZDT" in auckland.text


def test_followups_separated_by_semicolons_or_lines_are_a_list() -> None:
    a = render(person("s1", "Erik"), followups="Call Volvo back; send the offer\n- Ask for a demo")
    items = Page(a.html).items
    at = items.index("Call Volvo back")  # three bullets in a row, not one
    assert items[at : at + 3] == ["Call Volvo back", "send the offer", "Ask for a demo"]
    assert "- Call Volvo back\n- send the offer\n- Ask for a demo\n" in a.text


def test_guideline_links_and_html_escaping(tmp_path: Path) -> None:
    (tmp_path / "en.md").write_text(
        "# Guidelines\n\n## How a session runs\n\n### Before\n- Read [the playbook]"
        "(https://wiki.acme.example/playbook) first\n\n"
        "## Focus theme: Listening\n- Ask <b>open</b> questions, see [notes](https://n.example/x)\n",
        encoding="utf-8",
    )
    a = render(person("s1", "Erik"), guidelines=tmp_path)
    page = Page(a.html)
    assert "https://wiki.acme.example/playbook" in page.links
    assert "https://n.example/x" in page.links
    assert "b" not in page.tags  # markup written in a point is shown, not obeyed
    assert "Ask &lt;b&gt;open&lt;/b&gt; questions" in a.html
    assert "- Read the playbook (https://wiki.acme.example/playbook) first" in a.text
    assert "](" not in a.text and "](" not in a.html
    # The whole guidelines as an HTML page rendered from the Markdown.
    guide = Page(a.guideline_html)
    assert {"h1", "h2", "h3", "ul", "li", "a"} <= set(guide.tags)
    assert "## " not in a.guideline_html and "https://wiki.acme.example/playbook" in guide.links


def _org_with_guidelines(tmp_path: Path) -> Path:
    guidelines = tmp_path / "guidelines"
    shutil.copytree(GUIDELINES, guidelines)
    path = write_org(tmp_path, sellers=2)
    config = yaml.safe_load(path.read_text())
    config["guidelines_dir"] = "guidelines"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_booking_attaches_the_guidelines_as_html(tmp_path: Path) -> None:
    config = _org_with_guidelines(tmp_path)
    rt = Runtime.open(load_settings(config))
    try:
        book_month(rt, Month(2031, 3), datetime(2031, 2, 20, 8, tzinfo=UTC))
    finally:
        rt.close()
    cal = icalendar.Calendar.from_ical((tmp_path / "calendars" / "boss.ics").read_bytes())
    events = list(cal.walk("VEVENT"))
    assert len(events) == 2
    for event in events:
        attaches = event.get("ATTACH")
        attaches = attaches if isinstance(attaches, list) else [attaches]
        files = {str(a.params.get("X-FILENAME")): a for a in attaches}
        assert set(files) == {"coaching-agenda-2031-03.html", "coaching-guidelines.html"}
        guide = files["coaching-guidelines.html"]
        assert guide.params["FMTTYPE"] == "text/html"
        html = base64.b64decode(guide.to_ical()).decode("utf-8")
        assert "<h2>" in html and "<li>" in html and "\n## " not in html


def test_themes_are_pinned_per_month_when_first_used(tmp_path: Path) -> None:
    config = _org_with_guidelines(tmp_path)
    march, april = Month(2031, 3), Month(2031, 4)
    now = datetime(2031, 2, 20, 8, tzinfo=UTC)
    rt = Runtime.open(load_settings(config))
    try:
        book_month(rt, march, now)
        pinned = pinned_theme(rt.store.engine, "acme", march)
        assert pinned is not None
        march_title, march_points = pinned
        # (2031 * 12 + 2) mod 6 = 24374 mod 6 = 2: the third theme, "Negotiation".
        assert march_title == "Negotiation"
    finally:
        rt.close()

    # An admin adds a theme at the top and rewords March's theme.
    guide = tmp_path / "guidelines" / "en.md"
    text = guide.read_text(encoding="utf-8")
    text = text.replace(
        "## Focus theme: Pipeline review",
        "## Focus theme: Storytelling\n- Tell one customer story a week\n\n"
        "## Focus theme: Pipeline review",
        1,
    )
    text = text.replace("## Focus theme: Negotiation", "## Focus theme: Negotiation\n- NEW", 1)
    guide.write_text(text, encoding="utf-8")

    rt = Runtime.open(load_settings(config))
    try:
        # March stays what it was, points and all; a booking now would say the same.
        again = theme_of_month(rt, march, now)
        assert (again.title, again.bullets) == (march_title, march_points)
        assert "NEW" not in again.bullets
        # April follows March's theme in the new list (not the month number, which
        # would now land on another theme): Negotiation -> Account planning.
        assert theme_of_month(rt, april, now).title == "Account planning"
        assert pinned_theme(rt.store.engine, "acme", april) is not None
    finally:
        rt.close()
