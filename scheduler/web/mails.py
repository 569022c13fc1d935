"""The manager's e-mails: the sessions a run booked, and the reminder to record how
sessions went. Each lists the manager's sessions with their personal links; they go
to the manager alone (the shared invitation never carries a link)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any
from zoneinfo import ZoneInfo

from connectors.mail import new_message, new_message_id, set_address_header, set_text_header
from scheduler.model import Person


@dataclass(frozen=True)
class Line:
    """One session in a notice: who, when (in the manager's zone) and its link."""

    seller: str
    when: str
    link: str | None


def when_text(messages: Mapping[str, Any], start: datetime, end: datetime, zone: str) -> str:
    a, b = start.astimezone(ZoneInfo(zone)), end.astimezone(ZoneInfo(zone))
    return (
        f"{messages['weekday_names'][a.weekday()]} {a.day} "
        f"{messages['month_names'][a.month - 1]} {a.year}, {a:%H:%M}–{b:%H:%M} {a:%Z}"
    )


def build_notice(
    *,
    kind: str,
    sender: str,
    manager: Person,
    subject: str,
    intro: str,
    lines: Sequence[Line],
    no_link: str,
    footer: str,
    now: datetime,
) -> EmailMessage:
    sender_name, sender_address = parseaddr(sender)
    message = new_message()
    set_text_header(message, "Subject", subject)
    set_address_header(message, "From", sender_name, sender_address)
    set_address_header(message, "To", manager.name, manager.email)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = new_message_id(sender_address.rpartition("@")[2] or "coachpass")
    message["X-Coachpass-Notice"] = kind
    text = [intro, ""]
    for line in lines:
        text.append(f"- {line.seller}, {line.when}")
        if line.link:
            text.append(f"  {line.link}")
    if any(line.link is None for line in lines):
        text += ["", no_link]
    text += ["", footer, ""]
    message.set_content("\n".join(text))
    items = "".join(
        f'<li style="margin:0 0 8px 0"><b>{html.escape(line.seller)}</b>, '
        f"{html.escape(line.when)}<br>"
        + (f'<a href="{html.escape(line.link)}">{html.escape(line.link)}</a>' if line.link else "")
        + "</li>"
        for line in lines
    )
    missing = f"<p>{html.escape(no_link)}</p>" if any(line.link is None for line in lines) else ""
    message.add_alternative(
        '<div style="font-family:Arial,Helvetica,sans-serif;font-size:14px;line-height:1.45;'
        f'max-width:640px"><p>{html.escape(intro)}</p><ul style="padding-left:20px">{items}</ul>'
        f'{missing}<p style="font-size:12px;color:#57606a">{html.escape(footer)}</p></div>',
        subtype="html",
    )
    return message
