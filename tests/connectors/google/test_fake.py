"""The fake Google Calendar API keeps Google's rules, so the connector is tested
against them: id format, duplicates, deletes, sync-token rules, schemas, scopes and
the service-account token grant."""

# ruff: noqa: F811  (pytest fixtures are imported, then named as parameters)

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from googleapiclient.errors import HttpError

from connectors.base import ConnectorContext
from connectors.google.connector import GoogleConnector
from tests.fakes.google_harness import (  # noqa: F401  (fixtures)
    RecordedSleep,
    connector_options,
    fake,
    google_fake,
    google_key_file,
)
from tests.fakes.google_server import FakeGoogle
from tests.fakes.google_tokens import JWT_BEARER, SCOPE_EVENTS

BOSS = "boss@example.com"
EVENT = {
    "summary": "x",
    "start": {"dateTime": "2031-03-04T10:00:00+01:00"},
    "end": {"dateTime": "2031-03-04T11:00:00+01:00"},
}


class Api:
    """Raw calls through the real client, as the connector makes them."""

    def __init__(self, fake: FakeGoogle, key_file: Path, tmp_path: Path, **extra: Any) -> None:
        self.connector = GoogleConnector(
            connector_options(fake, key_file, **extra),
            ConnectorContext(base_dir=tmp_path),
            sleep=RecordedSleep(),
        )
        self.events = self.connector.service.events()

    def run(self, request: Any, as_user: str | None = BOSS) -> Any:
        return request.execute(http=self.connector._http(as_user))

    def status(self, request: Any, as_user: str | None = BOSS) -> tuple[int, str]:
        with pytest.raises(HttpError) as caught:
            self.run(request, as_user)
        reason = json.loads(caught.value.content)["error"]["errors"][0]["reason"]
        return caught.value.resp.status, reason


@pytest.fixture
def api(fake: FakeGoogle, google_key_file: Path, tmp_path: Path) -> Api:
    fake.add_user(BOSS)
    return Api(fake, google_key_file, tmp_path)


@pytest.mark.parametrize("bad", ["abc", "cp_123456", "CPABCDEF", "cpwxyz123"])
def test_invalid_event_ids_are_400(api: Api, bad: str) -> None:
    request = api.events.insert(calendarId=BOSS, body={**EVENT, "id": bad})
    assert api.status(request) == (400, "invalid")


def test_duplicate_id_is_409_also_after_delete(api: Api) -> None:
    api.run(api.events.insert(calendarId=BOSS, body={**EVENT, "id": "abcde12345"}))
    assert api.status(api.events.insert(calendarId=BOSS, body={**EVENT, "id": "abcde12345"})) == (
        409,
        "duplicate",
    )
    api.run(api.events.delete(calendarId=BOSS, eventId="abcde12345"))
    assert api.run(api.events.get(calendarId=BOSS, eventId="abcde12345"))["status"] == "cancelled"
    assert api.status(api.events.insert(calendarId=BOSS, body={**EVENT, "id": "abcde12345"})) == (
        409,
        "duplicate",
    )
    assert api.status(api.events.delete(calendarId=BOSS, eventId="abcde12345")) == (410, "deleted")
    assert api.status(api.events.delete(calendarId=BOSS, eventId="nosuch123")) == (404, "notFound")


def test_bodies_are_checked_against_the_discovery_document(api: Api) -> None:
    unknown = api.events.insert(calendarId=BOSS, body={**EVENT, "colour": "red"})
    assert api.status(unknown) == (400, "invalid")
    wrong_type = api.events.insert(calendarId=BOSS, body={**EVENT, "guestsCanModify": "no"})
    assert api.status(wrong_type) == (400, "invalid")


def test_sync_token_refuses_window_and_tag_filters(api: Api) -> None:
    token = api.run(api.events.list(calendarId=BOSS))["nextSyncToken"]
    with_window = api.events.list(calendarId=BOSS, syncToken=token, timeMin="2031-03-01T00:00:00Z")
    assert api.status(with_window)[0] == 400
    with_tag = api.events.list(calendarId=BOSS, syncToken=token, privateExtendedProperty="a=b")
    assert api.status(with_tag)[0] == 400
    # A tag-filtered list hands out no sync token at all.
    assert "nextSyncToken" not in api.run(
        api.events.list(calendarId=BOSS, privateExtendedProperty="a=b")
    )


def test_deleted_events_in_sync_are_reduced_to_id_and_status(api: Api) -> None:
    api.run(api.events.insert(calendarId=BOSS, body={**EVENT, "id": "abcde12345"}))
    token = api.run(api.events.list(calendarId=BOSS))["nextSyncToken"]
    api.run(api.events.delete(calendarId=BOSS, eventId="abcde12345"))
    (item,) = api.run(api.events.list(calendarId=BOSS, syncToken=token))["items"]
    assert item["status"] == "cancelled" and "start" not in item


def test_other_users_calendars_are_not_writable(api: Api, fake: FakeGoogle) -> None:
    fake.add_user("other@example.com")
    request = api.events.insert(calendarId="other@example.com", body=EVENT)
    assert api.status(request) == (404, "notFound")


def test_service_account_as_itself_may_not_invite(api: Api) -> None:
    """Google: 403 forbiddenForServiceAccounts for invitations without domain-wide
    delegation (the calendar being shared with the service account or not)."""
    invite = {**EVENT, "attendees": [{"email": "seller@example.com"}]}
    request = api.events.insert(calendarId=BOSS, body=invite, sendUpdates="all")
    assert api.status(request, as_user=None) == (403, "forbiddenForServiceAccounts")
    # Impersonating the organiser (delegation), the same invitation goes out.
    assert api.run(api.events.insert(calendarId=BOSS, body=invite))["attendees"]


def test_missing_scope_is_403(fake: FakeGoogle, google_key_file: Path, tmp_path: Path) -> None:
    fake.add_user(BOSS)
    api = Api(fake, google_key_file, tmp_path)
    creds = api.connector.credentials
    creds._base = creds._base.with_scopes(["https://www.googleapis.com/auth/calendar.freebusy"])
    creds._wide = creds._base
    creds._by_subject.clear()
    request = api.events.list(calendarId=BOSS)
    assert api.status(request) == (403, "insufficientPermissions")


def test_freebusy_takes_at_most_50_calendars(api: Api) -> None:
    body = {
        "timeMin": "2031-03-01T00:00:00Z",
        "timeMax": "2031-03-02T00:00:00Z",
        "items": [{"id": f"p{i}@example.com"} for i in range(51)],
    }
    request = api.connector.service.freebusy().query(body=body)
    assert api.status(request) == (400, "tooManyCalendarsRequested")


def grant(fake: FakeGoogle, claims: dict[str, Any], key: Any) -> tuple[int, dict[str, Any]]:
    assertion = jwt.encode(claims, key, algorithm="RS256")
    data = urllib.parse.urlencode({"grant_type": JWT_BEARER, "assertion": assertion}).encode()
    try:
        with urllib.request.urlopen(fake.token_uri, data, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_token_endpoint_checks_signature_subject_and_audience(
    fake: FakeGoogle, google_key_file: Path
) -> None:
    fake.add_user(BOSS)
    info = json.loads(google_key_file.read_text())
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(info["private_key"].encode(), None)
    now = int(time.time())
    claims = {
        "iss": info["client_email"],
        "aud": fake.token_uri,
        "scope": SCOPE_EVENTS,
        "iat": now,
        "exp": now + 600,
        "sub": BOSS,
    }
    status, body = grant(fake, claims, key)
    assert status == 200 and body["access_token"]
    assert grant(fake, {**claims, "sub": "nobody@example.com"}, key)[1]["error"] == "invalid_grant"
    assert grant(fake, {**claims, "aud": "https://elsewhere/"}, key)[0] == 400
    assert grant(fake, {**claims, "exp": now - 10}, key)[0] == 400
    assert grant(fake, {**claims, "scope": "https://mail.google.com/"}, key)[0] == 400
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert grant(fake, claims, stranger)[1]["error"] == "invalid_grant"
