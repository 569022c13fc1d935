"""The page's and e-mails' texts: both languages say everything."""

from __future__ import annotations

import string

from scheduler.web.texts import TEXTS


def test_every_language_has_every_text_with_the_same_placeholders() -> None:
    english = TEXTS["en"]
    for language, texts in TEXTS.items():
        assert set(texts) == set(english), language
        for key, text in texts.items():
            fields = {f for _, f, _, _ in string.Formatter().parse(text) if f}
            wanted = {f for _, f, _, _ in string.Formatter().parse(english[key]) if f}
            assert fields == wanted, (language, key)
