"""Single-value checks shared by the YAML models and the CSV people import.

Each check returns the normalised value or raises `ValueError` with the words the
user sees after `file:line: field:` (so no field name in the message itself).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
import zoneinfo
from dataclasses import dataclass
from datetime import time
from email.utils import parseaddr
from functools import cache
from pathlib import PurePosixPath, PureWindowsPath

import email_validator

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
LANGUAGES = ("sv", "en")
_TIME = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")
#: A key that names a secret. `<key>_env` / `<key>_file` are how secrets are given.
SECRET_KEY = re.compile(
    r"(?:^|_)(?:password|passwd|secret|token|private_key|api_key|apikey)$", re.IGNORECASE
)


def suggest(value: str, choices: list[str] | tuple[str, ...]) -> str:
    """`; did you mean 'x'?` for a close match, else ''."""
    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""


@cache
def _zones() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


def check_timezone(value: str) -> str:
    if value in _zones():
        return value
    raise ValueError(f"unknown time zone {value!r}{suggest(value, _zones())}")


@cache
def _countries() -> dict[str, tuple[str, ...]]:
    import holidays  # imported late: it is slow to import and only needed here

    supported = holidays.list_supported_countries()
    # holidays also accepts alpha-3 codes; the config uses alpha-2 only.
    return {code: tuple(subs) for code, subs in supported.items() if len(code) == 2}


def check_country(value: str) -> str:
    if value in _countries():
        return value
    if value.upper() in _countries():
        raise ValueError(f"unknown country {value!r}; did you mean {value.upper()!r}?")
    raise ValueError(
        f"unknown country {value!r}: use an ISO 3166 alpha-2 code with public holidays "
        "in the holidays package (e.g. SE, NO, DE, US)"
    )


def check_subdivision(country: str, value: str) -> str:
    subs = _countries().get(country, ())
    if value in subs:
        return value
    if not subs:
        raise ValueError(f"country {country!r} has no subdivisions; remove subdivision")
    hint = suggest(value, subs)
    if hint:
        raise ValueError(f"unknown subdivision {value!r} of {country}{hint}")
    listed = ", ".join(subs[:12]) + (", ..." if len(subs) > 12 else "")
    raise ValueError(f"unknown subdivision {value!r} of {country}: use one of {listed}")


def control_character(value: str, *, allow: str = "") -> str | None:
    """The first character of `value` that must not enter the config, as `U+XXXX`,
    or None. Control characters (C0, DEL, C1) and the Unicode line and paragraph
    separators are refused: in a name they break mail headers, iCalendar lines, CSV
    rows and terminal output. `allow` lists characters a field may hold (a note may
    have line breaks and tabs)."""
    for char in value:
        if char in allow:
            continue
        if unicodedata.category(char) in _CONTROL_CATEGORIES:
            return f"U+{ord(char):04X}"
    return None


_CONTROL_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


def control_message(code: str) -> str:
    return f"contains a control character ({code}); write it as one line of plain text"


def check_text(value: str) -> str:
    """A name or other one-line text: no control characters."""
    code = control_character(value)
    if code is not None:
        raise ValueError(control_message(code))
    return value


def check_name(value: str) -> str:
    """A person's, team's or organisation's name: one line, with runs of spaces made
    one (mail readers collapse them in a header, so the name would not read back)."""
    name = " ".join(part for part in check_text(value).split(" ") if part)
    if not name:
        raise ValueError("empty: write the name")
    return name


def check_email(value: str) -> str:
    """An RFC 5322 address (addr-spec) that is also safe as a file name in the local
    connector's folder. Checked offline: the domain is never looked up."""
    value = value.strip()
    code = control_character(value)
    if code is not None:
        raise ValueError(control_message(code))
    _valid_address(value)
    return value


def _valid_address(value: str, *, shown: str | None = None) -> None:
    try:
        email_validator.validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except email_validator.EmailNotValidError as exc:
        reason = str(exc).rstrip(".")
        raise ValueError(
            f"{shown or value!r} is not an e-mail address: {reason[:1].lower()}{reason[1:]}"
        ) from None
    if not value.isascii():
        # RFC 5322 addresses are ASCII; a non-ASCII one needs SMTPUTF8 everywhere.
        raise ValueError(
            f"{shown or value!r} is not an e-mail address: write the domain in its ASCII "
            "(xn--) form"
        )
    if "/" in value or "\\" in value:
        # Valid in RFC 5322, but the local connector turns addresses into file names.
        raise ValueError(
            f"{shown or value!r} is not an e-mail address: '/' and '\\' are not allowed"
        )


def check_sender(value: str) -> str:
    """`Name <address>` or a bare address."""
    example = " (e.g. 'Coachpass <cp@acme.example>')"
    code = control_character(value)
    if code is not None:
        raise ValueError(control_message(code))
    _name, address = parseaddr(value)
    if not address or "@" not in address:
        raise ValueError(f"{value!r} is not an e-mail address{example}")
    local, _, domain = address.rpartition("@")
    # The default sender is ...@localhost (outbox only), a name email-validator
    # reserves; any other special-use domain is refused.
    checked = f"{local}@localhost.example" if domain.lower() == "localhost" else address
    try:
        _valid_address(checked, shown=address)
    except ValueError as exc:
        raise ValueError(f"{exc}{example}") from None
    return value


def check_local_calendar(value: str) -> str:
    """A calendar of the local connector: a path relative to its folder that stays
    inside it (no absolute path, no `..`), so a config or CSV row cannot make the
    connector read or write any other file."""
    for kind in (PurePosixPath, PureWindowsPath):
        path = kind(value)
        if path.is_absolute() or path.drive or path.root or value.startswith("~"):
            raise ValueError(
                f"{value!r} is an absolute path: give the calendar relative to the local "
                "connector's folder (connectors.local.path)"
            )
        if ".." in path.parts:
            raise ValueError(
                f"{value!r} leaves the local connector's folder ('..'): give a path inside it"
            )
    return value


def check_language(value: str) -> str:
    if value in LANGUAGES:
        return value
    raise ValueError(f"unsupported language {value!r}: use sv or en")


def parse_clock(value: object) -> time:
    text = str(value).strip()
    match = _TIME.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a time of day as HH:MM (24-hour, e.g. '08:30')")
    return time(int(match.group(1)), int(match.group(2)))


def parse_weekday(value: object) -> int:
    text = str(value).strip().lower()
    if text in WEEKDAYS:
        return WEEKDAYS.index(text)
    if text in _FULL_WEEKDAYS:
        return _FULL_WEEKDAYS.index(text)
    raise ValueError(f"unknown weekday {value!r}: use {', '.join(WEEKDAYS)}")


def check_cron(value: str) -> str:
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(value, timezone="UTC")
    except ValueError as exc:
        raise ValueError(
            f"cron expression {value!r} does not parse: {exc} "
            "(5 fields: minute hour day month weekday)"
        ) from None
    return value


def check_https_url(value: str) -> str:
    if not re.match(r"^https://[^\s/]+\S*$", value):
        raise ValueError(f"{value!r} is not an https:// URL")
    return value


def check_public_base_url(value: str) -> str:
    """Where managers open their page: https, or http on this machine only (a link
    sent over plain http elsewhere would carry its token in the clear). No query or
    fragment: paths are added to it."""
    from urllib.parse import urlsplit

    try:
        url = urlsplit(value.strip())
        host, port = url.hostname or "", url.port
    except ValueError:
        raise ValueError(f"{value!r} is not a URL") from None
    del port  # read only so that a bad port is refused here
    local = host in ("localhost", "127.0.0.1", "::1")
    if url.scheme != "https" and not (url.scheme == "http" and local):
        raise ValueError(f"{value!r}: use an https:// address (http:// only for localhost)")
    if not host or url.query or url.fragment or url.username or url.password:
        raise ValueError(f"{value!r}: give scheme, host and an optional path, nothing else")
    if control_character(value) is not None or " " in value:
        raise ValueError(f"{value!r} holds a space or control character")
    return value.strip().rstrip("/")


def listen_address(text: str, lowest: int = 1) -> tuple[str, int] | None:
    """`host:port` (IPv6 as `[::1]:8080`, port `lowest`-65535) -> (host, port); ""
    or "off" -> None; ValueError saying what is wrong otherwise."""
    text = text.strip()
    if text in ("", "off"):
        return None
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"{text!r} is not host:port (e.g. 127.0.0.1:8090)")
    if not lowest <= int(port) <= 65535:
        raise ValueError(f"{text!r}: the port must be {lowest}-65535")
    return host, int(port)


def check_web_listen(value: str) -> str:
    """The page's address to listen on: host:port (the page cannot be off)."""
    if listen_address(value) is None:
        raise ValueError("give host:port, e.g. 127.0.0.1:8090")
    return value.strip()


def check_url_template(value: str) -> str:
    """A fallback video link; `{key}` (the session key) is the one placeholder."""
    try:
        value.format(key="cp0")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"{value!r} has a bad placeholder ({exc}); only {{key}} may be used"
        ) from None
    return value


def check_slug(value: str) -> str:
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", value):
        raise ValueError(
            f"{value!r} is not an id: use letters, digits, '.', '_' or '-' (no spaces)"
        )
    return value


@dataclass(frozen=True, order=True)
class Problem:
    """One line of a validation report: `file:line: field.path: message`."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
