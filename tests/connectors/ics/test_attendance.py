"""The local connector's meeting reports (`attendance_dir`): read as a meeting tool
writes them; a report that cannot be read is an error naming the file and the field,
never a crash and never "nobody came"."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.base import AttendanceStatus, Attendee, CalendarRef, ConnectorContext, MeetingQuery
from connectors.ics.attendance import MAX_REPORT_BYTES
from connectors.ics.connector import LocalConnector, open_connector

START = datetime(2031, 3, 4, 9, 0, tzinfo=UTC)
KEY = "cp" + "1" * 32


def query(key: str = KEY) -> MeetingQuery:
    return MeetingQuery(
        key=key,
        organizer=CalendarRef("boss", "boss@example.com", "boss.ics"),
        people=(Attendee("boss@example.com"), Attendee("s1@example.com")),
        start=START,
        end=START + timedelta(minutes=45),
    )


def connector(tmp_path: Path, **options: Any) -> LocalConnector:
    (tmp_path / "calendars").mkdir(exist_ok=True)
    opened = open_connector(
        {"path": "calendars", "outbox": "outbox", **options}, ConnectorContext(base_dir=tmp_path)
    )
    assert isinstance(opened, LocalConnector)
    return opened


@pytest.fixture
def local(tmp_path: Path) -> LocalConnector:
    (tmp_path / "meetings").mkdir()
    return connector(tmp_path, attendance_dir="meetings")


def drop(local: LocalConnector, body: object, key: str = KEY) -> Path:
    assert local.attendance_dir is not None
    path = local.attendance_dir / f"{key}.json"
    path.write_text(body if isinstance(body, str) else json.dumps(body))
    return path


def test_without_the_option_local_calendars_have_no_attendance(tmp_path: Path) -> None:
    answer = connector(tmp_path).attendance([query()])
    assert answer.errors == {}
    result = answer.results[KEY]
    assert result.status is AttendanceStatus.UNSUPPORTED
    assert result.detail == "local calendars have no meeting attendance"


def test_a_report_gives_each_persons_intervals(local: LocalConnector) -> None:
    drop(
        local,
        {
            "status": "met",
            "presence": {
                "Boss@Example.com": [
                    {"join": "2031-03-04T10:00:00+01:00", "leave": "2031-03-04T10:45:00+01:00"}
                ],
                "s1@example.com": [
                    {"join": "2031-03-04T09:01:00Z", "leave": "2031-03-04T09:10:00Z"},
                    {"join": "2031-03-04T09:12:00Z", "leave": "2031-03-04T09:40:00Z"},
                ],
            },
        },
    )
    answer = local.attendance([query()])
    result = answer.results[KEY]
    assert result.status is AttendanceStatus.MET and answer.errors == {}
    assert result.presence["boss@example.com"] == ((START, START + timedelta(minutes=45)),)
    assert len(result.presence["s1@example.com"]) == 2, "a rejoin is another interval"
    assert result.detail == f"meeting report {KEY}.json"


def test_no_report_yet_is_pending_and_not_held_has_nobody(local: LocalConnector) -> None:
    other = "cp" + "2" * 32
    drop(local, {"status": "not_held"}, key=other)
    answer = local.attendance([query(), query(other)])
    assert answer.results[KEY].status is AttendanceStatus.PENDING
    assert answer.results[other].status is AttendanceStatus.NOT_HELD


def test_an_empty_question_costs_nothing(tmp_path: Path) -> None:
    # The folder does not even exist: an empty question never looks at it.
    answer = connector(tmp_path, attendance_dir="nowhere").attendance([])
    assert (dict(answer.results), dict(answer.errors)) == ({}, {})


def test_a_missing_folder_is_an_error_per_key_naming_the_option(tmp_path: Path) -> None:
    answer = connector(tmp_path, attendance_dir="nowhere").attendance([query()])
    assert answer.results == {}
    assert answer.errors[KEY] == (
        f"the attendance folder {tmp_path / 'nowhere'} does not exist "
        f"(attendance_dir, options of the local connector)"
    )


GOOD_SPAN = {"join": "2031-03-04T09:00:00Z", "leave": "2031-03-04T09:40:00Z"}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('{"status": "met",', "not JSON (line 1, column 18: Expecting property name"),
        ([1, 2], "(top level): must be an object with `status` and `presence`"),
        ({"status": "held"}, "status: must be one of met, not_held, not 'held'"),
        ({"status": "met", "who": {}}, "who: unknown field"),
        ({"status": "met", "presence": []}, "presence: must be an object"),
        ({"status": "met", "presence": {"boss": []}}, "presence.boss: must be an e-mail"),
        (
            {"status": "met", "presence": {"a@x.se": [{"join": "2031-03-04T09:00:00Z"}]}},
            "presence.a@x.se[0]: must be an object with exactly `join` and `leave`",
        ),
        (
            {"status": "met", "presence": {"a@x.se": [{**GOOD_SPAN, "join": "09:00"}]}},
            "presence.a@x.se[0].join: '09:00' is not an ISO 8601 time",
        ),
        (
            {
                "status": "met",
                "presence": {"a@x.se": [{**GOOD_SPAN, "leave": "2031-03-04T09:40:00"}]},
            },
            "presence.a@x.se[0].leave: '2031-03-04T09:40:00' has no UTC offset",
        ),
        (
            {
                "status": "met",
                "presence": {"a@x.se": [{**GOOD_SPAN, "leave": "2031-03-04T08:00:00Z"}]},
            },
            "presence.a@x.se[0].leave: 2031-03-04T08:00:00Z is before join",
        ),
        (
            {"status": "not_held", "presence": {"a@x.se": [GOOD_SPAN]}},
            "presence: a meeting that was not held has nobody in it",
        ),
    ],
)
def test_a_malformed_report_names_the_file_and_field(
    local: LocalConnector, body: object, problem: str
) -> None:
    other = "cp" + "3" * 32
    drop(local, {"status": "not_held"}, key=other)
    path = drop(local, body)
    answer = local.attendance([query(), query(other)])
    assert KEY not in answer.results
    assert answer.errors[KEY].startswith(f"meeting report {path}: {problem}")
    assert answer.results[other].status is AttendanceStatus.NOT_HELD, "the others are read"


def test_a_huge_or_binary_report_is_refused_unread(local: LocalConnector) -> None:
    path = drop(local, "x" * (MAX_REPORT_BYTES + 1))
    assert "too big" in local.attendance([query()]).errors[KEY]
    path.write_bytes(b"\xff\xfe\x00")
    assert local.attendance([query()]).errors[KEY] == f"meeting report {path}: not UTF-8 text"


def test_a_key_that_cannot_name_a_file_is_an_error(local: LocalConnector) -> None:
    answer = local.attendance([query("../../etc/passwd")])
    assert "cannot name a report file" in answer.errors["../../etc/passwd"]
