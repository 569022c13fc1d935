"""The agenda put into every coaching invite, built from the written guidelines.

The guidelines (`config/guidelines/<language>.md`) are the single source: the agenda
quotes the month's focus theme and the session steps from them, condensed to their
bullet points, so editing the guideline text changes every future invite.

Guideline structure the parser relies on (both languages):

- `## <theme prefix> <name>` sections are focus themes (prefix from the message
  catalogue, e.g. "Focus theme:" / "Fokustema:"); their `- ` bullets are the agenda text.
- The section titled by `guideline_session_heading` holds `### ` steps (before, during,
  after), each with `- ` bullets.

The month's theme is the same for every seller of the organisation in a month (so
managers prepare one theme, and neighbouring sellers can compare notes). Booking pins it
in the store when the month's first agenda is made (`scheduler.sessions.month_theme`),
so editing the theme list never changes a month already planned; a new month takes the
theme after the last pinned one (`next_theme`), and without any pin the themes rotate
by month number: index = (year * 12 + month - 1) mod number of themes.

Markdown links (`[text](url)`) in the guideline points become links in the HTML agenda
and "text (url)" in the plain text; the written guidelines go out as HTML rendered with
Python-Markdown (`guidelines_html`), never as raw Markdown.

The invitation is shared: Google and Graph keep one description per event, seen by
every attendee. So the agenda never carries the manager's personal link to the page
where the outcome is recorded; it only says that the manager records it through the
link Coachpass e-mailed them (`scheduler.web.notices`).

Templates and the catalogue live in `config/templates/` (loaded with `StrictUndefined`,
HTML autoescaped); this module also offers the loaders to `scheduler.report.render`.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
import markdown
from markupsafe import Markup

from scheduler.errors import UserError
from scheduler.model import Month, Organisation, Person, Team
from scheduler.sessions.followups import followup_items

MESSAGES_FILE = "messages.yaml"


# ---------------------------------------------------------------------------
# Templates and message catalogue (shared with scheduler.report.render)
# ---------------------------------------------------------------------------


def template_environment(templates_dir: Path) -> jinja2.Environment:
    """Jinja2 environment over `templates_dir`: strict (a misspelt variable is an
    error, not an empty string) and autoescaping for `*.html.j2` templates.

    One environment per folder is kept, so templates are compiled once rather than
    once per invite; Jinja2 still reloads a template whose file changed."""
    if not templates_dir.is_dir():
        raise UserError(f"templates folder {templates_dir} does not exist")
    return _environment(str(templates_dir.resolve()))


@functools.lru_cache(maxsize=8)
def _environment(folder: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "html.j2"), default_for_string=True
        ),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md_text"] = md_text
    env.filters["md_html"] = md_html
    return env


_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+|mailto:[^)\s]+)\)")


def md_text(text: str) -> str:
    """`[text](url)` -> `text (url)`, for the plain-text agenda."""
    return _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", text)


def md_html(text: str) -> Markup:
    """The point escaped, with `[text](url)` (http, https, mailto only) as a link."""
    out, last = [], 0
    for m in _LINK.finditer(text):
        out.append(html.escape(text[last : m.start()]))
        out.append(f'<a href="{html.escape(m.group(2))}">{html.escape(m.group(1))}</a>')
        last = m.end()
    out.append(html.escape(text[last:]))
    return Markup("".join(out))


def _file_version(path: Path) -> tuple[str, int, int]:
    """Cache key that changes when the file is edited (the service runs for months)."""
    try:
        stat = path.stat()
    except OSError:
        return (str(path), -1, -1)  # the read below reports the problem
    return (str(path.resolve()), stat.st_mtime_ns, stat.st_size)


def load_messages(templates_dir: Path, language: str) -> Mapping[str, Any]:
    """The catalogue block of `language` from `<templates_dir>/messages.yaml`."""
    path = templates_dir / MESSAGES_FILE
    catalogue = _read_catalogue(_file_version(path))
    if not isinstance(catalogue, dict) or language not in catalogue:
        known = ", ".join(sorted(catalogue)) if isinstance(catalogue, dict) else "none"
        raise UserError(
            f"language {language!r} (organisation.language) has no messages in {path};"
            f" available: {known}"
        )
    return MappingProxyType(catalogue[language])


@functools.lru_cache(maxsize=8)
def _read_catalogue(version: tuple[str, int, int]) -> Any:
    from scheduler.settings.yaml_lines import parse_yaml

    path = Path(version[0])
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read message catalogue {path}: {exc.strerror}") from None
    if not text.strip():
        return None  # said below: the language has no messages
    # The config's loader: every YAML problem (an impossible date too) is a UserError
    # at file:line:column, and `No` / `on` stay words in a translation.
    return parse_yaml(text, path).data


def month_name(messages: Mapping[str, Any], month: Month) -> str:
    return f"{messages['month_names'][month.month - 1]} {month.year}"


# ---------------------------------------------------------------------------
# Guidelines
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GuidelinePart:
    """A `### ` step inside a section (e.g. "Before") and its bullet points."""

    title: str
    bullets: tuple[str, ...]


@dataclass(frozen=True)
class GuidelineSection:
    title: str  # heading text without the theme prefix
    bullets: tuple[str, ...]  # bullets directly under the `## ` heading
    parts: tuple[GuidelinePart, ...] = ()
    theme: bool = False


@dataclass(frozen=True)
class Guidelines:
    language: str
    markdown: str
    sections: tuple[GuidelineSection, ...]

    @property
    def themes(self) -> tuple[GuidelineSection, ...]:
        return tuple(s for s in self.sections if s.theme)

    def section(self, title: str) -> GuidelineSection | None:
        for s in self.sections:
            if s.title.casefold() == title.casefold():
                return s
        return None


_BULLET = re.compile(r"^\s*[-*]\s+(.*)$")


def _plain(text: str) -> str:
    # Invites are read in clients that show raw text: drop markdown emphasis markers.
    return re.sub(r"(\*\*|__|\*|`)", "", text).strip()


def _bullets(lines: Sequence[str]) -> tuple[str, ...]:
    """`- ` items; an indented line continues the bullet above it, other text is prose
    and is left out of the condensed agenda."""
    items: list[str] = []
    continuing = False
    for line in lines:
        match = _BULLET.match(line)
        if match:
            items.append(match.group(1).strip())
            continuing = True
        elif continuing and line.startswith((" ", "\t")) and line.strip():
            items[-1] += " " + line.strip()
        else:
            continuing = False
    return tuple(_plain(i) for i in items)


def parse_guidelines(markdown: str, language: str, theme_prefix: str) -> Guidelines:
    sections: list[GuidelineSection] = []
    blocks: list[tuple[str, list[str]]] = []
    for line in markdown.splitlines():
        if line.startswith("## "):
            blocks.append((line[3:].strip(), []))
        elif blocks:
            blocks[-1][1].append(line)
    for heading, lines in blocks:
        own: list[str] = []
        parts: list[tuple[str, list[str]]] = []
        for line in lines:
            if line.startswith("### "):
                parts.append((line[4:].strip(), []))
            elif parts:
                parts[-1][1].append(line)
            else:
                own.append(line)
        theme = heading.casefold().startswith(theme_prefix.casefold())
        title = heading[len(theme_prefix) :].strip() if theme else heading
        sections.append(
            GuidelineSection(
                title=title,
                bullets=_bullets(own),
                parts=tuple(GuidelinePart(t, _bullets(ls)) for t, ls in parts),
                theme=theme,
            )
        )
    return Guidelines(language, markdown, tuple(sections))


def load_guidelines(guidelines_dir: Path, language: str, theme_prefix: str) -> Guidelines:
    path = guidelines_dir / f"{language}.md"
    return _load_guidelines(_file_version(path), language, theme_prefix)


@functools.lru_cache(maxsize=16)
def _load_guidelines(version: tuple[str, int, int], language: str, theme_prefix: str) -> Guidelines:
    path = Path(version[0])
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(
            f"cannot read the coaching guidelines {path} (organisation.language"
            f" {language!r}): {exc.strerror}"
        ) from None
    guidelines = parse_guidelines(text, language, theme_prefix)
    if not guidelines.themes:
        raise UserError(
            f"the coaching guidelines {path} have no focus themes: add sections headed"
            f" '## {theme_prefix} <name>' with bullet points"
        )
    return guidelines


def theme_index(month: Month, count: int) -> int:
    """Which theme a month gets: consecutive months walk through the themes in order."""
    return (month.year * 12 + month.month - 1) % count


def month_theme(guidelines: Guidelines, month: Month) -> GuidelineSection:
    """The rotation by month number: used for a month without a pinned theme."""
    themes = guidelines.themes
    return themes[theme_index(month, len(themes))]


def next_theme(
    guidelines: Guidelines, month: Month, last_pinned: tuple[Month, str] | None
) -> GuidelineSection:
    """The theme for a month not yet pinned: the one after the last pinned month's
    theme in the current list (one step per month in between), so adding or removing
    a theme never reshuffles the months that follow; by month number otherwise."""
    themes = guidelines.themes
    if last_pinned is not None:
        before, title = last_pinned
        titles = [t.title.casefold() for t in themes]
        if title.casefold() in titles:
            gap = (month.year * 12 + month.month) - (before.year * 12 + before.month)
            return themes[(titles.index(title.casefold()) + gap) % len(themes)]
    return month_theme(guidelines, month)


_GUIDELINES_PAGE = """<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title></head>
<body style="margin:0;padding:16px"><div style="font-family:Arial,Helvetica,sans-serif;\
font-size:14px;line-height:1.5;color:#1f2328;max-width:720px">
{body}
</div></body></html>
"""


@functools.lru_cache(maxsize=8)
def _markdown_html(text: str) -> str:
    # The same guidelines go into every invite of a run: 10 ms of Markdown each
    # was most of the CPU time of booking 10,000 sessions.
    return markdown.markdown(text, extensions=["sane_lists"])


def guidelines_html(guidelines: Guidelines, title: str) -> str:
    """The written guidelines as an HTML page (Python-Markdown), for the invite: mail
    and calendar clients show an .md attachment as plain text with its markup."""
    body = _markdown_html(guidelines.markdown)
    return _GUIDELINES_PAGE.format(lang=guidelines.language, title=html.escape(title), body=body)


# ---------------------------------------------------------------------------
# Agenda
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Agenda:
    subject: str
    text: str
    html: str
    theme: str
    guideline_markdown: str  # the guideline file's text
    guideline_html: str  # the same rendered as an HTML page: what invites carry


def _followup_lines(text: str) -> list[str]:
    """Follow-ups as stored: one item per marked line, or "a; b" (`followup_items`)."""
    return followup_items(text)


def session_times(
    messages: Mapping[str, Any], people: Sequence[Person], start: datetime, end: datetime
) -> list[tuple[str, str]]:
    """The session's date and time in each reader's zone: (name, text) per person whose
    zone shows a different time, or one line without a name when all read the same."""
    lines: list[tuple[str, str]] = []
    for person in people:
        try:
            zone: Any = ZoneInfo(person.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = start.tzinfo
        a, b = start.astimezone(zone), end.astimezone(zone)
        day = (
            f"{messages['weekday_names'][a.weekday()]} {a.day} "
            f"{messages['month_names'][a.month - 1]} {a.year}"
        )
        text = f"{day}, {a:%H:%M}–{b:%H:%M} {a:%Z}".strip()
        if all(text != t for _, t in lines):
            lines.append((person.name, text))
    return [("", lines[0][1])] if len(lines) == 1 else lines


def render_agenda(
    org: Organisation,
    team: Team,
    seller: Person,
    month: Month,
    *,
    previous_followups: str,
    video_url: str | None,
    templates_dir: Path,
    guidelines_dir: Path,
    start: datetime | None = None,
    end: datetime | None = None,
    theme: GuidelineSection | None = None,
) -> Agenda:
    """`theme`: the month's pinned theme (booking passes it); without it the rotation by
    month number. `start`/`end`: the session's time, shown in each reader's zone."""
    messages = load_messages(templates_dir, org.language)
    guidelines = load_guidelines(
        guidelines_dir, org.language, str(messages["guideline_theme_prefix"])
    )
    theme = theme or month_theme(guidelines, month)
    session = guidelines.section(str(messages["guideline_session_heading"]))
    context = {
        "t": messages,
        "org": org,
        "manager": team.manager,
        "seller": seller,
        "month": str(month),
        "month_name": month_name(messages, month),
        "when": (
            session_times(messages, (team.manager, seller), start, end)
            if start is not None and end is not None
            else []
        ),
        "theme": theme,
        "followups": _followup_lines(previous_followups),
        "structure": session.parts if session else (),
        "video_url": video_url,
        "guideline_url": org.guideline_url,
        "session_minutes": org.policy.session_minutes,
    }
    env = template_environment(templates_dir)
    subject = str(messages["agenda_subject_format"]).format(
        manager=team.manager.name, seller=seller.name, month=month
    )
    return Agenda(
        subject=subject,
        text=env.get_template("agenda.txt.j2").render(context),
        html=env.get_template("agenda.html.j2").render(context),
        theme=theme.title,
        guideline_markdown=guidelines.markdown,
        guideline_html=guidelines_html(guidelines, str(messages["agenda_guidelines"])),
    )


def no_link_text(org: Organisation, templates_dir: Path) -> str:
    """What the agenda says where the meeting link goes when the provider was asked
    for one and the link is shown by the invitation itself (see `LINK_MARK`)."""
    return str(load_messages(templates_dir, org.language)["agenda_video_in_invite"])
