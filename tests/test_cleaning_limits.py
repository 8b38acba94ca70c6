"""Text cleaned at the boundary, real dates only, invalid values never primary, one limits table."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from contactsync.cleaning import REPLACEMENT, clean_text, is_clean
from contactsync.crm.pipedrive_fields import ims_value
from contactsync.limits import PIPEDRIVE_LIMITS, fit_to_limits, ims_length
from contactsync.model import Contact, Email, Im, IssueKind, Phone, birthday_parts, normalise


def test_control_characters_go_newline_and_tab_stay() -> None:
    text, done = clean_text("a\x00b\x07c\td\ne\r\nf\x7f\x85g")
    assert text == "abc\td\ne\nfg"
    assert done is not None and "4 control characters removed" in done


def test_lone_surrogates_are_replaced() -> None:
    text, done = clean_text("Acme \ud800 s.r.o.")
    assert text == f"Acme {REPLACEMENT} s.r.o."
    assert done is not None and "surrogate" in done
    text.encode("utf-8")  # would raise on a surrogate


def test_clean_text_leaves_clean_text_alone() -> None:
    assert clean_text("Ann\tB\nč 😀") == ("Ann\tB\nč 😀", None)


@given(st.text())
def test_cleaned_text_is_clean_and_encodable(value: str) -> None:
    text, done = clean_text(value)
    assert is_clean(text)
    text.encode("utf-8")
    assert (done is None) == (text == value.replace("\r\n", "\n").replace("\r", "\n"))


def test_normalise_cleans_every_field_and_records_it() -> None:
    contact = normalise(Contact(name="Ann\x00 Smith", notes="line\x07 one\nline two",
                                organization="Ac\ud800me", emails=(Email("ann@x.org\x00"),)))
    assert contact.name == "Ann Smith"
    assert contact.notes == "line one\nline two"
    assert contact.organization == f"Ac{REPLACEMENT}me"
    assert contact.emails[0].value == "ann@x.org"
    cleaned = {i.field for i in contact.issues if i.kind is IssueKind.CLEANED}
    assert cleaned == {"name", "notes", "organization", "emails"}
    assert normalise(contact).issues == contact.issues  # recorded once


def test_issues_are_not_part_of_the_synced_record() -> None:
    dirty = normalise(Contact(name="Ann\x00"))
    assert dirty == normalise(Contact(name="Ann")) and dirty.issues
    assert "issues" not in dirty.to_dict()


def test_impossible_dates_are_not_birthdays() -> None:
    assert birthday_parts("--02-30") is None
    assert birthday_parts("2023-02-29") is None
    assert birthday_parts("--02-29") == (None, 2, 29)
    assert birthday_parts("2024-02-29") == (2024, 2, 29)
    contact = normalise(Contact(name="Ann", birthday="--02-30"))
    assert contact.birthday == ""
    assert [(i.kind, i.field) for i in contact.issues] == [(IssueKind.UNREADABLE, "birthday")]
    assert contact.unreadable() == {"birthday"}


def test_invalid_email_and_digitless_phone_are_kept_but_never_primary() -> None:
    contact = normalise(Contact(name="Ann", emails=(Email("not an email", primary=True), Email("ann@x.org")),
                                phones=(Phone("+", primary=True), Phone("+420 123"))))
    assert [(e.value, e.primary) for e in contact.emails] == [("not an email", False), ("ann@x.org", True)]
    assert [(p.value, p.primary) for p in contact.phones] == [("+", False), ("+420 123", True)]
    assert {(i.kind, i.field) for i in contact.issues} == {(IssueKind.INVALID, "emails"),
                                                           (IssueKind.INVALID, "phones")}
    alone = normalise(Contact(name="Ann", emails=(Email("ann@"),)))
    assert not any(e.primary for e in alone.emails)


def test_instant_messenger_is_cut_at_65000_characters() -> None:
    assert PIPEDRIVE_LIMITS["ims"] == 65_000
    ims = tuple(Im("h" * 30_000, "skype", i == 0) for i in range(3))
    fitted = fit_to_limits(Contact(name="Ann", ims=ims), PIPEDRIVE_LIMITS)
    assert ims_length(fitted.ims) <= 65_000 and len(fitted.ims) == 2
    assert len(ims_value(fitted.ims) or "") == ims_length(fitted.ims)
    [cut] = fitted.issues
    assert cut.kind is IssueKind.CUT and cut.field == "ims" and "1 handle left out" in cut.detail
    huge = fit_to_limits(Contact(name="Ann", ims=(Im("x" * 70_000, "skype", True),)), PIPEDRIVE_LIMITS)
    assert ims_length(huge.ims) == 65_000


def test_every_text_field_is_cut_at_its_limit_and_recorded() -> None:
    contact = Contact(name="n" * 300, organization="o" * 300, job_title="j" * 300, notes="x" * 70_000)
    fitted = fit_to_limits(contact, PIPEDRIVE_LIMITS)
    assert (len(fitted.name), len(fitted.organization), len(fitted.job_title), len(fitted.notes)) == (
        255, 255, 255, 65_000)
    assert {i.field for i in fitted.issues if i.kind is IssueKind.CUT} == {
        "name", "organization", "job_title", "notes"}
    short = Contact(name="Ann")
    assert fit_to_limits(short, PIPEDRIVE_LIMITS) is short
