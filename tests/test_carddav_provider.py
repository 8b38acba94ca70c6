"""The CardDAV provider against a real Radicale: discovery, listings, sync tokens, ETags, 412s, groups."""

from __future__ import annotations

import base64
import re
from urllib.parse import unquote

import pytest
import requests

from carddav_support import Tamper, provider_for, vcard
from contactsync.errors import AuthError, CursorExpired, StaleVersion
from contactsync.model import Contact, Email, Phone
from contactsync.providers.base import ProviderDeletion, ProviderRecord, ProviderSkip
from contactsync.providers.carddav_dav import DavClient, discover_home


def read(feed):
    out = []
    for page in feed.pages():
        out += page
    return out


def by_name(changes):
    return {c.contact.name: c for c in changes if isinstance(c, ProviderRecord)}


def test_discovery_from_the_server_root_and_from_well_known(dav):
    for url in (dav.url, dav.url + "/", f"{dav.url}/{dav.server.username}/"):
        client = DavClient(url, dav.server.username, dav.server.password, "a", "fix")
        assert discover_home(client).endswith(f"/{dav.server.username.replace('@', '%40')}/")


def test_wrong_password_is_an_auth_error(dav):
    client = DavClient(dav.url, dav.server.username, "wrong-password", "carddav:ann", "run add-account again")
    with pytest.raises(AuthError) as raised:
        discover_home(client)
    assert "wrong-password" not in raised.value.line()


def test_groups_are_address_books_and_group_cards(dav):
    other = dav.server.make_address_book("work", "Work")
    dav.put("A", "Ann Able")
    dav.put("B", "Bob Baker")
    dav.put_raw("G.vcf", "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:G\r\nFN:Clients\r\nN:Clients;;;;\r\n"
                         "X-ADDRESSBOOKSERVER-KIND:group\r\nX-ADDRESSBOOKSERVER-MEMBER:urn:uuid:A\r\nEND:VCARD\r\n")
    dav.put("C", "Cleo Work", book=other)
    provider = provider_for(dav)
    groups = {g.name: g for g in provider.groups()}
    assert groups["Contacts"].member_count == 2 and groups["Work"].member_count == 1
    assert groups["Contacts / Clients"].member_count == 1
    assert [g.name for g in provider.groups() if g.is_default] == [provider.default_group().name]

    members = read(provider.changes(None, groups["Contacts / Clients"].id))
    assert list(by_name(members)) == ["Ann Able"]
    assert list(by_name(read(provider.changes(None, groups["Work"].id)))) == ["Cleo Work"]


def test_incremental_reads_with_sync_collection(dav):
    dav.put("A", "Ann Able", "EMAIL:ann@x.example")
    dav.put("B", "Bob Baker")
    tamper = Tamper()
    provider = provider_for(dav, tamper=tamper)
    feed = provider.changes(None, dav.book)
    first = read(feed)
    assert feed.complete and set(by_name(first)) == {"Ann Able", "Bob Baker"}
    assert feed.cursor and "|sync:" in feed.cursor

    tamper.methods.clear()
    quiet = provider.changes(feed.cursor, dav.book)
    assert read(quiet) == [] and not quiet.complete
    assert tamper.methods == ["REPORT"]  # a quiet pass is one request

    dav.put("A", "Ann Able", "EMAIL:ann@new.example")
    dav.delete(f"{dav.book}B.vcf")
    dav.put("C", "Cleo Cole")
    changes = read(provider.changes(quiet.cursor, dav.book))
    assert by_name(changes)["Ann Able"].contact.emails == (Email("ann@new.example", "other", True),)
    assert "Cleo Cole" in by_name(changes)
    assert [c.id for c in changes if isinstance(c, ProviderDeletion)] == [f"{dav.book}B.vcf"]


def test_an_invalid_sync_token_is_reported_expired_never_as_deletions(dav):
    dav.put("A", "Ann Able")
    provider = provider_for(dav)
    feed = provider.changes(None, dav.book)
    read(feed)
    forged = re.sub(r"sync:.*", "sync:http://radicale.org/ns/sync/" + "0" * 64, feed.cursor)
    with pytest.raises(CursorExpired):
        provider.changes(forged, dav.book)
    with pytest.raises(CursorExpired):  # a cursor of another mapping version
        provider.changes("00000000|sync:whatever", dav.book)


def _no_sync_collection(request, real):
    """A server without RFC 6578: no DAV:sync-token property, the REPORT refused."""
    if request.method == "REPORT" and b"sync-collection" in (request.body or b""):
        response = requests.Response()
        response.status_code, response._content = 403, (
            b'<?xml version="1.0"?><D:error xmlns:D="DAV:"><D:supported-report/></D:error>')
        response.url = request.url
        return response
    if request.method == "PROPFIND" and b"sync-token" in (request.body or b""):
        answer = real()
        answer._content = re.sub(rb"<sync-token>[^<]*</sync-token>|<supported-report-set>.*?</supported-report-set>",
                                 b"", answer.content, flags=re.S)
        return answer
    return None


def test_without_sync_collection_etags_are_compared(dav):
    dav.put("A", "Ann Able")
    dav.put("B", "Bob Baker")
    tamper = Tamper()
    tamper.hooks.append(_no_sync_collection)
    provider = provider_for(dav, tamper=tamper)
    feed = provider.changes(None, dav.book)
    assert set(by_name(read(feed))) == {"Ann Able", "Bob Baker"} and "|etags:" in feed.cursor

    tamper.methods.clear()
    quiet = provider.changes(feed.cursor, dav.book)
    assert read(quiet) == [] and tamper.methods == ["PROPFIND"]

    dav.put("A", "Ann Able", "TITLE:Boss")
    dav.delete(f"{dav.book}B.vcf")
    tamper.methods.clear()
    changes = read(provider.changes(quiet.cursor, dav.book))
    assert by_name(changes)["Ann Able"].contact.job_title == "Boss"
    assert [c.id for c in changes if isinstance(c, ProviderDeletion)] == [f"{dav.book}B.vcf"]
    assert tamper.methods == ["PROPFIND", "REPORT"]  # the listing, then one multiget of what changed


def test_a_truncated_sync_collection_is_continued(dav):
    """RFC 6578 §3.6: a server may stop early, mark the request-URI 507 and give a token to go on.
    Radicale never truncates, so the first answer is cut in two here, with a real token of Radicale's
    taken between the two halves; the rest must come from the continuation."""
    for i in range(3):
        dav.put(f"A{i}", f"Early {i}")
    midway = read_token(dav)
    for i in range(3):
        dav.put(f"B{i}", f"Late {i}")
    tamper = Tamper()
    calls = []

    def truncate_first(request, real):
        if request.method != "REPORT" or b"sync-collection" not in (request.body or b""):
            return None
        calls.append(request.body)
        answer = real()
        if len(calls) == 1:
            body = answer.content.decode()
            responses = re.findall(r"<response>.*?</response>", body, flags=re.S)
            early = "".join(r for r in responses if "/A" in r)
            own = (f"<response><href>{dav.book}</href>"
                   "<status>HTTP/1.1 507 Insufficient Storage</status></response>")
            head = re.sub(r"<sync-token>.*?</sync-token>", "", body[:body.index("<response>")])
            answer._content = (head + early + own
                               + f"<sync-token>{midway}</sync-token></multistatus>").encode()
        return answer

    tamper.hooks.append(truncate_first)
    provider = provider_for(dav, tamper=tamper)
    feed = provider.changes(None, dav.book)
    names = set(by_name(read(feed)))
    assert names == {f"Early {i}" for i in range(3)} | {f"Late {i}" for i in range(3)}
    assert len(calls) == 2 and midway.encode() in calls[1]
    assert feed.complete
    assert read(provider.changes(feed.cursor, dav.book)) == []


def read_token(dav):
    body = ('<?xml version="1.0"?><D:sync-collection xmlns:D="DAV:"><D:sync-token/>'
            "<D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>")
    response = dav.server.session().request("REPORT", dav.url + dav.book, data=body, headers={"Depth": "0"})
    return re.search(r"<sync-token>(.*?)</sync-token>", response.text).group(1)


def test_writes_are_conditional_and_a_stale_version_is_reported(dav):
    provider = provider_for(dav)
    created = provider.create(Contact(name="Nia New", emails=(Email("nia@x.example", "work", True),)), dav.book)
    assert created.id.startswith(dav.book) and created.contact.name == "Nia New"
    text = dav.get(created.id)
    uid = re.search(r"UID:(.*)", text).group(1).strip()
    assert created.id.endswith(f"{uid}.vcf")  # the resource name comes from our own UID

    # Another client edits the card: our update with the old ETag must not overwrite it.
    dav.put_raw(created.id.rsplit("/", 1)[1], text.replace("END:VCARD", "TITLE:Edited elsewhere\r\nEND:VCARD"))
    with pytest.raises(StaleVersion):
        provider.update(created.id, Contact(name="Nia Newer"), created.version)
    current = provider.get(created.id)
    assert current.contact.job_title == "Edited elsewhere"
    assert current.updated and current.updated.endswith("Z")  # the server's Last-Modified, RFC 3339
    updated = provider.update(created.id, Contact(name="Nia Newer", job_title="Edited elsewhere"), current.version)
    assert "TITLE:Edited elsewhere" in dav.get(created.id) and updated.version != current.version

    provider.delete(created.id)
    assert provider.get(created.id) is None
    provider.delete(created.id)  # already gone: not an error


def test_a_412_between_read_and_put_is_a_stale_version(dav):
    """The server's own If-Match check, not only ours: the card changes after our GET."""
    dav.put("A", "Ann Able")
    tamper = Tamper()
    provider = provider_for(dav, tamper=tamper)
    record = provider.get(f"{dav.book}A.vcf")

    def edit_before_put(request, real):
        if request.method == "PUT":
            tamper.hooks.clear()
            dav.put("A", "Ann Able", "NOTE:edited meanwhile")
        return None

    tamper.hooks.append(edit_before_put)
    with pytest.raises(StaleVersion):
        provider.update(record.id, Contact(name="Ann Changed"), record.version)
    assert "edited meanwhile" in dav.get(record.id)


def test_a_create_whose_answer_is_lost_is_not_duplicated(dav):
    tamper = Tamper()
    provider = provider_for(dav, tamper=tamper)
    lost = []

    def lose_first_put(request, real):
        if request.method == "PUT" and not lost:
            real()  # the server stores the card…
            lost.append(request.url)
            raise requests.ConnectionError("connection reset")  # …and the answer never arrives
        return None

    tamper.hooks.append(lose_first_put)
    created = provider.create(Contact(name="Once Only"), dav.book)
    assert lost and [unquote(h) for h in dav.hrefs()] == [unquote(created.id)]
    assert tamper.methods.count("PUT") == 2  # repeated, refused with 412, recognised as ours


def test_a_group_card_sync_group_follows_membership(dav):
    dav.put("A", "Ann Able")
    dav.put("B", "Bob Baker")
    group = ("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:G\r\nFN:Clients\r\nN:Clients;;;;\r\n"
             "X-ADDRESSBOOKSERVER-KIND:group\r\nX-ADDRESSBOOKSERVER-MEMBER:urn:uuid:A\r\nEND:VCARD\r\n")
    dav.put_raw("G.vcf", group)
    provider = provider_for(dav)
    gid = f"{dav.book}#{dav.book}G.vcf"
    feed = provider.changes(None, gid)
    assert list(by_name(read(feed))) == ["Ann Able"] and feed.expected == 1  # the members, not the book's cards

    dav.put("B", "Bob Baker", "TITLE:not in the group")
    quiet = provider.changes(feed.cursor, gid)
    assert read(quiet) == []

    dav.put_raw("G.vcf", group.replace("urn:uuid:A", "urn:uuid:B"))  # Ann leaves, Bob joins
    moved = provider.changes(quiet.cursor, gid)
    assert list(by_name(read(moved))) == ["Bob Baker"] and moved.complete  # Ann is missing from a full view

    created = provider.create(Contact(name="Cleo Cole"), gid)
    assert "Cleo Cole" in by_name(read(provider.changes(None, gid)))
    assert created.id.endswith(".vcf")


def test_a_malformed_card_is_skipped_with_its_href_and_reason(dav):
    dav.put("A", "Ann Able")
    dav.put("B", "Bob Baker")
    tamper = Tamper()

    def break_b(request, real):
        # Radicale checks what it stores, so the broken card comes from the wire, as a
        # buggy server or a card written by another storage would send it.
        answer = real()
        if request.method == "REPORT" and b"addressbook-multiget" in (request.body or b""):
            answer._content = re.sub(rb"(B\.vcf</href>.*?<[^>]*address-data[^>]*>)[^<]*", rb"\1BEGIN:VCARD EMAIL",
                                     answer.content, flags=re.S)
        return answer

    tamper.hooks.append(break_b)
    provider = provider_for(dav, tamper=tamper)
    feed = provider.changes(None, dav.book)
    changes = read(feed)
    assert set(by_name(changes)) == {"Ann Able"}
    assert [unquote(u.href) for u in feed.unreadable] == [unquote(f"{dav.book}B.vcf")]
    assert "vCard" in feed.unreadable[0].reason
    skips = [c for c in changes if isinstance(c, ProviderSkip)]
    assert [unquote(c.id) for c in skips] == [unquote(f"{dav.book}B.vcf")]  # present, so never a deletion
    assert feed.complete


def test_photos_inline_and_by_uri(dav):
    jpeg = b"\xff\xd8\xff" + b"x" * 200
    dav.put("P", "Pia Photo", "PHOTO;ENCODING=b;TYPE=JPEG:" + base64.b64encode(jpeg).decode())
    dav.put("U", "Uri Photo", f"PHOTO;VALUE=uri:{dav.url}{dav.book}P.vcf")
    provider = provider_for(dav)
    records = by_name(read(provider.changes(None, dav.book)))
    pia = records["Pia Photo"]
    assert pia.photo.startswith("inline:") and provider.photo(pia.id, pia.photo) == jpeg
    uri = records["Uri Photo"]
    assert uri.photo == f"uri:{dav.url}{dav.book}P.vcf"
    assert provider.photo(uri.id, uri.photo).startswith(b"BEGIN:VCARD")  # fetched with the account's auth


def test_representable_is_what_a_card_holds(dav):
    provider = provider_for(dav)
    contact = Contact(name="Two Addresses", phones=(Phone("+1 555", "mobile", True),))
    assert provider.representable(contact) == provider.representable(provider.representable(contact))
