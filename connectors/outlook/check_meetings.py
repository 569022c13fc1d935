"""`connectors check outlook`, Teams attendance part: the permissions in the token and,
per organiser, the application access policy, proven by harmless reads.

An organiser's policy can only be proven on one of their own Teams meetings: the
online-meeting calls name the organiser by Entra object id, which an app with
calendar permissions learns from a Teams link in the organiser's calendar (the link's
`context`). So the check reads one window of the calendar for such a link, looks the
meeting up by it (OnlineMeetings.Read.All) and lists its attendance reports
(OnlineMeetingArtifact.Read.All). Nothing is written. Organisers without any Teams
meeting yet are named in one warning: their policy is proven at the first read.
Every finding is a warning at worst: without attendance, sessions stay presumed held.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from urllib.parse import quote, urlencode

from connectors.base import CalendarRef, ConnectorError
from connectors.checking import Finding, ok, warning
from connectors.outlook.connector import OutlookConnector
from connectors.outlook.events import join_url, user_path
from connectors.outlook.http import Answer
from connectors.outlook.meetings import (
    ARTIFACT_PERMISSION,
    LOOKUP_PERMISSION,
    LOOKUP_PERMISSIONS,
    odata_string,
    organizer_object_id,
    refusal,
)

#: How far around today the check looks for an organiser's Teams meeting.
WINDOW = timedelta(days=60)


def missing_permissions(granted: Iterable[str]) -> list[str]:
    have = set(granted)
    missing = []
    if ARTIFACT_PERMISSION not in have:
        missing.append(ARTIFACT_PERMISSION)
    if not have & LOOKUP_PERMISSIONS:
        missing.append(LOOKUP_PERMISSION)
    return missing


def attendance_granted(granted: Iterable[str]) -> bool:
    return not missing_permissions(granted)


def granted_findings(granted: Iterable[str]) -> list[Finding]:
    """The two application permissions Teams attendance needs, as the token has them."""
    missing = missing_permissions(granted)
    if not missing:
        return [ok(f"Teams attendance: {ARTIFACT_PERMISSION} and {LOOKUP_PERMISSION} granted")]
    return [
        warning(
            f"Teams attendance: {' and '.join(missing)} not granted, so Teams sessions are "
            "presumed held, never verified: add them as application permissions (Microsoft "
            "Graph) with admin consent, plus an application access policy for the organisers "
            "(README: outlook)"
        )
    ]


def policy_findings(
    connector: OutlookConnector, organizers: Sequence[CalendarRef], now: datetime
) -> list[Finding]:
    findings: list[Finding] = []
    unproven: list[str] = []
    for ref in organizers:
        try:
            finding = _organizer(connector, ref, now)
        except ConnectorError as exc:  # one organiser's failure never stops the others
            finding = warning(f"Teams attendance of {ref.calendar_id}: not checked ({exc})")
        if finding is None:
            unproven.append(ref.calendar_id)
        else:
            findings.append(finding)
    if unproven:
        findings.append(
            warning(
                "Teams attendance: no Teams meeting in the calendar of "
                f"{', '.join(unproven)} in the last or next {WINDOW.days} days, so their "
                "application access policy could not be checked yet (check again after "
                "the first sessions are booked)"
            )
        )
    return findings


def _organizer(connector: OutlookConnector, ref: CalendarRef, now: datetime) -> Finding | None:
    box = ref.calendar_id
    graph, client_id = connector.graph, str(connector.options.get("client_id", ""))
    window = urlencode(
        {
            "startDateTime": (now - WINDOW).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "endDateTime": (now + WINDOW).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "$select": "id,onlineMeeting",
            "$top": "50",
        },
        quote_via=quote,
    )
    listed = graph.call("GET", f"{user_path(box)}/calendarView?{window}")
    if not listed.ok:
        return warning(f"Teams attendance of {box}: calendar not readable ({listed.error_text()})")
    links = [join_url(item) for item in (listed.body or {}).get("value", [])]
    link = next((u for u in links if u and organizer_object_id(u)), None)
    if link is None:
        return None
    oid = organizer_object_id(link) or box
    query = urlencode({"$filter": f"JoinWebUrl eq {odata_string(link)}"}, quote_via=quote)
    found = graph.call("GET", f"{user_path(oid)}/onlineMeetings?{query}")
    if not found.ok:
        return _refused(found, LOOKUP_PERMISSION, box, oid, client_id)
    meetings = (found.body or {}).get("value", [])
    if not meetings:
        return warning(f"Teams attendance of {box}: Teams does not know the meeting of {link}")
    meeting = quote(str(meetings[0].get("id", "")), safe="")
    listed = graph.call("GET", f"{user_path(oid)}/onlineMeetings/{meeting}/attendanceReports")
    if not listed.ok:
        return _refused(listed, ARTIFACT_PERMISSION, box, oid, client_id)
    return ok(f"Teams attendance of {box}: meeting and attendance reports readable")


def _refused(answer: Answer, permission: str, box: str, oid: str, client_id: str) -> Finding:
    if answer.status == 403:
        why = refusal(answer.body, answer.status, permission, box, oid, client_id)
        return warning(f"Teams attendance: {why}")
    return warning(f"Teams attendance of {box} (object id {oid}): {answer.error_text()}")
