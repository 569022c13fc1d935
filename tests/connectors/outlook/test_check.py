"""`connectors check outlook` proves read and write against the fake Graph; the
`scope`, `proxy` and `ca_bundle` options reach msal and httpx."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from connectors.base import ConnectorContext, ConnectorUserError
from connectors.checking import PROBE_SUMMARY, Level, exit_code
from connectors.outlook.admin import ATTENDANCE_PERMISSION, check
from connectors.outlook.connector import OutlookConnector
from connectors.outlook.meetings import LOOKUP_PERMISSION
from tests.fakes.graph_client import SECRET_ENV, ref
from tests.fakes.graph_server import CLIENT_ID, CLIENT_SECRET, FakeGraph
from tests.fakes.proxy import running_proxy

NOW = datetime(2031, 2, 20, 8, 0, tzinfo=UTC)
MAILBOXES = ["manager@example.com", "other@example.com", "seller@example.com"]
MANAGERS = [ref(MAILBOXES[0]), ref(MAILBOXES[1])]
EVERYONE = [*MANAGERS, ref(MAILBOXES[2])]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGraph]:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    server = FakeGraph(MAILBOXES).start()
    try:
        yield server
    finally:
        server.stop()


class Recording(httpx.BaseTransport):
    """The fake's transport, keeping every request it carried."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.inner.handle_request(request)


def teams_meetings(fake: FakeGraph) -> None:
    """A Teams meeting in each organiser's calendar, last week."""
    for box in MAILBOXES[:2]:
        fake.add_event(box, NOW - timedelta(days=7), NOW - timedelta(days=7, hours=-1), online=True)


def run(fake: FakeGraph, tmp_path: Path, **options: object):  # type: ignore[no-untyped-def]
    return check(
        fake.options(**options),
        ConnectorContext(base_dir=tmp_path),
        EVERYONE,
        MANAGERS,
        transport=fake.transport(),
        now=NOW,
    )


def test_probe_is_created_and_deleted_in_each_organisers_mailbox(
    fake: FakeGraph, tmp_path: Path
) -> None:
    fake.app_roles |= {ATTENDANCE_PERMISSION, LOOKUP_PERMISSION}
    teams_meetings(fake)
    findings = run(fake, tmp_path)
    assert [f.level for f in findings] == [Level.OK] * len(findings), findings
    assert exit_code(findings) == 0
    posts = [p for m, p, _h in fake.log if m == "POST" and p.endswith("/events")]
    deletes = [p for m, p, _h in fake.log if m == "DELETE"]
    assert [p.split("/")[3] for p in posts] == MAILBOXES[:2]
    assert len(deletes) == 2
    assert not [
        e for e in fake.state.events.values() if e.subject == PROBE_SUMMARY and not e.deleted
    ]
    teams = [f.message for f in findings if f.message.startswith("Teams attendance of")]
    assert len(teams) == 2 and all("attendance reports readable" in m for m in teams)


def test_a_read_only_app_fails_the_check_for_every_organiser(
    fake: FakeGraph, tmp_path: Path
) -> None:
    fake.app_roles.discard("Calendars.ReadWrite")
    fake.app_roles.add("Calendars.Read")
    findings = run(fake, tmp_path)
    problems = [f.message for f in findings if f.level is Level.PROBLEM]
    assert len(problems) == 2 and exit_code(findings) == 3
    for mailbox, text in zip(MAILBOXES[:2], problems, strict=True):
        assert f"cannot create events in mailbox {mailbox}" in text
        assert "ErrorAccessDenied" in text and "Calendars.ReadWrite" in text
    # Reads alone would have passed: every free/busy line is ok.
    assert sum(f.message.startswith("free/busy of") for f in findings) == 3


def test_missing_attendance_permission_is_a_warning(fake: FakeGraph, tmp_path: Path) -> None:
    teams_meetings(fake)
    findings = run(fake, tmp_path)
    warnings = [f.message for f in findings if f.level is Level.WARNING]
    assert len(warnings) == 1 and ATTENDANCE_PERMISSION in warnings[0]
    assert LOOKUP_PERMISSION in warnings[0] and "admin consent" in warnings[0]
    assert exit_code(findings) == 0
    # The other checks still ran: free/busy of everyone, a probe per organiser.
    assert sum(f.message.startswith("free/busy of") for f in findings) == 3
    assert sum("probe event created and deleted" in f.message for f in findings) == 2
    # Without the permissions no policy is probed (it could only repeat the warning).
    assert not [p for _m, p, _h in fake.log if "onlineMeetings" in p]


def test_one_permission_missing_is_named_alone(fake: FakeGraph, tmp_path: Path) -> None:
    fake.app_roles.add(LOOKUP_PERMISSION)
    warnings = [f.message for f in run(fake, tmp_path) if f.level is Level.WARNING]
    assert len(warnings) == 1 and f"{ATTENDANCE_PERMISSION} not granted" in warnings[0]
    assert f"and {LOOKUP_PERMISSION}" not in warnings[0]


def test_missing_access_policy_is_named_per_organiser(fake: FakeGraph, tmp_path: Path) -> None:
    fake.app_roles |= {ATTENDANCE_PERMISSION, LOOKUP_PERMISSION}
    teams_meetings(fake)
    fake.state.meetings.no_policy.add(MAILBOXES[1])
    findings = run(fake, tmp_path)
    warnings = [f.message for f in findings if f.level is Level.WARNING]
    assert len(warnings) == 1 and exit_code(findings) == 0
    assert MAILBOXES[1] in warnings[0] and "Grant-CsApplicationAccessPolicy" in warnings[0]
    assert f"New-CsApplicationAccessPolicy -Identity Coachpass -AppIds {CLIENT_ID}" in warnings[0]
    assert any(
        f.message.startswith(f"Teams attendance of {MAILBOXES[0]}: meeting") for f in findings
    )


def test_organisers_without_teams_meetings_are_named_once(fake: FakeGraph, tmp_path: Path) -> None:
    fake.app_roles |= {ATTENDANCE_PERMISSION, LOOKUP_PERMISSION}
    warnings = [f.message for f in run(fake, tmp_path) if f.level is Level.WARNING]
    assert len(warnings) == 1
    assert (
        f"{MAILBOXES[0]}, {MAILBOXES[1]}" in warnings[0]
        and "could not be checked yet" in warnings[0]
    )


def test_scope_option_is_what_the_token_is_asked_for(fake: FakeGraph, tmp_path: Path) -> None:
    for options, expected in (
        ({}, "https://graph.fake.test/.default"),
        ({"scope": "api://graph-gateway.example/.default"}, "api://graph-gateway.example/.default"),
    ):
        transport = Recording(fake.transport())
        connector = OutlookConnector(
            fake.options(**options), ConnectorContext(base_dir=tmp_path), transport=transport
        )
        try:
            connector.tokens.token()
        finally:
            connector.close()
        forms = [
            parse_qs(r.content.decode())
            for r in transport.requests
            if r.url.path.endswith("/token")
        ]
        assert [f["scope"] for f in forms] == [[expected]]


def test_proxy_option_is_used_and_proxy_variables_are_not(
    fake: FakeGraph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    with running_proxy(refuse=True) as proxy:
        findings = check(
            fake.options(proxy=proxy.url),
            ConnectorContext(base_dir=tmp_path),
            EVERYONE,
            MANAGERS,
            now=NOW,
        )
    assert proxy.targets and set(proxy.targets) == {"login.fake.test:443"}
    assert len(findings) == 1 and findings[0].level is Level.PROBLEM
    assert "sign-in service at https://login.fake.test could not be reached" in findings[0].message
    assert "proxy option" in findings[0].message
    assert exit_code(findings) == 3


def test_a_missing_ca_bundle_is_a_settings_problem(fake: FakeGraph, tmp_path: Path) -> None:
    with pytest.raises(ConnectorUserError, match=r"ca_bundle .*corp-ca\.pem does not exist"):
        OutlookConnector(fake.options(ca_bundle="corp-ca.pem"), ConnectorContext(tmp_path))
    findings = run(fake, tmp_path, ca_bundle="corp-ca.pem")
    assert len(findings) == 1 and findings[0].config and exit_code(findings) == 2
