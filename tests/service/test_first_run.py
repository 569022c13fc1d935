"""First run without surprises, fencing in-process, the lock while the database is
away, and the service's logging."""

from __future__ import annotations

import io
import json
import logging
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa

from scheduler.errors import ReportNotDue, StoreError
from scheduler.model import Month
from scheduler.runtime import Runtime
from scheduler.service.jobs import send_report
from scheduler.service.logs import configure, redact
from scheduler.service.serve import Leadership, catch_up, serve
from scheduler.sessions.booking import book_month
from scheduler.settings.load import load_settings
from scheduler.store.lock import LostLeadership, NamedLock
from tests.orgs import run_cli as run
from tests.orgs import write_org

NOW = datetime(2031, 3, 21, 8, 0, tzinfo=UTC)


def test_a_fresh_store_catches_up_nothing(tmp_path: Path) -> None:
    rt = Runtime.open(load_settings(write_org(tmp_path, sellers=2)))
    try:
        created = rt.store.created_at()
        assert abs((datetime.now(UTC) - created).total_seconds()) < 120
        assert catch_up(rt, created) == []
        assert rt.store.job_runs() == [] and rt.store.sessions() == []
    finally:
        rt.close()


def test_first_serve_on_a_fresh_config_books_and_mails_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COACHPASS_NOW", raising=False)  # the real clock, as a new user has
    config = write_org(tmp_path, sellers=2)
    code, _, err = run(["--config", str(config), "serve", "--once"], capsys)
    assert code == 0, err
    assert not (tmp_path / "outbox").exists() or not list((tmp_path / "outbox").iterdir())
    rt = Runtime.open(load_settings(config))
    try:
        # A half-hourly reconcile may have fired between the creation and now; it
        # finds nothing. Nothing was booked and no report was sent.
        assert {r["job"] for r in rt.store.job_runs()} <= {"reconcile"}
        assert rt.store.sessions() == []
    finally:
        rt.close()


def test_a_quarterly_schedule_is_caught_up(tmp_path: Path) -> None:
    config = write_org(tmp_path, sellers=1, extra={"schedule": {"report": "0 8 1 */3 *"}})
    rt = Runtime.open(load_settings(config))
    try:
        results = {r.job: r for r in catch_up(rt, NOW)}
        # 1 January, 79 days back: the old 35-day walk never found it.
        assert results["report"].ran and results["report"].period == "2030-12"
        assert results["report"].detail.startswith("not sent: no report for 2030-12")
    finally:
        rt.close()


def test_reports_only_for_a_month_that_is_over_and_was_booked(tmp_path: Path) -> None:
    rt = Runtime.open(load_settings(write_org(tmp_path, sellers=2)))
    try:
        with pytest.raises(ReportNotDue, match="not over"):
            send_report(rt, Month(2031, 3), NOW)
        with pytest.raises(ReportNotDue, match="booked no sessions"):
            send_report(rt, Month(2031, 2), NOW)
        assert not (tmp_path / "outbox").exists() or not list((tmp_path / "outbox").iterdir())
        book_month(rt, Month(2031, 2), datetime(2031, 1, 20, tzinfo=UTC))
        sent = send_report(rt, Month(2031, 2), NOW)
        assert [o.status for o in sent] == ["sent", "sent"]
        forced = send_report(rt, Month(2031, 3), NOW, force=True)
        assert [o.status for o in forced] == ["sent", "sent"]
    finally:
        rt.close()


def test_past_and_impossible_months_and_contradictions_are_user_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COACHPASS_NOW", NOW.isoformat())
    config = write_org(tmp_path, sellers=2)
    cfg = ["--config", str(config)]
    for args in (["book", "--month", "2029-01"], ["plan", "--month", "2031-02"]):
        code, _, err = run(cfg + args, capsys)
        assert code == 2 and "the month is over" in err and "Traceback" not in err, err
    for bad in ("2031-13", "2031-00", "99999-01", "0-01"):
        code, _, err = run([*cfg, "book", "--month", bad], capsys)
        assert code == 2 and bad in err, err
    rt = Runtime.open(load_settings(config))
    try:
        assert rt.store.sessions() == [], "nothing written"
    finally:
        rt.close()

    code, _, err = run([*cfg, "report", "--send", "--month", "2031-03"], capsys)
    assert code == 2 and "not over" in err and "--force" in err
    code, out, _ = run([*cfg, "report", "--month", "2031-03"], capsys)
    assert code == 0 and out.strip(), "a preview is always possible"
    code, out, err = run([*cfg, "report", "--send", "--force", "--month", "2031-03"], capsys)
    assert code == 0 and "sent" in out, err

    assert run([*cfg, "book", "--month", "2031-04"], capsys)[0] == 0
    code, _, err = run([*cfg, "sessions", "mark", "s1", "--held", "--no-show"], capsys)
    assert code == 2 and "contradict" in err


def test_jobs_list_shows_runs_and_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COACHPASS_NOW", NOW.isoformat())
    # An SMTP server that refuses: February was booked, so its report is due and fails.
    smtp = {"host": "127.0.0.1", "port": 9, "security": "none"}
    config = write_org(tmp_path, sellers=2, extra={"mail": {"smtp": smtp}})
    cfg = ["--config", str(config)]
    code, out, _ = run([*cfg, "jobs", "list"], capsys)
    assert code == 0 and "no job runs yet" in out
    rt = Runtime.open(load_settings(config))
    try:
        book_month(rt, Month(2031, 2), datetime(2031, 1, 20, tzinfo=UTC))
    finally:
        rt.close()
    code, _, err = run([*cfg, "serve", "--once"], capsys)
    assert code == 3 and "retries" in err and "Traceback" not in err, err
    code, out, _ = run([*cfg, "jobs", "list", "--json"], capsys)
    runs = {r["job"]: r for r in json.loads(out)}
    assert set(runs) == {"book_next_month", "top_up", "reconcile", "report", "remind"}
    assert runs["book_next_month"]["status"] == "done"
    assert runs["report"]["status"] == "failed" and runs["report"]["period"] == "2031-02"
    assert runs["report"]["detail"] and runs["report"]["finished"]
    code, out, _ = run([*cfg, "jobs", "list", "--failed"], capsys)
    assert code == 0 and "report" in out and "book_next_month" not in out
    code, out, _ = run([*cfg, "jobs", "list"], capsys)
    assert "failed (retried by the service's next catch-up)" in out


def test_the_lock_waits_out_a_database_that_is_away() -> None:
    engine = sa.create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:9/test", connect_args={"connect_timeout": 2}
    )
    lock = NamedLock(engine, "leader:x")
    try:
        assert lock.try_acquire() is False
        assert "OperationalError" in lock.unreachable
        assert lock.still_held() is False
        with pytest.raises(LostLeadership):
            lock.ensure()
        with pytest.raises(StoreError, match="cannot reach"):
            lock.acquire(timeout=1)
    finally:
        engine.dispose()


def test_serve_once_while_the_database_is_away_is_a_clear_error(tmp_path: Path) -> None:
    config = write_org(
        tmp_path, sellers=1, store_url="postgresql+psycopg://postgres@127.0.0.1:9/test"
    )
    rt = Runtime.open(load_settings(config), migrate=False)
    try:
        with pytest.raises(StoreError, match="cannot reach the store's database"):
            serve(rt, once=True)
    finally:
        rt.close()


@pytest.mark.postgres
def test_fencing_stops_a_cut_off_leader_before_any_write(pg_url: str, tmp_path: Path) -> None:
    rt = Runtime.open(load_settings(write_org(tmp_path, sellers=3, store_url=pg_url)))
    leader = Leadership(rt)
    try:
        assert leader.try_acquire()
        rt.fence = leader.ensure
        backend = leader._conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        leader._conn.commit()
        admin = sa.create_engine(pg_url)
        with admin.begin() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(backend)})")
        admin.dispose()
        with pytest.raises(LostLeadership):
            book_month(rt, Month(2031, 4), NOW)
        assert rt.store.sessions() == [], "no intent written"
        assert "BEGIN:VEVENT" not in (tmp_path / "calendars" / "boss.ics").read_text()
        assert rt.store.sessions(month=Month(2031, 4)) == [], "reads still work"
        with pytest.raises(LostLeadership):
            rt.mailer().send(EmailMessage())
        assert leader.try_acquire(), "it may lead again once the lock is free"
        assert book_month(rt, Month(2031, 4), NOW).created == 3
    finally:
        leader.release()
        rt.close()


def test_logs_are_json_with_zone_and_without_secrets() -> None:
    stream = io.StringIO()
    configure("info", "json", stream)
    try:
        logging.getLogger("coachpass.test").warning(
            "cannot open postgresql://app:s3cret@db/coachpass; Authorization: Bearer abc.def"
        )
        logging.getLogger("coachpass.test").debug("not shown at info")
    finally:
        configure("info", "text")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["level"] == "warning" and record["logger"] == "coachpass.test"
    assert "s3cret" not in lines[0] and "abc.def" not in lines[0]
    assert "postgresql://app:***@db" in record["message"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", record["time"])
    assert redact("password=hunter2&x=1") == "password=***&x=1"


def test_serve_once_with_people_it_cannot_read_is_a_partial_run_listed_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cron/k8s mode: what was done is done, so exit 3 (not 2, "nothing done"),
    each person who failed listed once (not once per month) in plain words."""
    monkeypatch.setenv("COACHPASS_NOW", NOW.isoformat())
    config = write_org(tmp_path, sellers=3)
    cfg = ["--config", str(config)]
    assert run([*cfg, "book", "--month", "2031-03"], capsys)[0] == 0  # the store exists
    for seller in ("s1", "s2"):
        next((tmp_path / "calendars").glob(f"{seller}*.ics")).unlink()
    monkeypatch.setenv("COACHPASS_NOW", "2031-03-25T08:00:00+00:00")
    code, _, err = run([*cfg, "serve", "--once", "--listen", ""], capsys)
    assert code == 3, err
    lines = [line for line in err.splitlines() if line.strip().startswith("failed:")]
    assert len(lines) == len(set(lines)), err
    assert any("s1" in line for line in lines) and any("s2" in line for line in lines), err
    assert "PartialFailure" not in err and "UserError" not in err and "Traceback" not in err
