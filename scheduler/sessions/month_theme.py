"""The month's focus theme, pinned in the store the first time the month gets an agenda.

Pinned with its points as they were then: later edits of the guidelines (a theme added,
removed, reordered or reworded) never change what a planned month's invites say.
"""

from __future__ import annotations

from datetime import datetime

from scheduler.model import Month
from scheduler.runtime import Runtime
from scheduler.sessions.agenda import GuidelineSection, load_guidelines, load_messages, next_theme
from scheduler.store.themes import latest_pin_before, pin_theme, pinned_theme


def theme_of_month(rt: Runtime, month: Month, now: datetime) -> GuidelineSection:
    engine, org = rt.store.engine, rt.org
    pinned = pinned_theme(engine, org.id, month)
    if pinned is None:
        messages = load_messages(rt.settings.templates_dir, org.language)
        guidelines = load_guidelines(
            rt.settings.guidelines_dir, org.language, str(messages["guideline_theme_prefix"])
        )
        choice = next_theme(guidelines, month, latest_pin_before(engine, org.id, month))
        pinned = pin_theme(engine, org.id, month, (choice.title, choice.bullets), now=now)
    title, bullets = pinned
    return GuidelineSection(title=title, bullets=bullets, theme=True)
