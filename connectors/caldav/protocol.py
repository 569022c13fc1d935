"""CalDAV without I/O (python-caldav style): request bodies in, parsed answers out.

Covers what the `caldav` connector speaks: RFC 4791 `calendar-query` (time-range and
UID filters) and `calendar-multiget`, RFC 6578 `sync-collection` and the `sync-token`
property, and the DAV error preconditions we act on (`valid-sync-token`,
`no-uid-conflict`). Nothing here opens a socket, so every case is testable with bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote, urljoin, urlsplit
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
_NS = f'xmlns:D="{DAV}" xmlns:C="{CALDAV}"'
_HEAD = '<?xml version="1.0" encoding="utf-8"?>\n'
_STATUS = re.compile(r"HTTP/\d(?:\.\d)?\s+(\d{3})")


def _q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def dav_time(value: datetime) -> str:
    """RFC 4791 time-range value: UTC, basic format."""
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


# --- request bodies -------------------------------------------------------------------


def calendar_query(start: datetime, end: datetime) -> bytes:
    """Every VEVENT resource with an instance in [start, end), with its data.
    Servers expand recurrences for the filter (RFC 4791 9.9); we expand again ourselves."""
    return (
        f"{_HEAD}<C:calendar-query {_NS}><D:prop><D:getetag/><C:calendar-data/></D:prop>"
        '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
        f'<C:time-range start="{dav_time(start)}" end="{dav_time(end)}"/>'
        "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"
    ).encode()


def uid_query(uid: str) -> bytes:
    """The resource whose VEVENT has this UID, wherever a client put it."""
    return (
        f"{_HEAD}<C:calendar-query {_NS}><D:prop><D:getetag/><C:calendar-data/></D:prop>"
        '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
        f'<C:prop-filter name="UID"><C:text-match collation="i;octet">{escape(uid)}'
        "</C:text-match></C:prop-filter></C:comp-filter></C:comp-filter></C:filter>"
        "</C:calendar-query>"
    ).encode()


def multiget(hrefs: Iterable[str]) -> bytes:
    refs = "".join(f"<D:href>{escape(h)}</D:href>" for h in hrefs)
    return (
        f"{_HEAD}<C:calendar-multiget {_NS}><D:prop><D:getetag/><C:calendar-data/></D:prop>"
        f"{refs}</C:calendar-multiget>"
    ).encode()


def sync_collection(token: str) -> bytes:
    """Changes since `token` (RFC 6578), asking for the data of changed resources
    right away; servers that leave it out are asked with a multiget afterwards."""
    return (
        f"{_HEAD}<D:sync-collection {_NS}><D:sync-token>{escape(token)}</D:sync-token>"
        "<D:sync-level>1</D:sync-level><D:prop><D:getetag/><C:calendar-data/></D:prop>"
        "</D:sync-collection>"
    ).encode()


def resourcetype_propfind() -> bytes:
    return f"{_HEAD}<D:propfind {_NS}><D:prop><D:resourcetype/></D:prop></D:propfind>".encode()


def sync_token_propfind() -> bytes:
    return f"{_HEAD}<D:propfind {_NS}><D:prop><D:sync-token/></D:prop></D:propfind>".encode()


# --- responses -----------------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    """One `<D:response>` of a multistatus."""

    href: str  # path, percent-decoded
    status: int  # of the resource (404 = deleted in a sync report), else of its props
    etag: str | None = None
    calendar_data: str | None = None


@dataclass(frozen=True)
class MultiStatus:
    resources: tuple[Resource, ...]
    sync_token: str | None = None
    truncated: bool = False  # RFC 6578 3.6: 507 on the collection itself, ask again


class ProtocolError(ValueError):
    """The server's answer is not the XML CalDAV prescribes."""


def href_path(href: str) -> str:
    """The comparable form of an href or URL: its path, percent-decoded."""
    return unquote(urlsplit(href.strip()).path)


def _status(element: ET.Element | None) -> int | None:
    if element is None or element.text is None:
        return None
    match = _STATUS.search(element.text)
    return int(match.group(1)) if match else None


def parse_multistatus(body: bytes, collection: str | None = None) -> MultiStatus:
    """Parse a 207 body. `collection` (a path) lets a sync report's entry for the
    collection itself be recognised (507 = results truncated) rather than listed."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise ProtocolError(f"unreadable multistatus: {exc}") from None
    if root.tag != _q(DAV, "multistatus"):
        raise ProtocolError(f"expected DAV:multistatus, got {root.tag}")
    own = href_path(collection).rstrip("/") if collection else None
    resources: list[Resource] = []
    truncated = False
    token = root.findtext(_q(DAV, "sync-token"))
    for response in root.findall(_q(DAV, "response")):
        href = response.findtext(_q(DAV, "href"))
        if href is None:
            continue
        path = href_path(href)
        status = _status(response.find(_q(DAV, "status")))
        etag: str | None = None
        data: str | None = None
        prop_status = None
        for propstat in response.findall(_q(DAV, "propstat")):
            code = _status(propstat.find(_q(DAV, "status")))
            prop = propstat.find(_q(DAV, "prop"))
            if code != 200 or prop is None:
                continue
            prop_status = 200
            etag = prop.findtext(_q(DAV, "getetag")) or etag
            data = prop.findtext(_q(CALDAV, "calendar-data")) or data
            token = prop.findtext(_q(DAV, "sync-token")) or token
        if own is not None and path.rstrip("/") == own:
            truncated = truncated or status == 507
            continue
        resources.append(Resource(path, status or prop_status or 200, etag, data))
    return MultiStatus(tuple(resources), token.strip() if token else None, truncated)


def is_calendar(body: bytes) -> bool:
    """Whether a Depth-0 PROPFIND of `resourcetype` describes a calendar collection.
    A query on any other collection answers an empty 207, which must not read as free."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return False
    return root.find(f".//{_q(DAV, 'resourcetype')}/{_q(CALDAV, 'calendar')}") is not None


def error_conditions(body: bytes) -> set[str]:
    """Local names of the preconditions in a DAV:error body (`valid-sync-token`, ...)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return set()
    if root.tag != _q(DAV, "error"):
        return set()
    return {child.tag.rpartition("}")[2] for child in root}


# --- URLs ----------------------------------------------------------------------------


def collection_url(base: str, calendar_id: str) -> str:
    """The calendar collection's URL: `calendar_id` relative to `base`, or absolute.
    Always ends with `/` (a collection), so member URLs join below it."""
    joined = urljoin(base if base.endswith("/") else base + "/", calendar_id.strip())
    return joined if joined.endswith("/") else joined + "/"


def same_origin(a: str, b: str) -> bool:
    """Credentials for `a` may be sent to `b` only when both are the same server."""
    one, two = urlsplit(a), urlsplit(b)
    return (one.scheme, one.hostname, one.port) == (two.scheme, two.hostname, two.port)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
