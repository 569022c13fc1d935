"""Making sure the invitation carries one video link whenever Coachpass records one.

Google may not create the Meet conference an insert asked for: the answer's
`conferenceData.createRequest.status.statusCode` is "success", "pending" (the link is
generated asynchronously) or "failure". The contract kept here:

- "success": the Meet join URL is the link; nothing more to do. Google shows it in
  the invitation and the event itself, and the agenda (rendered with the link mark)
  says "use the meeting link in this invitation": one link, no extra request.
- "pending": read the event again, a bounded number of times (MEET_READS) with a
  growing wait. Settled to success: as above. Still pending: the session is a
  retryable failure with no link recorded, and *no* fallback goes in (a Meet link
  may still come, and two links send people to different rooms); the next `book`
  adopts the event by its id and reads it again.
- "failure": when the session has a fallback link (`NewEvent.video_url`), patch it
  into the description (filling the agenda's link mark, else appended) and the
  location when that is empty, sending the update to the attendees; without a
  fallback the invite has no link.

`Result.video_url` is then the link really in the invite: the Meet URL, the fallback,
or None. The usual case (success) costs no request; the others one batch per read
and one for the patches of one organiser.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from html import escape
from typing import Any

from connectors.base import NewEvent
from connectors.base import with_link as fill_link
from connectors.google.batch import Backoff, run_batch
from connectors.google.wire import ApiFailure, description, video_html, video_url_of

log = logging.getLogger(__name__)


#: How many times a pending Meet request is read again within one run.
MEET_READS = 3


@dataclass(frozen=True)
class Link:
    """The video link of one event as it stands in the invite, or why it is missing."""

    url: str | None
    error: str | None = None
    pending: bool = False  # Meet still generating it: read again on the next run


def meet_status(item: Mapping[str, Any]) -> str | None:
    """Google's state of the Meet request: success, pending, failure (None: no request)."""
    status = item.get("conferenceData", {}).get("createRequest", {}).get("status", {})
    code = status.get("statusCode") if isinstance(status, Mapping) else None
    return str(code) if code else None


def carries(item: Mapping[str, Any], url: str) -> bool:
    """Whether the event's description or location already holds `url`."""
    text = f"{item.get('description', '')}\n{item.get('location', '')}"
    return url in text or escape(url) in text


def link_of(event: NewEvent, item: Mapping[str, Any]) -> str | None:
    """The link the invite carries now: the native one, else the fallback if present."""
    native = video_url_of(item)
    if native:
        return native
    if event.video_url and carries(item, event.video_url):
        return event.video_url
    return None


def needs_fallback(event: NewEvent, item: Mapping[str, Any]) -> bool:
    if meet_status(item) == "pending":
        return False  # a Meet link may still come: never two links
    return bool(event.online_meeting and event.video_url and link_of(event, item) is None)


def fallback_patch(
    event: NewEvent, item: Mapping[str, Any], guideline_url: str | None = None
) -> dict[str, Any]:
    assert event.video_url is not None
    if event.link_mark:
        # The agenda had the link mark: render it again with the fallback in its place.
        text = description(fill_link(event, event.video_url), event.guideline_url or guideline_url)
    else:
        text = str(item.get("description", "")) + video_html(event.video_url)
    body: dict[str, Any] = {"description": text}
    if not item.get("location"):
        body["location"] = event.video_url
    return body


@dataclass(frozen=True)
class MeetSettler:
    events: Any  # the googleapiclient events() resource
    batch_uri: str
    backoff: Backoff
    guideline_url: str | None = None  # the connector's, for a re-rendered description

    def settle(
        self, answers: Mapping[str, tuple[NewEvent, Mapping[str, Any]]], http: Any
    ) -> dict[str, Link]:
        """The link in each event's invite (key -> Link), patching in fallbacks."""
        items = {key: item for key, (_event, item) in answers.items()}
        events = {key: event for key, (event, _item) in answers.items()}
        # A cancelled event (adopted after a 409) stays as the organiser left it.
        live = {k for k, item in items.items() if item.get("status") != "cancelled"}
        for n in range(MEET_READS):
            pending = [k for k in live if self._pending(events[k], items[k])]
            if not pending:
                break
            items.update(self._read_again(pending, events, http, n))
        patch = [k for k in live if needs_fallback(events[k], items[k])]
        links = {k: Link(link_of(events[k], item)) for k, item in items.items()}
        for k in live:
            if self._pending(events[k], items[k]):
                organizer = events[k].organizer
                links[k] = Link(
                    None,
                    f"Google is still generating the Meet link of session {k} in the "
                    f"calendar of {organizer.person_id} <{organizer.email}>: the next "
                    "booking run reads it again (the invitation went out; no fallback "
                    "link is added while a Meet link may still come)",
                    pending=True,
                )
        if patch:
            links.update(self._patch(patch, events, items, http))
        return links

    @staticmethod
    def _pending(event: NewEvent, item: Mapping[str, Any]) -> bool:
        return (
            event.online_meeting and meet_status(item) == "pending" and link_of(event, item) is None
        )

    def _read_again(
        self, keys: list[str], events: Mapping[str, NewEvent], http: Any, n: int
    ) -> dict[str, Mapping[str, Any]]:
        """One more read of events whose Meet link was still being generated, after a
        wait growing with `n`. A failed read leaves the event as it was (pending)."""
        self.backoff.wait(n, None)
        fetch: dict[str, Callable[[], Any]] = {
            k: partial(self.events.get, calendarId=events[k].organizer.calendar_id, eventId=k)
            for k in keys
        }
        found = run_batch(fetch, http, self.batch_uri, self.backoff)
        return {k: item for k, item in found.items() if not isinstance(item, ApiFailure)}

    def _patch(
        self,
        keys: list[str],
        events: Mapping[str, NewEvent],
        items: Mapping[str, Mapping[str, Any]],
        http: Any,
    ) -> dict[str, Link]:
        requests: dict[str, Callable[[], Any]] = {
            k: partial(
                self.events.patch,
                calendarId=events[k].organizer.calendar_id,
                eventId=k,
                body=fallback_patch(events[k], items[k], self.guideline_url),
                sendUpdates="all",
                # Version 1 keeps the (failed or pending) Meet request as it is.
                conferenceDataVersion=1,
            )
            for k in keys
        }
        links: dict[str, Link] = {}
        for key, answer in run_batch(requests, http, self.batch_uri, self.backoff).items():
            if isinstance(answer, ApiFailure):
                organizer = events[key].organizer
                error = (
                    f"Google created no Meet link for session {key} in the calendar of "
                    f"{organizer.person_id} <{organizer.email}> and adding the fallback "
                    f"video link failed: {answer.describe()}; the invite has no video link"
                )
                log.warning("%s", error)
                links[key] = Link(None, error)
            else:
                links[key] = Link(link_of(events[key], answer))
        return links
