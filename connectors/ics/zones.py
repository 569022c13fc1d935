"""Keep custom VTIMEZONEs of different files apart.

icalendar caches a VTIMEZONE it cannot map to a known zone by its TZID, process-wide.
Outlook exports custom zones as `TZID:Customized Time Zone` (and other free names), so
two files with different definitions under the same name would get the first file's
offsets: a six-hour error in someone's busy time. Before parsing, each such TZID is
renamed to `<name>~<digest of its definition>`: equal definitions still share one
cache entry, different ones never collide.

Known names (IANA, and the Windows names icalendar maps by the CLDR table) are left
alone: for those the zone database is the better source than an exported definition.
"""

from __future__ import annotations

import functools
import hashlib
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from connectors.ics.files import property_value, unfold

_VTIMEZONE = re.compile(r"^BEGIN:VTIMEZONE\r?\n.*?^END:VTIMEZONE\r?$", re.MULTILINE | re.S | re.I)


@functools.lru_cache(maxsize=512)
def is_known_zone(tzid: str) -> bool:
    name = tzid.strip().strip('"').strip("/")
    if name in WINDOWS_TO_OLSON:
        return True
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def isolate_custom_zones(text: str) -> str:
    """`text` (unfolded) with every custom TZID made unique to its definition."""
    text = unfold(text)
    renames: dict[str, str] = {}
    for block in _VTIMEZONE.finditer(text):
        tzid = property_value(block.group(0), "TZID")
        if tzid is None or is_known_zone(tzid):
            continue
        body = re.sub(r"^TZID[;:].*$", "", block.group(0), flags=re.MULTILINE | re.I)
        digest = hashlib.sha256(body.replace("\r\n", "\n").encode()).hexdigest()[:12]
        renames[tzid.strip()] = f"{tzid.strip().strip(chr(34))}~{digest}"
    for old, new in renames.items():
        plain = re.escape(old.strip('"'))
        # The VTIMEZONE's own TZID line, and every TZID= parameter (quoted or not).
        text = re.sub(
            rf"^(TZID(?:;[^:\r\n]*)?:){re.escape(old)}[ \t]*(\r?)$",
            _replacement(r"\g<1>", new, r"\g<2>"),
            text,
            flags=re.MULTILINE,
        )
        text = re.sub(rf'(;TZID=)"?{plain}"?(?=[;:])', _replacement(r"\g<1>", f'"{new}"', ""), text)
    return text


def vtimezones(text: str) -> str:
    """The VTIMEZONE blocks of a file, each ending in CRLF, to parse an event with."""
    return "".join(m.group(0).rstrip("\r") + "\r\n" for m in _VTIMEZONE.finditer(text))


def _replacement(before: str, value: str, after: str) -> str:
    """A re.sub replacement template inserting `value` literally between groups."""
    return before + value.replace("\\", "\\\\") + after
