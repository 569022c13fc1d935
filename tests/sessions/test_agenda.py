"""The agenda rendered from the real guidelines and templates in config/."""

from __future__ import annotations

import shutil
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import pytest
import yaml

from scheduler.errors import UserError
from scheduler.model import Month, Organisation, Person, Policy, Team
from scheduler.sessions.agenda import (
    Agenda,
    load_guidelines,
    load_messages,
    month_theme,
    parse_guidelines,
    render_agenda,
    theme_index,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "config" / "templates"
GUIDELINES = ROOT / "config" / "guidelines"

EN_THEMES = [
    "Pipeline review",
    "Discovery questions",
    "Negotiation",
    "Account planning",
    "Call listening",
    "Personal development",
]


def person(pid: str, name: str) -> Person:
    return Person(pid, name, f"{pid}@acme.example", "Europe/Stockholm", "SE", "local", pid)


MANAGER = person("m1", "Anna Berg")
SELLER = person("s1", "Erik Lund")
DECEMBER = Month(2026, 12)
TEAM = Team("nord", "Nord", MANAGER, (SELLER, person("s2", "Åsa Öberg")))


def org(language: str = "en", guideline_url: str | None = None) -> Organisation:
    return Organisation(
        "acme",
        "Acme",
        "Europe/Stockholm",
        "SE",
        language,
        Policy(),
        (TEAM,),
        guideline_url=guideline_url,
    )


def agenda(
    language: str = "en",
    *,
    seller: Person = SELLER,
    month: Month = DECEMBER,
    followups: str = "",
    video: str | None = None,
    guideline_url: str | None = None,
    templates: Path = TEMPLATES,
) -> Agenda:
    return render_agenda(
        org(language, guideline_url),
        TEAM,
        seller,
        month,
        previous_followups=followups,
        video_url=video,
        templates_dir=templates,
        guidelines_dir=GUIDELINES,
    )


class Tags(HTMLParser):
    """Collects start tags and text, to check the HTML as a browser would read it."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.links += [v or "" for k, v in attrs if k == "href"]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags


# ---------------------------------------------------------------------------
# Guidelines and themes
# ---------------------------------------------------------------------------


def test_english_guidelines_have_the_six_focus_themes_in_order() -> None:
    guidelines = load_guidelines(GUIDELINES, "en", "Focus theme:")
    assert [t.title for t in guidelines.themes] == EN_THEMES
    assert all(len(t.bullets) >= 3 for t in guidelines.themes)
    session = guidelines.section("How a session runs")
    assert session is not None
    assert [p.title for p in session.parts] == ["Before", "During", "After"]


def test_both_languages_match() -> None:
    en = load_guidelines(
        GUIDELINES, "en", str(load_messages(TEMPLATES, "en")["guideline_theme_prefix"])
    )
    sv = load_guidelines(
        GUIDELINES, "sv", str(load_messages(TEMPLATES, "sv")["guideline_theme_prefix"])
    )
    assert len(sv.themes) == len(en.themes)
    assert len(sv.sections) == len(en.sections)
    catalogue = yaml.safe_load((TEMPLATES / "messages.yaml").read_text(encoding="utf-8"))
    assert set(catalogue["sv"]) == set(catalogue["en"])
    assert len(catalogue["sv"]["month_names"]) == len(catalogue["en"]["month_names"]) == 12


def test_guidelines_are_short_enough_to_read_in_five_minutes() -> None:
    # About 200 words a minute: five minutes is 1,000 words.
    for language in ("en", "sv"):
        words = (GUIDELINES / f"{language}.md").read_text(encoding="utf-8").split()
        assert 300 < len(words) <= 1000, language


def test_theme_rotates_by_month_and_is_shared_by_the_team() -> None:
    # 2026-01: (2026 * 12 + 0) mod 6 = 24312 mod 6 = 0 -> the first theme.
    assert theme_index(Month(2026, 1), 6) == 0
    themes = [agenda(month=Month(2026, m)).theme for m in range(1, 8)]
    assert themes == [*EN_THEMES, EN_THEMES[0]]
    # Across a year boundary the walk continues: 2025-12 is the theme before 2026-01.
    assert agenda(month=Month(2025, 12)).theme == EN_THEMES[-1]
    # Neighbouring sellers get the same theme in the same month.
    other = TEAM.sellers[1]
    assert agenda(seller=other, month=Month(2026, 4)).theme == agenda(month=Month(2026, 4)).theme


def test_parser_joins_continued_bullets_and_drops_markup() -> None:
    markdown = (
        "# Title\n\n## Focus theme: Listening\n\nSome prose.\n\n"
        "- **Ask** open questions\n  that run over two lines\n- Then `listen`\nA paragraph\n"
        "  that is indented but not a bullet\n\n## Other\n- x\n"
    )
    guidelines = parse_guidelines(markdown, "en", "Focus theme:")
    (theme,) = guidelines.themes
    assert theme.title == "Listening"
    assert theme.bullets == ("Ask open questions that run over two lines", "Then listen")
    assert month_theme(guidelines, Month(2030, 5)) is theme


def test_guidelines_without_themes_are_a_user_error(tmp_path: Path) -> None:
    (tmp_path / "en.md").write_text("# Coaching\n\n## Why\n- because\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"en\.md.*Focus theme:"):
        load_guidelines(tmp_path, "en", "Focus theme:")


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------


def test_english_agenda_content() -> None:
    a = agenda(
        followups="- Call Volvo about the renewal\n\n* Send the revised offer\n",
        video="https://video.example/cp123",
        month=Month(2026, 3),
    )
    assert a.subject == "Coaching: Anna Berg / Erik Lund (2026-03)"
    # 2026-03: (24312 + 2) mod 6 = 2 -> Negotiation.
    assert a.theme == "Negotiation"
    for expected in (
        "Anna Berg",
        "Erik Lund",
        "March 2026",
        "This month's focus theme: Negotiation",
        "- Role-play the hardest objection the customer is likely to raise.",
        "- Call Volvo about the renewal",
        "- Send the revised offer",
        "Video: https://video.example/cp123",
        "Before",
        "During",
        "After",
        "Coaching guidelines: attached to this invitation",
    ):
        assert expected in a.text, expected
    assert "none noted" not in a.text
    assert a.guideline_markdown == (GUIDELINES / "en.md").read_text(encoding="utf-8")


def test_swedish_agenda_and_defaults() -> None:
    a = agenda("sv", guideline_url="https://intranet.example/coachning")
    assert a.subject == "Coachning: Anna Berg / Erik Lund (2026-12)"
    assert a.theme == "Personlig utveckling"  # index 5, as in English
    assert "december 2026" in a.text
    assert "Uppföljningspunkter från förra sessionen:\ninga noterade" in a.text
    assert "Video: använd möteslänken i inbjudan" in a.text
    assert "Riktlinjer för coachning: https://intranet.example/coachning" in a.text
    assert "https://intranet.example/coachning" in parse(a.html).links
    assert "Fokustema" in a.guideline_markdown


def test_html_is_escaped_and_text_is_not() -> None:
    sneaky = person("s9", 'Eve <script>alert("x")</script> & Co')
    a = agenda(
        seller=sneaky,
        followups="<img src=x onerror=alert(1)>",
        video='https://video.example/?a=1&b="2"',
    )
    tags = parse(a.html)
    assert "script" not in tags.tags and "img" not in tags.tags
    assert 'Eve <script>alert("x")</script> & Co' in "".join(tags.text)
    assert tags.links == ['https://video.example/?a=1&b="2"']
    assert 'Eve <script>alert("x")</script> & Co' in a.text  # plain text stays plain
    assert "<img src=x onerror=alert(1)>" in a.text


def test_templates_are_strict(tmp_path: Path) -> None:
    shutil.copytree(TEMPLATES, tmp_path, dirs_exist_ok=True)
    path = tmp_path / "agenda.txt.j2"
    path.write_text(path.read_text(encoding="utf-8") + "{{ selller.name }}\n", encoding="utf-8")
    with pytest.raises(jinja2.UndefinedError, match="selller"):
        agenda(templates=tmp_path)


def test_unknown_language_names_the_setting_and_file() -> None:
    with pytest.raises(UserError, match=r"'de'.*organisation\.language.*messages\.yaml"):
        agenda("de")


def test_edited_guidelines_and_catalogue_are_picked_up(tmp_path: Path) -> None:
    # The service runs for months: cached files must be re-read after an edit.
    templates, guidelines = tmp_path / "templates", tmp_path / "guidelines"
    shutil.copytree(TEMPLATES, templates)
    shutil.copytree(GUIDELINES, guidelines)

    def render() -> Agenda:
        return render_agenda(
            org(),
            TEAM,
            SELLER,
            DECEMBER,
            previous_followups="",
            video_url=None,
            templates_dir=templates,
            guidelines_dir=guidelines,
        )

    assert render().theme == "Personal development"
    guide = guidelines / "en.md"
    guide.write_text(
        guide.read_text(encoding="utf-8").replace("Personal development", "Growth plan"),
        encoding="utf-8",
    )
    catalogue = templates / "messages.yaml"
    catalogue.write_text(
        catalogue.read_text(encoding="utf-8").replace(
            'agenda_subject_format: "Coaching: ', 'agenda_subject_format: "1:1 coaching: '
        ),
        encoding="utf-8",
    )
    again = render()
    assert again.theme == "Growth plan"
    assert again.subject.startswith("1:1 coaching: Anna Berg")
