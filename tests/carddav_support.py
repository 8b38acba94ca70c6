"""A real CardDAV server (Radicale) for the tests, and a transport hook to make it misbehave.

Radicale runs in a thread on a loopback port with its collections in the test's
temporary folder. `Tamper` wraps the provider's HTTP transport: it lets a test
see every request and change an answer of the real server (truncate a
sync-collection, lose the answer of a write the server applied), the way real
servers and networks do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from contactsync.providers.carddav import CardDavProvider
from contactsync.providers.carddav_dav import DavClient, discover_home
from contactsync.sandbox import radicale

pytest.importorskip("radicale")


def vcard(uid: str, name: str, *lines: str, version: str = "3.0") -> str:
    given, _, family = name.partition(" ")
    body = ["BEGIN:VCARD", f"VERSION:{version}", f"UID:{uid}", f"FN:{name}", f"N:{family};{given};;;", *lines,
            "END:VCARD"]
    return "\r\n".join(body) + "\r\n"


class Radicale:
    """The running server, its one user's default address book and a way to edit it as another client."""

    def __init__(self, server: radicale.RadicaleServer, book: str) -> None:
        self.server = server
        self.book = book

    @property
    def url(self) -> str:
        return self.server.url

    def put(self, uid: str, name: str, *lines: str, version: str = "3.0", book: str | None = None) -> str:
        return self.server.put_card(book or self.book, f"{uid}.vcf", vcard(uid, name, *lines, version=version))

    def put_raw(self, href_name: str, text: str, book: str | None = None) -> str:
        return self.server.put_card(book or self.book, href_name, text)

    def get(self, href: str) -> str:
        response = self.server.session().get(self.url + href)
        response.raise_for_status()
        return response.text

    def delete(self, href: str) -> None:
        self.server.session().delete(self.url + href).raise_for_status()

    def hrefs(self, book: str | None = None) -> list[str]:
        response = self.server.session().request("PROPFIND", self.url + (book or self.book),
                                                 headers={"Depth": "1"})
        import xml.etree.ElementTree as ET

        root = ET.fromstring(response.content)
        found = [h.text or "" for h in root.iter("{DAV:}href")]
        return sorted(h for h in found if h.endswith(".vcf"))


@pytest.fixture
def dav(tmp_path: Path) -> Iterator[Radicale]:
    server = radicale.start(tmp_path / "radicale")
    book = server.make_address_book("contacts", "Contacts")
    yield Radicale(server, book)
    server.stop()


Hook = Callable[[requests.PreparedRequest, Callable[[], requests.Response]], requests.Response | None]


class Tamper(HTTPAdapter):
    """A transport that counts requests by method and lets a hook change an answer."""

    def __init__(self) -> None:
        super().__init__()
        self.hooks: list[Hook] = []
        self.methods: list[str] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.methods.append(str(request.method))

        def real() -> requests.Response:
            return super(Tamper, self).send(request, **kwargs)

        for hook in list(self.hooks):
            answer = hook(request, real)
            if answer is not None:
                return answer
        return real()


def provider_for(dav: Radicale, account: str = "carddav:ann@icloud.example",
                 tamper: Tamper | None = None) -> CardDavProvider:
    session = requests.Session()
    if tamper is not None:
        session.mount("http://", tamper)
    client = DavClient(dav.url, dav.server.username, dav.server.password, account, "run add-account again",
                       session=session, retries=1)
    return CardDavProvider(client, discover_home(client), account)
