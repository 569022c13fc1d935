"""Meeting attendance for the `local` connector, from report files a meeting tool drops.

Local calendars have no meeting provider. With the option `attendance_dir`, a folder
may hold one JSON report per session, named `<session key>.json`, as a meeting tool
(or a test, or the demo) writes it:

    {"status": "met",
     "presence": {"anna@acme.example": [{"join": "2031-03-04T09:00:00+01:00",
                                         "leave": "2031-03-04T09:41:00+01:00"}],
                  "erik@acme.example": [{"join": "2031-03-04T09:02:00+01:00",
                                         "leave": "2031-03-04T09:20:00+01:00"},
                                        {"join": "2031-03-04T09:23:00+01:00",
                                         "leave": "2031-03-04T09:44:00+01:00"}]}}

`status` is `met` (the meeting took place; `presence` lists each person's join/leave
intervals, a rejoin is another interval, times with a UTC offset) or `not_held`
(nobody joined). No report yet is PENDING: the tool may still write it. A report
that cannot be read is an error for that session naming the file and the field,
never a crash and never "nobody came".
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from connectors.base import (
    Attendance,
    AttendanceAnswer,
    AttendanceStatus,
    MeetingQuery,
    Presence,
)

#: A report larger than this is not a meeting's attendance: refused, not parsed.
MAX_REPORT_BYTES = 1024 * 1024
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
_STATUSES = {"met": AttendanceStatus.MET, "not_held": AttendanceStatus.NOT_HELD}


class ReportError(ValueError):
    """A report file that cannot be read; the message names the file and field."""


def read_attendance(folder: Path, queries: Sequence[MeetingQuery]) -> AttendanceAnswer:
    """Each asked session's report from `folder` (see the module docstring)."""
    results: dict[str, Attendance] = {}
    errors: dict[str, str] = {}
    if not queries:
        return AttendanceAnswer(results)
    if not folder.is_dir():
        problem = (
            f"the attendance folder {folder} does not exist "
            f"(attendance_dir, options of the local connector)"
        )
        return AttendanceAnswer({}, {q.key: problem for q in queries})
    for query in queries:
        if not _SAFE_KEY.match(query.key):
            errors[query.key] = f"session key {query.key!r} cannot name a report file"
            continue
        path = folder / f"{query.key}.json"
        try:
            results[query.key] = read_report(path, query.key)
        except ReportError as exc:
            errors[query.key] = str(exc)
    return AttendanceAnswer(results, errors)


def read_report(path: Path, key: str) -> Attendance:
    """One report file; no file yet is PENDING. Raises `ReportError`."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return Attendance(
            key, AttendanceStatus.PENDING, detail=f"no meeting report {path.name} yet"
        )
    except OSError as exc:
        raise ReportError(f"meeting report {path}: cannot read it: {exc.strerror}") from None
    if size > MAX_REPORT_BYTES:
        raise ReportError(
            f"meeting report {path}: {size} bytes is too big for a meeting's attendance "
            f"(at most {MAX_REPORT_BYTES})"
        )
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise ReportError(f"meeting report {path}: cannot read it: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ReportError(f"meeting report {path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ReportError(
            f"meeting report {path}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    return parse_report(data, path, key)


def parse_report(data: Any, path: Path, key: str) -> Attendance:
    def bad(field: str, what: str) -> ReportError:
        return ReportError(f"meeting report {path}: {field}: {what}")

    if not isinstance(data, Mapping):
        raise bad("(top level)", "must be an object with `status` and `presence`")
    unknown = sorted(set(data) - {"status", "presence", "detail"})
    if unknown:
        raise bad(unknown[0], "unknown field (known: status, presence, detail)")
    status = _STATUSES.get(str(data.get("status")))
    if status is None or not isinstance(data.get("status"), str):
        raise bad("status", f"must be one of {', '.join(_STATUSES)}, not {data.get('status')!r}")
    raw_presence = data.get("presence", {})
    if not isinstance(raw_presence, Mapping):
        raise bad("presence", "must be an object: e-mail -> list of {join, leave}")
    presence: dict[str, Presence] = {}
    for email, spans in raw_presence.items():
        if not isinstance(email, str) or "@" not in email:
            raise bad(f"presence.{email}", "must be an e-mail address")
        where = f"presence.{email}"
        if not isinstance(spans, list):
            raise bad(where, "must be a list of {join, leave}")
        intervals = []
        for n, span in enumerate(spans):
            at = f"{where}[{n}]"
            if not isinstance(span, Mapping) or set(span) != {"join", "leave"}:
                raise bad(at, "must be an object with exactly `join` and `leave`")
            join = _time(span["join"], f"{at}.join", bad)
            leave = _time(span["leave"], f"{at}.leave", bad)
            if leave < join:
                raise bad(f"{at}.leave", f"{span['leave']} is before join {span['join']}")
            intervals.append((join, leave))
        presence[email.strip().lower()] = tuple(intervals)
    if status is AttendanceStatus.NOT_HELD and any(presence.values()):
        raise bad("presence", "a meeting that was not held has nobody in it")
    detail = data.get("detail", f"meeting report {path.name}")
    if not isinstance(detail, str):
        raise bad("detail", "must be text")
    return Attendance(key, status, presence, detail[:500])


def _time(value: Any, field: str, bad: Callable[[str, str], ReportError]) -> datetime:
    if not isinstance(value, str):
        raise bad(field, f"must be an ISO 8601 time with a UTC offset, not {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise bad(field, f"{value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise bad(field, f"{value!r} has no UTC offset (write e.g. +01:00 or Z)")
    return parsed
