"""A real CardDAV server, Radicale (https://radicale.org), on loopback.

Not an emulator of our own: the sandbox, `demo` and the tests run the CardDAV
provider against Radicale itself, so discovery, sync tokens, ETags, 412s and
deletions are a real server's. Radicale is optional (the `carddav-server`
extra); `available()` says whether it is installed.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import socket
import socketserver
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import requests

from contactsync.sandbox.faults import RandomFaults

USERNAME = "ann@icloud.example"
PASSWORD = "sandbox-app-password"  # noqa: S105 - the sandbox's own, on loopback only


def available() -> bool:
    return importlib.util.find_spec("radicale") is not None


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a connection the fault injection dropped on purpose


DROP = "contactsync.drop"


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def get_stderr(self) -> Any:
        return io.StringIO()  # wsgiref's traceback of a connection dropped on purpose

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ[DROP] = self._drop
        return environ

    def _drop(self) -> None:
        """Close the connection without an answer (a reset, or an answer lost on the way)."""
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class FaultyApp:
    """Radicale behind the sandbox's random faults (contactsync.sandbox.faults), as a proxy in
    front of a real server fails: 500/503/429 before the request is served, a connection reset,
    a timeout (here: a reset after a short hold, the client's 60 s are not waited out), and a
    write applied whose answer never arrives."""

    def __init__(self, app: Any, faults: RandomFaults | None = None, hold: float = 0.2) -> None:
        self.app = app
        self.faults = faults
        self.hold = hold

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        # The draw does not look at the request.
        fault = self.faults.draw(None) if self.faults is not None else None  # type: ignore[arg-type]
        if fault is None:
            return self.app(environ, start_response)
        if fault.status:
            headers = [(k, v) for k, v in (fault.headers or {}).items()] + [("Content-Length", "0")]
            start_response(f"{fault.status} Injected Fault", headers)
            return [b""]
        if fault.after:  # lost: the write is applied, then the answer never arrives
            body = self.app(environ, lambda *args: (lambda data: None))
            for _ in body:
                pass
            getattr(body, "close", lambda: None)()
        elif fault.delay:
            time.sleep(self.hold)
        environ[DROP]()
        start_response("500 Dropped", [])  # written to a closed connection: never seen
        return []


@dataclass
class RadicaleServer:
    url: str
    username: str
    password: str
    folder: Path
    _server: WSGIServer
    _thread: threading.Thread
    _app: FaultyApp

    def set_faults(self, faults: RandomFaults | None) -> None:
        """Fail requests from now on (None: serve every request again)."""
        self._app.faults = faults

    @property
    def home(self) -> str:
        return f"{self.url}/{self.username}/"

    def session(self) -> requests.Session:
        session = requests.Session()
        session.auth = (self.username, self.password)
        return session

    def make_address_book(self, slug: str, name: str) -> str:
        """Create an address book (extended MKCOL, RFC 5689) and return its href."""
        body = (
            '<?xml version="1.0" encoding="utf-8"?>'
            '<D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:set><D:prop>'
            f"<D:resourcetype><D:collection/><C:addressbook/></D:resourcetype><D:displayname>{name}</D:displayname>"
            "</D:prop></D:set></D:mkcol>"
        )
        self.session().request("PROPFIND", self.home, headers={"Depth": "0"})  # creates the principal
        response = self.session().request("MKCOL", f"{self.home}{slug}/", data=body.encode())
        response.raise_for_status()
        return f"/{self.username}/{slug}/"

    def put_card(self, book: str, name: str, text: str) -> str:
        """Store a vCard as a client would; returns its ETag."""
        response = self.session().put(f"{self.url}{book}{name}", data=text.encode("utf-8"),
                                      headers={"Content-Type": "text/vcard; charset=utf-8"})
        response.raise_for_status()
        return str(response.headers.get("ETag", ""))

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start(folder: Path, *, username: str = USERNAME, password: str = PASSWORD, host: str = "127.0.0.1",
          port: int = 0, faults: RandomFaults | None = None) -> RadicaleServer:
    """Serve Radicale with its collections in `folder` and one user (plain htpasswd)."""
    from radicale import config as radicale_config
    from radicale.app import Application

    folder.mkdir(parents=True, exist_ok=True)
    users = folder / "users"
    users.write_text(f"{username}:{password}\n", encoding="utf-8")
    users.chmod(0o600)
    configuration = radicale_config.load()
    configuration.update({
        "auth": {"type": "htpasswd", "htpasswd_filename": str(users), "htpasswd_encryption": "plain",
                 "delay": "0"},
        "rights": {"type": "owner_only"},
        "storage": {"filesystem_folder": str(folder / "collections")},
        "server": {"delay_on_error": "0"},
    }, "contactsync sandbox")
    configuration.update({"storage": {"_filesystem_fsync": "False"}}, "contactsync sandbox", privileged=True)
    logging.getLogger("radicale").setLevel(logging.ERROR)
    app = FaultyApp(Application(configuration), faults)
    server = make_server(host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                              name="radicale")
    thread.start()
    bound_port = server.server_address[1]
    return RadicaleServer(f"http://{host}:{bound_port}", username, password, folder, server, thread, app)
