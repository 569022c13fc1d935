"""The personal link of a session's page, for its manager only."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from scheduler.model import SessionRecord
from scheduler.settings.build import WebSettings
from scheduler.web.tokens import Signer

#: Where the page lives under `web.public_base_url`: /m/<token>.
PAGE_PATH = "/m/"


def link_expiry(record: SessionRecord, valid_days: int) -> datetime:
    """`valid_days` after the session's end (after its month for one not placed)."""
    end = record.end or record.start
    if end is None:
        end = datetime.combine(record.month.last_day, time(23, 59), UTC)
    return end + timedelta(days=valid_days)


def manager_link(web: WebSettings, signer: Signer, record: SessionRecord) -> str:
    token = signer.sign(record.key, record.manager_id, link_expiry(record, web.link_valid_days))
    return f"{web.public_base_url}{PAGE_PATH}{token}"
