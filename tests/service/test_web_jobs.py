"""The service's jobs and the managers' notices: a mail outage never fails a booking
job, and the notices it kept back go out with the next morning's `remind`, once."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from connectors.mail import MailError
from scheduler.runtime import Runtime
from scheduler.service.jobs import run_job
from scheduler.settings.load import load_settings
from tests.web.helpers import links_by_seller, notices, web_org

BOOK_AT = datetime(2027, 2, 20, 5, 0, tzinfo=UTC)  # the 20th, 06:00 in Stockholm
TUESDAY = datetime(2027, 2, 23, 7, 0, tzinfo=UTC)  # 08:00 in Stockholm


class _Down:
    def send(self, message: EmailMessage) -> str:
        raise MailError("cannot deliver to SMTP server 127.0.0.1:9: Connection refused")


def test_booked_notices_held_back_by_a_mail_outage_go_out_with_remind(tmp_path: Path) -> None:
    rt = Runtime.open(load_settings(web_org(tmp_path, "https://coachpass.acme.example")))
    try:
        real = rt.mailer()
        rt._mailer = _Down()  # type: ignore[assignment]
        booked = run_job(rt, "book_next_month", BOOK_AT, BOOK_AT)
        assert booked.ran and booked.period == "2027-03"
        assert "created 3" in booked.detail and "1 notice not sent" in booked.detail
        assert rt.store.job_runs(job="book_next_month")[0]["status"] == "done"
        assert notices(tmp_path / "outbox", "booked") == []

        rt._mailer = real
        remind = run_job(rt, "remind", TUESDAY, TUESDAY)
        assert remind.ran and "booked notices, 3 links to 1 manager" in remind.detail
        [mail] = notices(tmp_path / "outbox", "booked")
        assert sorted(links_by_seller(mail)) == ["S1", "S2", "S3"]
        again = run_job(rt, "remind", TUESDAY.replace(day=24), TUESDAY.replace(day=24))
        assert again.ran and "booked notices" not in again.detail
        assert len(notices(tmp_path / "outbox", "booked")) == 1
    finally:
        rt.close()
