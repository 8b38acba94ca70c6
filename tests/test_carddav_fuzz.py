"""Generated malformed vCards: reading never raises, a card that cannot be read is a skip with a reason,
and an update of any readable card keeps every line it does not map (issue 11's fuzz, for CardDAV).

CONTACTSYNC_FUZZ_EXAMPLES generated cards per test (200 by default, 1,000 with CONTACTSYNC_HYPOTHESIS=thorough).
"""

from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contactsync.cleaning import is_clean
from contactsync.model import Contact, Email, content_hash
from contactsync.providers.carddav import CardDavProvider, Unreadable
from contactsync.providers.carddav_dav import DavClient
from contactsync.providers.carddav_vcard import FIELD_PROPS, MalformedCard, line_name, logical_lines, read_card
from contactsync.providers.carddav_vcard_write import update_card

# 1,000 in the thorough Hypothesis profile (CONTACTSYNC_HYPOTHESIS=thorough), 200 by default
# so the suite stays within its time (issue 13); CONTACTSYNC_FUZZ_EXAMPLES wins.
THOROUGH = os.environ.get("CONTACTSYNC_HYPOTHESIS") == "thorough"
EXAMPLES = int(os.environ.get("CONTACTSYNC_FUZZ_EXAMPLES") or (1000 if THOROUGH else 200))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

NASTY = ["\ud800", "\x00", "\x07", "\x1b", "\u0085", ";", ",", ":", "\\", "\\n", "\\,", '"', "=", "--0230",
         "1604-02-29", "2023-02-29", "19850304", "--1301", "data:image/png;base64,AAAA", "skype:", "xmpp:a@b",
         "urn:uuid:", "x" * 3000, " ", "É", "E\u0301", "@", "a@b.example"]
text = st.lists(st.one_of(st.text(max_size=6), st.sampled_from(NASTY)), max_size=4).map("".join)
names = st.sampled_from(["FN", "N", "EMAIL", "TEL", "ADR", "ORG", "TITLE", "NOTE", "BDAY", "IMPP", "X-SKYPE",
                         "X-JABBER", "PHOTO", "UID", "KIND", "X-ADDRESSBOOKSERVER-KIND",
                         "X-ADDRESSBOOKSERVER-MEMBER", "MEMBER", "REV", "X-CUSTOM", "item1.EMAIL",
                         "item1.X-ABLabel", "VERSION", "BEGIN", "END", "GEO", "LABEL", "CATEGORIES"])
params = st.lists(st.one_of(
    st.sampled_from(["TYPE=WORK", "TYPE=pref", "type=CELL", "PREF=1", "VALUE=uri", "VALUE=text", "ENCODING=b",
                     "X-APPLE-OMIT-YEAR=1604", "X-SERVICE-TYPE=Skype", 'X-P="a:b;c"', "CHARSET=UTF-8", "HOME"]),
    text.map(lambda t: t.replace("\r", "").replace("\n", ""))), max_size=3)
line = st.one_of(
    st.builds(lambda n, p, v: n + "".join(";" + x for x in p) + ":" + v, names, params, text),
    text,  # anything at all, as a line of its own
)
card_text = st.builds(
    lambda version, lines, closed: ("BEGIN:VCARD\r\n" + (f"VERSION:{version}\r\n" if version else "")
                                    + "\r\n".join(lines) + ("\r\nEND:VCARD\r\n" if closed else "\r\n")),
    st.sampled_from(["3.0", "4.0", "2.1", "", "9"]), st.lists(line, max_size=8), st.booleans() | st.just(True),
)
PROVIDER = CardDavProvider(DavClient("http://127.0.0.1:9/", "u", "p", "a", "fix"), "http://127.0.0.1:9/", "a")


def assert_sound(contact: Contact) -> None:
    strings = [s for s in json.dumps(contact.to_dict(), ensure_ascii=False) if s]
    assert strings
    for value in _texts(contact.to_dict()):
        assert is_clean(value)
        value.encode("utf-8")  # no lone surrogate survives
    content_hash(contact)


def _texts(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _texts(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _texts(v)]
    return []


@FUZZ
@given(card_text)
def test_generated_cards_are_records_or_skips_never_crashes(text: str) -> None:
    unreadable: list[Unreadable] = []
    found = PROVIDER.record("/book/x.vcf", '"e"', text, None, unreadable)
    if found is None:
        assert len(unreadable) <= 1 and all(u.href == "/book/x.vcf" and u.reason for u in unreadable)
        return
    record, _ = found
    assert not unreadable
    assert_sound(record.contact)


@settings(FUZZ, max_examples=max(EXAMPLES // 5, 10))
@given(card_text, st.builds(lambda n, e, t: Contact(name=n, emails=(Email(e),), job_title=t), text, text, text))
def test_an_update_of_any_readable_card_keeps_every_unmapped_line(text: str, target: Contact) -> None:
    try:
        before = read_card(text)
    except MalformedCard:
        return
    if before.is_group:
        return
    out = update_card(text, target)
    mapped = {prop for props in FIELD_PROPS.values() for prop in props}
    kept = [x for x in logical_lines(text) if line_name(x)[1] not in mapped and line_name(x)[1] != "X-ABLABEL"]
    after = logical_lines(out)
    for line_ in kept:
        assert line_ in after
