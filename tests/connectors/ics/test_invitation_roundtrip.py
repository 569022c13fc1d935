"""Names in any script come back unchanged from an invitation (issue 10, finding 7).

Property: a manager and a seller with random Unicode names (no control characters)
written in the config, loaded by the settings, rendered into the session's agenda and
booked through the local connector, read back from the `.eml` in the outbox (Python's
parser, `policy.default`) and from its `text/calendar` part and the organiser's `.ics`
(icalendar) give the same names. The `text/calendar` part has CRLF line ends only.
"""

from __future__ import annotations

import base64
import email
import re
import tempfile
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import icalendar
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import connectors
from connectors.base import Attendee, ConnectorContext, NewEvent
from scheduler.model import Month
from scheduler.sessions.agenda import render_agenda
from scheduler.settings.checks import check_name
from scheduler.settings.load import load_settings
from tests.orgs import write_org

MONTH = Month(2031, 3)
START = datetime(2031, 3, 4, 9, 0, tzinfo=UTC)

names = st.text(
    st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=40
).filter(lambda n: n.strip(" ") != "")


def book_one(folder: Path, manager_name: str, seller_name: str) -> tuple[EmailMessage, Path, str]:
    """Config -> settings -> agenda -> local connector, as `book` does for one session.
    Returns the outbox message, the organiser's calendar and the session's summary."""
    config_path = write_org(folder, sellers=1)
    config: dict[str, Any] = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    team = config["teams"][0]
    team["manager"]["name"] = manager_name
    team["sellers"][0]["name"] = seller_name
    config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")

    loaded = load_settings(config_path)
    org = loaded.organisation
    team_ = org.teams[0]
    manager, seller = team_.manager, team_.sellers[0]
    agenda = render_agenda(
        org,
        team_,
        seller,
        MONTH,
        previous_followups="",
        video_url=None,
        templates_dir=loaded.templates_dir,
        guidelines_dir=loaded.guidelines_dir,
    )
    local = connectors.open_connector(
        "local",
        loaded.connectors["local"],
        ConnectorContext(base_dir=loaded.base_dir, outbox=loaded.outbox, organisation=org.name),
    )
    event = NewEvent(
        key="cp0roundtrip",
        organizer=manager.calendar(),
        attendees=(Attendee(seller.email, seller.name),),
        start=START,
        end=START + timedelta(minutes=45),
        summary=agenda.subject,
        description_text=agenda.text,
        description_html=agenda.html,
    )
    [result] = local.create([event])
    assert result.ok, result.error
    [eml] = sorted((folder / "outbox").glob("*.eml"))
    raw = eml.read_bytes()
    assert b"\r\n" in raw and re.search(rb"(?<!\r)\n", raw) is None, "CRLF throughout"
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed, folder / "calendars" / manager.calendar_id, agenda.subject


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(manager_name=names, seller_name=names)
@example(manager_name="Åsa Öberg-Lindqvist", seller_name="محمد بن عبدالله")
@example(manager_name="Zoë 😀🎉 👩‍👩‍👧", seller_name='O\'Brien, "Bob" <b@x> (=?utf-8?q?x?=)')
@example(manager_name="0", seller_name="\\")  # found by hypothesis: icalendar read `\:` as escaped
@example(manager_name="C:\\Users\\", seller_name="a\\;b \\")
@example(manager_name="Ärlig " * 6 + "Kundansvarig", seller_name="李小龍 Björn Ström ميم")
def test_names_round_trip_through_config_invitation_eml_and_ics(
    manager_name: str, seller_name: str
) -> None:
    manager, seller = check_name(manager_name), check_name(seller_name)  # as the config keeps them
    with tempfile.TemporaryDirectory() as tmp:
        message, organiser_ics, summary = book_one(Path(tmp), manager_name, seller_name)

        assert f"{manager} / {seller}" in summary
        # The .eml, read back by Python's parser.
        [to] = message["To"].addresses
        assert (to.display_name, to.addr_spec) == (seller, "s1@example.com")
        subject = str(message["Subject"])
        assert subject.startswith(f"Invitation: {summary} @ ")
        for line in message.as_string(policy=policy.SMTP).split("\r\n\r\n", 1)[0].split("\r\n"):
            assert len(line.encode()) <= 998

        # Its text/calendar part: CRLF only, and the same text in icalendar.
        [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
        ics_bytes = part.get_payload(decode=True)
        assert re.search(rb"(?<!\r)\n", ics_bytes) is None, "bare LF in text/calendar"
        [vevent] = icalendar.Calendar.from_ical(ics_bytes).walk("VEVENT")
        assert str(vevent["SUMMARY"]) == summary
        assert vevent["ATTENDEE"].params["CN"] == seller

        # And the organiser's calendar file.
        [stored] = icalendar.Calendar.from_ical(organiser_ics.read_bytes()).walk("VEVENT")
        assert str(stored["SUMMARY"]) == summary


def test_headers_are_folded_within_78_characters_with_whole_characters() -> None:
    """RFC 2047: each encoded word at most 75 characters and whole characters, so a
    reader that decodes word by word never sees half an emoji."""
    with tempfile.TemporaryDirectory() as tmp:
        message, _, _ = book_one(
            Path(tmp), "Åsa Öberg-Lindqvist", "محمد بن عبدالله 😀🎉 Ärlig Kundansvarig"
        )
        raw = message.as_bytes(policy=policy.SMTP)
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")  # headers are ASCII on the wire
    subject = re.search(r"^Subject:.*?(?=\r\n\S)", head, re.M | re.S)
    assert subject is not None
    lines = subject.group(0).split("\r\n")
    assert len(lines) > 1 and all(len(line) <= 78 for line in lines)
    for word in re.findall(r"=\?utf-8\?b\?([^?]*)\?=", subject.group(0)):
        assert len(word) + 12 <= 75
        base64.b64decode(word).decode("utf-8")  # raises on a split character
