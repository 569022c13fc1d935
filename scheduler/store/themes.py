"""The focus theme pinned to each month (table `month_themes`).

The first agenda of a month pins its theme (title and points); every later agenda of
that month reads the pin, so editing or reordering the guideline themes never changes
a month already planned. Two bookers pinning at once: the primary key lets one win,
and both get the winner's theme.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Engine, and_, insert, select
from sqlalchemy.exc import IntegrityError

from scheduler.model import Month
from scheduler.store.schema import month_themes

PinnedTheme = tuple[str, tuple[str, ...]]  # title, points


def pinned_theme(engine: Engine, org_id: str, month: Month) -> PinnedTheme | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(month_themes.c.title, month_themes.c.bullets).where(
                and_(month_themes.c.org_id == org_id, month_themes.c.month == str(month))
            )
        ).first()
    if row is None:
        return None
    return row.title, tuple(str(b) for b in json.loads(row.bullets))


def latest_pin_before(engine: Engine, org_id: str, month: Month) -> tuple[Month, str] | None:
    """The last month before `month` with a pinned theme, and that theme's title."""
    with engine.connect() as conn:
        row = conn.execute(
            select(month_themes.c.month, month_themes.c.title)
            .where(and_(month_themes.c.org_id == org_id, month_themes.c.month < str(month)))
            .order_by(month_themes.c.month.desc())
            .limit(1)
        ).first()
    return None if row is None else (Month.parse(row.month), row.title)


def pin_theme(
    engine: Engine, org_id: str, month: Month, theme: PinnedTheme, *, now: datetime
) -> PinnedTheme:
    """Pin `theme` to the month unless one is pinned already; returns the pinned one."""
    title, bullets = theme
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(month_themes).values(
                    org_id=org_id,
                    month=str(month),
                    title=title,
                    bullets=json.dumps(list(bullets), ensure_ascii=False),
                    pinned_at=now,
                )
            )
    except IntegrityError:
        pass  # pinned meanwhile by another booker: theirs stands
    pinned = pinned_theme(engine, org_id, month)
    assert pinned is not None
    return pinned
