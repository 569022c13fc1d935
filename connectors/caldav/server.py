"""A CalDAV server's calendars as resources: URLs, queries, reads of our events.

The connector (`caldav.py`) decides what a booking means; this layer only knows how
to find things on the server and what an answer says about a calendar.
"""

from __future__ import annotations

from urllib.parse import quote

from connectors.base import CalendarRef
from connectors.caldav.http import DavAnswer, DavHttp
from connectors.caldav.items import BadCalendarRef, CalendarMissing, DavFailed, Stored, ours
from connectors.caldav.protocol import (
    ProtocolError,
    collection_url,
    href_path,
    is_calendar,
    origin_of,
    parse_multistatus,
    resourcetype_propfind,
    same_origin,
    uid_query,
)
from connectors.ics import events as ics_events


class DavServer:
    def __init__(self, url: str, http: DavHttp, calendar_template: str = "") -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.http = http
        self.calendar_template = calendar_template
        self._calendars: set[str] = set()  # URLs known to be calendar collections

    # --- URLs -----------------------------------------------------------------------

    def calendar_path(self, ref: CalendarRef) -> str:
        """`calendar_id` as given; a bare name or e-mail (no `/`: what the settings put
        there when a person names no calendar) goes through `calendar_template`."""
        if "/" in ref.calendar_id or not self.calendar_template:
            return ref.calendar_id
        email = ref.email.strip()
        try:
            return self.calendar_template.format(
                id=ref.calendar_id, email=email, user=email.partition("@")[0]
            )
        except (KeyError, IndexError, ValueError) as exc:
            raise BadCalendarRef(
                f"calendar_template {self.calendar_template!r} cannot be filled in: {exc!r} "
                "(use {id}, {email} or {user})"
            ) from None

    def calendar_url(self, ref: CalendarRef) -> str:
        url = collection_url(self.url, self.calendar_path(ref))
        if not same_origin(url, self.url):
            raise BadCalendarRef(
                f"calendar_id {ref.calendar_id!r} is not on the CalDAV server "
                f"{origin_of(self.url)} (credentials are only sent there)"
            )
        return url

    def resource_url(self, path: str) -> str:
        return origin_of(self.url) + quote(path, safe="/:@!$&'()*+,;=~")

    def member_url(self, calendar: str, key: str) -> str:
        return calendar + quote(key, safe="") + ".ics"

    # --- reading --------------------------------------------------------------------

    def query(self, calendar: str, body: bytes) -> list[tuple[str, str | None, str]]:
        """(path, etag, calendar data) of what a calendar-query REPORT returns."""
        answer = self.http.request("REPORT", calendar, body, {"Depth": "1"})
        if answer.status in (403, 404, 405, 410) or 300 <= answer.status < 400:
            raise CalendarMissing(f"{calendar} answers {_describe(answer)}")
        if answer.status != 207:
            raise DavFailed(f"REPORT {calendar}: {answer.describe()}", retryable=True)
        try:
            status = parse_multistatus(answer.body)
        except ProtocolError as exc:
            raise DavFailed(f"REPORT {calendar}: {exc}", retryable=True) from None
        found = [
            (r.href, r.etag, r.calendar_data)
            for r in status.resources
            if r.status == 200 and r.calendar_data
        ]
        if not found:
            self.check_calendar(calendar)
        return found

    def check_calendar(self, calendar: str) -> None:
        """Raise `CalendarMissing` unless `calendar` is a calendar collection. Asked only
        when a query came back empty (a query answered with events is a calendar), and
        once per connector: an empty answer from the wrong collection is not "free"."""
        if calendar in self._calendars:
            return
        answer = self.http.request("PROPFIND", calendar, resourcetype_propfind(), {"Depth": "0"})
        if answer.status != 207:
            raise CalendarMissing(f"{calendar} answers {_describe(answer)}")
        if not is_calendar(answer.body):
            raise CalendarMissing(f"{calendar} is not a calendar collection")
        self._calendars.add(calendar)

    def fetch(self, url: str, key: str) -> Stored | None:
        """Our event at `url`, or None when nothing (of ours) is there."""
        answer = self.http.request("GET", url)
        if answer.status in (404, 410):
            return None
        if answer.status != 200:
            raise DavFailed(f"GET {url}: {answer.describe()}", retryable=answer.status >= 500)
        return ours(href_path(url), answer.etag, answer.body.decode("utf-8", "replace"), key)

    def find(self, calendar: str, key: str, event_id: str | None = None) -> Stored | None:
        """Our event by id when known, else at `<key>.ics`, else by UID anywhere in the
        calendar (a client may have copied or re-saved it under another name)."""
        tried: set[str] = set()
        candidates = [self.member_url(calendar, key)]
        if event_id and event_id.startswith("/"):
            candidates.insert(0, self.resource_url(event_id))
        for url in candidates:
            if url in tried:
                continue
            tried.add(url)
            found = self.fetch(url, key)
            if found is not None:
                return found
        for path, etag, data in self.query(calendar, uid_query(ics_events.uid_of(key))):
            found = ours(path, etag, data, key)
            if found is not None:
                return found
        return None


def _describe(answer: DavAnswer) -> str:
    """Status text; a redirect names where to (the configured URL needs updating)."""
    location = answer.headers.get("location")
    if 300 <= answer.status < 400 and location:
        return f"{answer.describe()}, moved to {location}: update url or calendar_id"
    return answer.describe()
