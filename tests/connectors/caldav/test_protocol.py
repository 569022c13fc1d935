"""The sans-I/O CalDAV layer on answers shaped as other servers write them (prefixes,
percent-encoded hrefs, truncated sync reports), Retry-After forms and cursors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.caldav.changes import CaldavCursor, decode, encode
from connectors.caldav.http import retry_after
from connectors.caldav.protocol import (
    ProtocolError,
    collection_url,
    dav_time,
    error_conditions,
    href_path,
    is_calendar,
    parse_multistatus,
    same_origin,
)

# Nextcloud/SabreDAV style: `d:` and `cal:` prefixes, a propstat per status, the
# sync token at the end, an href with an escaped `@`, a deleted member, and the
# collection itself flagged 507 (more changes than fitted in this answer).
SABRE_SYNC = b"""<?xml version="1.0"?>
<d:multistatus xmlns:d="DAV:" xmlns:cal="urn:ietf:params:xml:ns:caldav">
 <d:response>
  <d:href>/remote.php/dav/calendars/ann%40example.com/work/cpa.ics</d:href>
  <d:propstat><d:prop><d:getetag>"e1"</d:getetag>
   <cal:calendar-data>BEGIN:VCALENDAR&#13;
END:VCALENDAR&#13;
</cal:calendar-data></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>
  <d:propstat><d:prop><d:displayname/></d:prop>
   <d:status>HTTP/1.1 404 Not Found</d:status></d:propstat>
 </d:response>
 <d:response>
  <d:href>/remote.php/dav/calendars/ann%40example.com/work/old.ics</d:href>
  <d:status>HTTP/1.1 404 Not Found</d:status>
 </d:response>
 <d:response>
  <d:href>/remote.php/dav/calendars/ann%40example.com/work/</d:href>
  <d:status>HTTP/1.1 507 Insufficient Storage</d:status>
 </d:response>
 <d:sync-token>http://sabre.io/ns/sync/42</d:sync-token>
</d:multistatus>"""


def test_multistatus_as_sabredav_writes_it() -> None:
    answer = parse_multistatus(
        SABRE_SYNC, collection="https://x.example/remote.php/dav/calendars/ann@example.com/work/"
    )
    assert answer.sync_token == "http://sabre.io/ns/sync/42"
    assert answer.truncated
    first, deleted = answer.resources
    assert first.href == "/remote.php/dav/calendars/ann@example.com/work/cpa.ics"
    assert (first.status, first.etag) == (200, '"e1"')
    assert first.calendar_data and first.calendar_data.startswith("BEGIN:VCALENDAR")
    assert deleted.href.endswith("/old.ics") and deleted.status == 404
    assert deleted.calendar_data is None


def test_not_a_multistatus_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        parse_multistatus(b"<html>login</html>")
    with pytest.raises(ProtocolError):
        parse_multistatus(b"not xml at all")


def test_error_preconditions_and_resourcetype() -> None:
    body = b'<D:error xmlns:D="DAV:"><D:valid-sync-token/></D:error>'
    assert error_conditions(body) == {"valid-sync-token"}
    assert error_conditions(b"Forbidden") == set()
    calendar = (
        b'<D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:response>'
        b"<D:href>/a/</D:href><D:propstat><D:prop><D:resourcetype><D:collection/><C:calendar/>"
        b"</D:resourcetype></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>"
        b"</D:response></D:multistatus>"
    )
    assert is_calendar(calendar)
    assert not is_calendar(calendar.replace(b"<C:calendar/>", b""))


def test_urls_and_times() -> None:
    assert collection_url("http://h:1/dav", "ann/work") == "http://h:1/dav/ann/work/"
    assert collection_url("http://h:1/dav/", "/root/cal/") == "http://h:1/root/cal/"
    assert collection_url("http://h:1/", "https://other/cal") == "https://other/cal/"
    assert same_origin("http://h:1/a/", "http://h:1/b/")
    assert not same_origin("http://h:1/a/", "http://h:2/a/")
    assert not same_origin("http://h:1/a/", "https://h:1/a/")
    assert href_path("http://h/a%40b/c.ics") == "/a@b/c.ics"
    stockholm_noon = datetime(2031, 3, 4, 12, tzinfo=UTC) + timedelta(hours=-1)
    assert dav_time(stockholm_noon) == "20310304T110000Z"


def test_retry_after_forms() -> None:
    now = datetime(2031, 3, 4, 12, 0, 0, tzinfo=UTC)
    assert retry_after({"retry-after": "12"}, now) == 12.0
    assert retry_after({"retry-after": "Tue, 04 Mar 2031 12:00:30 GMT"}, now) == 30.0
    assert retry_after({"retry-after": "Tue, 04 Mar 2031 11:00:00 GMT"}, now) == 0.0
    assert retry_after({"retry-after": "soon"}, now) is None
    assert retry_after({}, now) is None


def test_cursor_round_trip_and_garbage() -> None:
    cursor = CaldavCursor("/a/cal/", "tok", {"/a/cal/x.ics": ("cpx", "d1")})
    assert decode(encode(cursor)) == cursor
    for bad in (None, "", "ics1.abc", "cdv1.!!!", "cdv1." + "A" * 40, encode(cursor)[:-6]):
        assert decode(bad) is None
