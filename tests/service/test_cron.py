"""The previous cron firing, for any expression (not only ones within 35 days)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from apscheduler.triggers.cron import CronTrigger

from scheduler.service.cron import crontab_trigger, previous_fire_time, standard_days

NOW = datetime(2031, 3, 21, 8, 0, tzinfo=UTC)  # 09:00 in Stockholm
FLOOR = datetime(2020, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("*/30 * * * *", "2031-03-21T09:00:00+01:00"),  # at `now` itself counts
        ("* * * * *", "2031-03-21T09:00:00+01:00"),
        ("0 7 * * 1-5", "2031-03-21T07:00:00+01:00"),
        ("0 6 20 * *", "2031-03-20T06:00:00+01:00"),
        ("0 8 1 */3 *", "2031-01-01T08:00:00+01:00"),  # quarterly: 79 days back
        ("0 8 1 1 *", "2031-01-01T08:00:00+01:00"),
        ("0 8 29 2 *", "2028-02-29T08:00:00+01:00"),  # leap days only: 3 years back
        ("30 2 * * 0", "2031-03-16T02:30:00+01:00"),
    ],
)
def test_previous_fire_time(expr: str, expected: str) -> None:
    trigger = crontab_trigger(expr, "Europe/Stockholm")
    found = previous_fire_time(trigger, NOW, FLOOR)
    assert found is not None and found.isoformat() == expected
    # It is a firing, and the next firing after it is after `now`.
    assert trigger.get_next_fire_time(None, found) == found
    following = trigger.get_next_fire_time(found, found.replace(second=1))
    assert following is not None and following > NOW


def test_nothing_before_the_floor() -> None:
    trigger = CronTrigger.from_crontab("0 8 1 */3 *", timezone="Europe/Stockholm")
    assert previous_fire_time(trigger, NOW, datetime(2031, 1, 2, tzinfo=UTC)) is None
    assert previous_fire_time(trigger, NOW, NOW.replace(year=2032)) is None


def test_across_the_spring_forward_gap() -> None:
    # 02:30 does not exist in Stockholm on 2031-03-30; the firing before is a day earlier.
    trigger = CronTrigger.from_crontab("30 2 * * *", timezone="Europe/Stockholm")
    now = datetime(2031, 3, 30, 12, 0, tzinfo=UTC)
    found = previous_fire_time(trigger, now, FLOOR)
    assert found is not None and found <= now
    assert trigger.get_next_fire_time(None, found) == found


@pytest.mark.parametrize(
    ("field", "names"),
    [
        ("1-5", "mon,tue,wed,thu,fri"),
        ("0", "sun"),
        ("7", "sun"),
        ("6,0", "sun,sat"),
        ("*/2", "sun,tue,thu,sat"),
        ("mon-fri", "mon,tue,wed,thu,fri"),
        ("1-5/2", "mon,wed,fri"),
        ("*", "*"),
    ],
)
def test_weekdays_read_as_standard_cron(field: str, names: str) -> None:
    assert standard_days(field) == names


def test_weekday_mornings_fire_monday_to_friday() -> None:
    # APScheduler alone reads "1-5" as Tuesday..Saturday (0 = Monday there).
    trigger = crontab_trigger("0 7 * * 1-5", "Europe/Stockholm")
    fired, t = [], datetime(2031, 3, 21, 12, tzinfo=UTC)  # a Friday
    for _ in range(7):
        nxt = trigger.get_next_fire_time(None, t)
        assert nxt is not None
        fired.append(nxt.strftime("%a"))
        t = nxt.replace(minute=1)
    assert fired == ["Mon", "Tue", "Wed", "Thu", "Fri", "Mon", "Tue"]
