"""Creating sessions in Outlook: one invitation per attendee, carrying the agenda file
exactly once and one working video link.

Graph sends the invitation the moment an event with attendees is created, and a file
added afterwards reaches only the organiser's copy ("the organizer can subsequently
update the event to send the attachment"). So an event with an agenda file is created
WITHOUT attendees, its files are attached (attach.py: never twice), and only then one
PATCH adds the attendees: their single invitation carries the file. A session whose
file did not go on stays uninvited and comes back as a retryable failure; the next
run finds the event by its tag, attaches what is missing and invites.

One link: an agenda rendered with the link mark (`NewEvent.link_mark`) gets the link
Graph made (the Teams join URL, known from the create's answer) filled into the file
and into the body sent with the attendee PATCH, so it costs no request of its own.
The fallback `video_url` goes in only when Graph made no meeting (Teams not among the
mailbox's allowed providers). `Result.video_url` is the link the invite carries.

Requests: one `$batch` of tag look-ups (skipped for a first send), one of creates,
one of attachments and one of attendee PATCHes (20 parts each, across organisers).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from connectors.base import NewEvent, Outcome, Result, in_order
from connectors.base import with_link as fill_link
from connectors.outlook.attach import Uploader
from connectors.outlook.events import (
    ATTACHMENT_LIMIT,
    agenda_html,
    attendees_json,
    event_body,
    fallback_fields,
    join_url,
    link_in_invite,
    user_path,
    wants_online,
)
from connectors.outlook.failure import failed
from connectors.outlook.http import Answer, GraphHttp, Part

__all__ = ["Creator", "failed"]

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
        body = event_body(event, self.online_provider, invite=not defers_invite(event, self))
        url = f"{user_path(box)}/events"
        return Part(event.key, "POST", url, box.lower(), body, idempotent=False)

    # -- after the create: file, then attendees (and the link) ------------------------

    def _finish(self, made: Sequence[_Made]) -> dict[str, Result]:
        """Attach the files, then invite. Every session comes back ok only when its
        event, its files and its attendees are all in place; otherwise a retryable
        failure, and the next run (which finds the event by its tag) finishes it."""
        links = {m.event.key: self._link(m) for m in made}
        uploads = Uploader(self.graph, self._run)
        # An invited event with files is complete as far as files go: we invite only
        # once every file is on. Only half-done events are listed and topped up.
        added, failures = uploads.attach(
            [
                (m, fill_link(m.event, links[m.event.key]).attachments)
                for m in made
                if not (invited(m.event, m.item) and m.item.get("hasAttachments"))
            ]
        )
        results: dict[str, Result] = dict(failures)
        patches: list[tuple[_Made, Part]] = []
        for m in made:
            if m.event.key in results:
                continue  # no invitation without its file
            link = links[m.event.key]
            fields = self._patch_fields(m, link, m.event.key in added)
            if fields:
                box = m.event.organizer.calendar_id
                url = f"{user_path(box)}/events/{quote(m.event_id, safe='')}"
                # An invitation is not resent blindly (`_send_patches` reads first); a
                # link or file update may be: at worst a second update mail.
                again = "attendees" not in fields
                part = Part(m.event.key, "PATCH", url, box.lower(), fields, idempotent=again)
                patches.append((m, part))
            else:
                results[m.event.key] = Result(m.event.key, m.outcome, m.event_id, link)
        answers = self._send_patches(patches)
        for m, part in patches:
            answer = answers[part.id]
            link = links[m.event.key]
            if answer.ok:
                results[m.event.key] = Result(m.event.key, m.outcome, m.event_id, link)
            elif "attendees" in part.body:
                # The attendees were never invited (or we cannot tell): fail, so the
                # next run finds the event by its tag and finishes it.
                results[m.event.key] = failed(m.event, "inviting the attendees", answer)
            else:
                # The invite stands; only the link (or the file) update did not land.
                was = link_in_invite(m.event, m.item, self.online_provider)
                results[m.event.key] = Result(m.event.key, m.outcome, m.event_id, was)
        return results

    def _send_patches(self, patches: Sequence[tuple[_Made, Part]]) -> dict[str, Answer]:
        """Send the PATCHes. An invitation PATCH whose fate is unknown (answer lost,
        5xx) is not resent blindly (a repeat sends the attendees an update): the
        event is read, and only when the attendees are not on it is it sent again."""
        answers: dict[str, Answer] = {}
        todo = list(patches)
        for attempt in range(self.graph.max_attempts):
            got = self._run([p for _m, p in todo])
            answers.update(got)
            unsure = [
                (m, p)
                for m, p in todo
                if "attendees" in p.body and (got[p.id].lost or got[p.id].status >= 500)
            ]
            if not unsure or attempt + 1 >= self.graph.max_attempts:
                break
            self.graph.sleep(self.graph.delay(attempt, [got[p.id] for _m, p in unsure]))
            reads = self._run(
                [Part(p.id, "GET", f"{p.url}?$select=id,attendees", p.mailbox) for _m, p in unsure]
            )
            todo = []
            for m, p in unsure:
                read = reads[p.id]
                if read.ok and invited(m.event, read.body or {}):
                    answers[p.id] = Answer(200, read.body)  # it had gone through
                elif read.ok:
                    todo.append((m, p))
                # an unreadable event keeps its failure: the next run looks again
        return answers

    def _link(self, m: _Made) -> str | None:
        """The one link the invite will carry: the native one when Graph made it,
        else the fallback; never both."""
        native = join_url(m.item)
        if native:
            return native
        return m.event.video_url

    def _patch_fields(self, m: _Made, link: str | None, files_added: bool) -> dict[str, Any]:
        if not invited(m.event, m.item):
            # The one invitation: attendees, and the agenda with its one link.
            fields: dict[str, Any] = {
                "attendees": attendees_json(m.event),
                "body": {"contentType": "HTML", "content": agenda_html(m.event, link)},
            }
            if link and link == m.event.video_url and not m.event.location:
                fields["location"] = {"displayName": link}
            return fields
        carried = link_in_invite(m.event, m.item, self.online_provider)
        if carried is None and m.event.video_url and wants_online(m.event, self.online_provider):
            return fallback_fields(m.event)  # invited without any link: add the fallback
        if files_added:
            # Already invited (found from an earlier run): an update is what brings
            # the file to the attendees' copies.
            return {"body": {"contentType": "HTML", "content": agenda_html(m.event, carried)}}
        return {}


def defers_invite(event: NewEvent, creator: Creator) -> bool:
    """Whether the event is created without attendees, to be invited by one PATCH
    once its file is on it (that PATCH then also carries the Teams link into the
    agenda). Without a file the create invites at once: waiting only to write the
    link into the body would cost a request, and Outlook shows the Teams link in
    the invitation itself, which the agenda then points to (`no_link_text`)."""
    return bool(event.attachments)


def invited(event: NewEvent, item: Mapping[str, Any]) -> bool:
    on_it = {
        str((a.get("emailAddress") or {}).get("address", "")).lower()
        for a in item.get("attendees") or []
    }
    return all(a.email.lower() in on_it for a in event.attendees)
