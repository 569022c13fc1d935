"""Creating sessions in Outlook: one invitation per attendee, carrying the agenda file
and a working video link.

Graph sends the invitation the moment an event with attendees is created, and a file
added afterwards reaches only the organiser's copy ("the organizer can subsequently
update the event to send the attachment"). So an event with an agenda file is created
WITHOUT attendees, the file is added, and one PATCH adds the attendees: their single
invitation carries the file. An event without a file is created with its attendees.

Graph may answer a create that asked for a Teams meeting with no meeting at all
(Teams not among the mailbox's allowed providers): then the fallback `video_url` goes
into the body and location, in the attendee PATCH when there is one (still one
invitation) or in a PATCH of its own (an update). `Result.video_url` is the link
the invite really carries.

Requests: one `$batch` of tag look-ups, one of creates, one of attachments and one of
attendee PATCHes (20 parts each, across organisers).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from connectors.base import AuthError, EventChange, NewEvent, Outcome, Result, in_order
from connectors.outlook.events import (
    ATTACHMENT_LIMIT,
    attachment_body,
    attendees_json,
    body_content,
    event_body,
    fallback_fields,
    link_in_invite,
    user_path,
    wants_online,
)
from connectors.outlook.http import Answer, GraphHttp, Part

Run = Callable[[Sequence[Part]], dict[str, Answer]]
Lookup = Callable[[Sequence[tuple[str, str]]], dict[str, Answer]]


@dataclass(frozen=True)
class _Made:
    """An event of ours that exists: created now or found by its tag."""

    event: NewEvent
    outcome: Outcome
    item: Mapping[str, Any]

    @property
    def event_id(self) -> str:
        return str(self.item["id"])


class Creator:
    def __init__(
        self, graph: GraphHttp, run: Run, lookup: Lookup, online_provider: str | None
    ) -> None:
        self.graph = graph
        self._run = run
        self._lookup = lookup
        self.online_provider = online_provider

    def create(self, events: Sequence[NewEvent]) -> list[Result]:
        results: dict[str, Result] = {}
        unique: dict[str, NewEvent] = {}
        for event in events:
            unique.setdefault(event.key, event)
        for event in unique.values():
            too_big = [a.filename for a in event.attachments if len(a.data) >= ATTACHMENT_LIMIT]
            if too_big:
                results[event.key] = Result(
                    event.key,
                    Outcome.FAILED,
                    error=f"attachment {', '.join(too_big)} is 3 MB or more (Graph's limit)",
                )
        pending = [e for e in unique.values() if e.key not in results]
        made: list[_Made] = []
        for attempt in range(self.graph.max_attempts):
            if not pending:
                break
            if attempt:
                self.graph.sleep(self.graph.delay(attempt - 1))
            # Look before every create that may repeat one: Graph's answer to a
            # repeated transactionId is undocumented, so the tag is what keeps a retry
            # from booking twice. A first send the caller vouches for (`may_exist`
            # False: its store shows no create was ever sent) needs no look-up.
            ask = [e for e in pending if attempt or e.may_exist]
            found = self._lookup([(e.organizer.calendar_id, e.key) for e in ask]) if ask else {}
            to_create: list[NewEvent] = []
            for event in pending:
                if event.key not in found:
                    to_create.append(event)
                    continue
                answer = found[event.key]
                if not answer.ok:
                    results[event.key] = failed(event, "look-up", answer)
                    continue
                existing = (answer.body or {}).get("value", [])
                if existing:
                    outcome = Outcome.CREATED if attempt else Outcome.EXISTED
                    made.append(_Made(event, outcome, existing[0]))
                    results.pop(event.key, None)
                else:
                    to_create.append(event)
            answers = self._run([self._create_part(e) for e in to_create])
            pending = []
            for event in to_create:
                answer = answers[event.key]
                if answer.ok:
                    made.append(_Made(event, Outcome.CREATED, answer.body or {}))
                    continue
                results[event.key] = failed(event, "create", answer)
                if answer.lost or answer.status >= 500 or answer.status in (424, 429):
                    pending.append(event)  # fate unknown: look it up next round
        results.update(self._finish(made))
        return in_order([e.key for e in events], results)

    def _create_part(self, event: NewEvent) -> Part:
        box = event.organizer.calendar_id
        body = event_body(event, self.online_provider, invite=not event.attachments)
        url = f"{user_path(box)}/events"
        return Part(event.key, "POST", url, box.lower(), body, idempotent=False)

    # -- after the create: file, then attendees (and the fallback link) ---------------

    def _finish(self, made: Sequence[_Made]) -> dict[str, Result]:
        attach = [m for m in made if m.event.attachments and not m.item.get("hasAttachments")]
        self._attach(attach)
        attached = {m.event.key for m in attach}
        results: dict[str, Result] = {}
        patches: list[tuple[_Made, Part, str | None]] = []
        for m in made:
            link = link_in_invite(m.event, m.item, self.online_provider)
            fields: dict[str, Any] = {}
            fallback = (
                link is None and m.event.video_url and wants_online(m.event, self.online_provider)
            )
            if fallback:
                fields.update(fallback_fields(m.event))
                link = m.event.video_url
            if not m.item.get("attendees") and m.event.attendees:
                fields["attendees"] = attendees_json(m.event)
            elif m.event.key in attached and not fields:
                # Already invited (found from an earlier run): an update is what
                # brings the file to the attendees' copies.
                content = body_content(m.event, with_link=link == m.event.video_url)
                fields["body"] = {"contentType": "HTML", "content": content}
            if fields:
                box = m.event.organizer.calendar_id
                url = f"{user_path(box)}/events/{quote(m.event_id, safe='')}"
                patches.append((m, Part(m.event.key, "PATCH", url, box.lower(), fields), link))
            else:
                results[m.event.key] = Result(m.event.key, m.outcome, m.event_id, link)
        answers = self._run([p for _m, p, _l in patches])
        for m, part, link in patches:
            answer = answers[part.id]
            if answer.ok:
                results[m.event.key] = Result(m.event.key, m.outcome, m.event_id, link)
            elif "attendees" in part.body:
                # The attendees were never invited: fail, so the next run finds the
                # event by its tag and finishes it.
                results[m.event.key] = failed(m.event, "inviting the attendees", answer)
            else:
                # The invite stands; only the link (or the file) update did not land.
                was = link_in_invite(m.event, m.item, self.online_provider)
                results[m.event.key] = Result(m.event.key, m.outcome, m.event_id, was)
        return results

    def _attach(self, targets: Sequence[_Made]) -> None:
        # The agenda file is a convenience on top of the HTML body, so a failed upload
        # does not fail the booking. Resending one whose answer was lost risks a second
        # copy of the file, which is the lesser harm than an agenda missing.
        parts = []
        for m in targets:
            box = m.event.organizer.calendar_id
            url = f"{user_path(box)}/events/{quote(m.event_id, safe='')}/attachments"
            for n, att in enumerate(m.event.attachments):
                parts.append(
                    Part(f"{m.event.key}.{n}", "POST", url, box.lower(), attachment_body(att))
                )
        self._run(parts)


def failed(event: NewEvent | EventChange, what: str, answer: Answer) -> Result:
    """A failed request as a Result; a refused token stops the whole call."""
    if answer.status == 401:
        raise AuthError(
            f"Microsoft Graph refused the app's token for {event.organizer.calendar_id} "
            f"({answer.error_text()}): check the app's permissions and admin consent"
        )
    if answer.status in (403, 404):
        # One mailbox out of reach must not stop the others' bookings.
        return Result(
            event.key,
            Outcome.FAILED,
            error=f"{what} of session {event.key}: mailbox {event.organizer.calendar_id} "
            f"is not reachable for the app ({answer.error_text()}): check the address, "
            "the Calendars.ReadWrite permission and the app's Exchange RBAC scope",
        )
    retryable = answer.lost or answer.status >= 500 or answer.status in (424, 429)
    return Result(
        event.key,
        Outcome.FAILED,
        error=f"{what} of session {event.key} in {event.organizer.calendar_id}: "
        f"{answer.error_text()}",
        retryable=retryable,
    )
