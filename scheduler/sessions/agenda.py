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
managers prepare one theme, and neighbouring sellers can compare notes), and rotates
through the themes month by month: index = (year * 12 + month - 1) mod number of themes.

Templates and the catalogue live in `config/templates/` (loaded with `StrictUndefined`,
HTML autoescaped); this module also offers the loaders to `scheduler.report.render`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jinja2
import yaml

from scheduler.errors import UserError
from scheduler.model import Month, Organisation, Person, Team

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
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "html.j2"), default_for_string=True
        ),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


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
    path = Path(version[0])
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"cannot read message catalogue {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise UserError(f"message catalogue {path} is not valid YAML: {exc}") from None


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
    themes = guidelines.themes
    return themes[theme_index(month, len(themes))]


# ---------------------------------------------------------------------------
# Agenda
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Agenda:
    subject: str
    text: str
    html: str
    theme: str
    guideline_markdown: str  # the guideline file's text, attached to invites


def _followup_lines(text: str) -> list[str]:
    lines = []
    for line in text.splitlines():
        match = _BULLET.match(line)
        item = (match.group(1) if match else line).strip()
        if item:
            lines.append(item)
    return lines


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
) -> Agenda:
    messages = load_messages(templates_dir, org.language)
    guidelines = load_guidelines(
        guidelines_dir, org.language, str(messages["guideline_theme_prefix"])
    )
    theme = month_theme(guidelines, month)
    session = guidelines.section(str(messages["guideline_session_heading"]))
    context = {
        "t": messages,
        "org": org,
        "manager": team.manager,
        "seller": seller,
        "month": str(month),
        "month_name": month_name(messages, month),
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
    )


def no_link_text(org: Organisation, templates_dir: Path) -> str:
    """What the agenda says where the meeting link goes when the provider was asked
    for one and the link is shown by the invitation itself (see `LINK_MARK`)."""
    return str(load_messages(templates_dir, org.language)["agenda_video_in_invite"])
