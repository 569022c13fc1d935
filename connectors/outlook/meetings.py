"""Teams meetings in Graph JSON, without I/O: join links, attendance reports and
records, and what a refusal asks the admin to grant.

Kept apart from the reader (attendance.py) so the mapping is tested on plain data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from connectors.base import Presence

#: Application permission for reading attendance reports and their records.
ARTIFACT_PERMISSION = "OnlineMeetingArtifact.Read.All"
#: Application permission for finding a meeting by its join link.
LOOKUP_PERMISSION = "OnlineMeetings.Read.All"
LOOKUP_PERMISSIONS = {LOOKUP_PERMISSION, "OnlineMeetings.ReadWrite.All"}

_TEAMS_HOSTS = ("teams.microsoft.com", "teams.microsoft.us", "teams.live.com")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
# The documented refusal ("App <app> is not authorized to Create meeting on behalf
# of user <user>") and the one tenants report ("No Application Access Policy found
# for this app.").
_POLICY = re.compile(r"application access policy|not authorized to .* on behalf of", re.I)


def is_teams_link(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return any(host == h or host.endswith("." + h) for h in _TEAMS_HOSTS)


def organizer_object_id(join_url: str) -> str | None:
    """The organiser's Entra object id, from the link's `context` ({"Tid", "Oid"}).

    App-only online-meeting calls name the user by object id, not by UPN (Graph's
    onlineMeeting pages: "userId is the object ID of a user"), and an app with only
    calendar permissions cannot look users up. Every Teams meeting link carries it."""
    try:
        context = parse_qs(urlsplit(join_url).query).get("context", [""])[0]
        oid = json.loads(context).get("Oid") if context else None
    except (ValueError, AttributeError):
        return None
    return str(oid) if isinstance(oid, str) and _GUID.match(oid) else None


def odata_string(value: str) -> str:
    """A string literal in an OData `$filter`: quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def instant(text: Any) -> datetime | None:
    """A Graph DateTimeOffset ("2021-10-05T04:38:27.6027225Z") as aware UTC."""
    if not isinstance(text, str) or not text:
        return None
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    head, sep, rest = value.partition(".")
    if sep:  # Graph writes seven fractional digits, Python reads at most six
        digits = re.match(r"\d*", rest)
        frac = digits.group(0) if digits else ""
        value = f"{head}.{frac[:6]}{rest[len(frac) :]}"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


@dataclass(frozen=True)
class Report:
    """One attendance report: one run of the meeting, from start to end."""

    id: str
    start: datetime
    end: datetime


def reports(items: Iterable[Mapping[str, Any]]) -> list[Report]:
    out = []
    for item in items:
        start = instant(item.get("meetingStartDateTime"))
        end = instant(item.get("meetingEndDateTime"))
        if item.get("id") and start is not None and end is not None:
            out.append(Report(str(item["id"]), start, end))
    return sorted(out, key=lambda r: r.start)


def session_reports(
    found: Sequence[Report], start: datetime, end: datetime, grace: timedelta
) -> list[Report]:
    """The reports of runs overlapping the session, give or take `grace` (people join
    a little early and stay a little late; a run a day away is another meeting)."""
    return [r for r in found if r.start < end + grace and r.end > start - grace]


@dataclass(frozen=True)
class Presences:
    """What the records say about the people asked for."""

    presence: Mapping[str, Presence]
    anonymous: int  # records without an e-mail: nobody we can name
    others: int  # records of people not asked for
    incomplete: int  # intervals without a join or leave time (Graph: "data is lacking")


def presences(
    records: Iterable[Mapping[str, Any]],
    people: Iterable[str],
    known: Mapping[str, str] | None = None,
) -> Presences:
    """Intervals of `people` (e-mail addresses) in `records`; `known` maps an Entra
    object id to the address to file that identity's record under."""
    wanted = {p.lower() for p in people}
    by_id = {k.lower(): v.lower() for k, v in (known or {}).items()}
    found: dict[str, list[tuple[datetime, datetime]]] = {}
    anonymous = others = incomplete = 0
    for record in records:
        identity = record.get("identity") if isinstance(record.get("identity"), dict) else {}
        email = by_id.get(str((identity or {}).get("id", "")).lower(), "")
        email = email or str(record.get("emailAddress") or "").strip().lower()
        if not email:
            anonymous += 1
            continue
        if email not in wanted:
            others += 1
            continue
        spans = found.setdefault(email, [])
        for interval in record.get("attendanceIntervals") or []:
            join = instant(interval.get("joinDateTime"))
            leave = instant(interval.get("leaveDateTime"))
            if join is None or leave is None or leave < join:
                incomplete += 1
                continue
            spans.append((join, leave))
    presence = {e: tuple(sorted(set(s))) for e, s in found.items() if s}
    return Presences(presence, anonymous, others, incomplete)


def refusal(
    answer_body: Any,
    status: int,
    permission: str,
    mailbox: str,
    object_id: str | None,
    client_id: str,
) -> str:
    """What to grant, from a 403 (or an unclear refusal) of an online-meeting call
    for the organiser `mailbox` (Entra `object_id` when known)."""
    err = answer_body.get("error") if isinstance(answer_body, dict) else None
    message = str(err.get("message", "")) if isinstance(err, dict) else ""
    code = str(err.get("code", "")) if isinstance(err, dict) else ""
    said = f"Graph said: HTTP {status} {code} {message}".strip()
    app = client_id or "<client_id>"
    user = object_id if object_id and _GUID.match(object_id) else f"<object id of {mailbox}>"
    policy = (
        f"no application access policy allows the app for organiser {mailbox}: in Teams "
        f"PowerShell run New-CsApplicationAccessPolicy -Identity Coachpass -AppIds {app} and "
        f"Grant-CsApplicationAccessPolicy -PolicyName Coachpass -Identity {user} "
        "(or -Global); it takes up to 30 minutes to apply"
    )
    grant = (
        f"the app lacks the application permission {permission}: add it in the app "
        "registration (Microsoft Graph, application permissions) and grant admin consent"
    )
    if _POLICY.search(message):
        return f"{policy} ({said})"
    if "role" in message.lower() or "permission" in message.lower():
        return f"{grant} ({said})"
    return f"{grant}, and make sure {policy} ({said})"
