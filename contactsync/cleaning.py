"""Text cleaned at the boundary, in one documented way, every cleaning recorded.

Whatever an API hands us, the text a `Contact` holds is:

* free of control characters other than newline and tab: C0 (U+0000–U+001F),
  DEL (U+007F) and C1 (U+0080–U+009F) are removed. A carriage return is a line
  break, not garbage: ``\\r\\n`` and a lone ``\\r`` become ``\\n`` first;
* free of lone surrogates (U+D800–U+DFFF, which JSON's ``\\uD800`` escapes let
  through): each is replaced by U+FFFD, the replacement character. Requests
  refuses to encode them ("surrogates not allowed") and no API could store them.

A value that had to be cleaned is recorded on the contact as an ``Issue`` of
kind ``cleaned`` (like a cut at a length limit), so the user can find it.
"""

from __future__ import annotations

import re

_LINE_BREAK = re.compile(r"\r\n?")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def clean_text(value: str) -> tuple[str, str | None]:
    """The cleaned text and what was done to it (None when it was already clean)."""
    text = _LINE_BREAK.sub("\n", value)
    done: list[str] = []
    text, controls = _CONTROL.subn("", text)
    if controls:
        done.append(f"{controls} control character{'s' if controls > 1 else ''} removed")
    text, surrogates = _SURROGATE.subn(REPLACEMENT, text)
    if surrogates:
        done.append(f"{surrogates} invalid character{'s' if surrogates > 1 else ''} (lone surrogate) "
                    "replaced by U+FFFD")
    return text, ("; ".join(done) if done else None)


def is_clean(value: str) -> bool:
    return not (_CONTROL.search(value) or _SURROGATE.search(value) or "\r" in value)
