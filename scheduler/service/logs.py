"""Python logging for every command, configured once: level, text or JSON lines,
ISO 8601 times with the zone offset, and no secrets.

Secrets can reach a log line through an exception message (a database URL with its
password, a bearer token in an HTTP error); the redaction filter masks them on every
record, whoever logged it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime
from typing import Any, TextIO

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")

_SECRETS = (
    # scheme://user:password@host -> scheme://user:***@host
    (re.compile(r"(?P<keep>[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s]+(?=@)", re.I), r"\g<keep>***"),
    (re.compile(r"(?P<keep>\bBearer\s+)[A-Za-z0-9._~+/=-]+", re.I), r"\g<keep>***"),
    (
        re.compile(
            r"(?P<keep>\b(?:password|passwd|secret|client_secret|access_token|refresh_token"
            r"|api_key|token)\b[\"']?\s*[=:]\s*[\"']?)[^\s\"',&}]+",
            re.I,
        ),
        r"\g<keep>***",
    ),
)


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def _iso(created: float) -> str:
    # Local time of the host with its offset: unambiguous, and what operators read.
    return datetime.fromtimestamp(created).astimezone().isoformat(timespec="milliseconds")


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = f"{_iso(record.created)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:
            data["traceback"] = record.exc_text
        return json.dumps(data, ensure_ascii=False)


_HANDLER_NAME = "coachpass"


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a line is logged, not when logging was
    configured: a CLI run in-process (a test runner, an embedding program) swaps and
    closes stderr, and a thread logging later must not hit a closed stream."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def configure(level: str = "info", fmt: str = "text", stream: TextIO | None = None) -> None:
    """Configure the root logger once (a second call replaces our handler, so tests
    and a CLI invoked twice in one process do not print lines twice)."""
    if level.lower() not in LEVELS:
        raise ValueError(f"log level {level!r}: use one of {', '.join(LEVELS)}")
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r}: use one of {', '.join(FORMATS)}")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    handler: logging.StreamHandler = (
        logging.StreamHandler(stream) if stream is not None else _CurrentStderr()
    )
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Libraries that chatter at INFO (APScheduler logs every job start and end; the
    # HTTP clients every request) stay at WARNING unless debugging.
    quiet = logging.DEBUG if level.lower() == "debug" else logging.WARNING
    for name in ("alembic", "apscheduler", "httpx", "googleapiclient", "urllib3", "msal"):
        logging.getLogger(name).setLevel(quiet)
