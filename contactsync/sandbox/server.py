"""A small threaded HTTP server with routing, a request log and fault injection.

Each emulator subclasses :class:`Emulator`, registers routes and returns
:class:`Response` objects. Controls (latency, faults) can be set from Python or
over HTTP at ``/_sandbox/control`` so that a test can steer a server it started
in another process; ``/_sandbox/requests`` returns the request log.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from contactsync.clock import SYSTEM_CLOCK, Clock


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def args(self, name: str) -> list[str]:
        """All values of a repeated parameter, also comma-separated ones."""
        out: list[str] = []
        for value in self.query.get(name, []):
            out.extend(v for v in value.split(",") if v)
        return out

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        if not self.body:
            return None
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str = "application/json; charset=utf-8"

    def encode(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.body is None:
            return b""
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")


@dataclass
class Fault:
    """Fail the `nth` matching request (1-based, counted from when the fault was set).

    With `every`, each matching request from the `nth` on, until the faults are cleared:
    with only a `delay`, a slow endpoint (a test holds every create to stop a pass mid-way).
    """

    nth: int = 1
    status: int | None = None
    body: Any = None
    delay: float = 0.0
    drop: bool = False
    method: str | None = None
    path: str | None = None  # a regular expression searched in the path
    headers: dict[str, str] = field(default_factory=dict)
    # Process the request first, then delay or drop the answer: the client never
    # learns that its write happened (a crash or a lost connection after a create).
    after: bool = False
    every: bool = False
    seen: int = 0

    def matches(self, req: Request) -> bool:
        if self.method and self.method.upper() != req.method:
            return False
        return not (self.path and not re.search(self.path, req.path))


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    status: int
    response: Any


Handler = Callable[[Request], Response]


class FaultSource(Protocol):
    """Draws a fault for a request, or None (sandbox/faults.py: RandomFaults)."""

    def draw(self, req: Request) -> Fault | None: ...

    def control(self) -> dict[str, Any]: ...


class DropConnection(Exception):
    """Raised by a fault: close the socket without answering."""


class Emulator:
    """Base class of the emulators: routing, logging, latency and faults."""

    name = "emulator"

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.log: list[LoggedRequest] = []
        self.latency = 0.0
        self.faults: list[Fault] = []
        # Random faults at a rate (`contactsync sandbox --faults`), after the scripted ones.
        self.random_faults: FaultSource | None = None
        self.base_url = ""
        # What the emulator's windows and timestamps read; tests swap in a ManualClock.
        self.clock: Clock = SYSTEM_CLOCK

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(f"^{pattern}$"), handler))

    def add_fault(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def control(self, data: dict[str, Any]) -> dict[str, Any]:
        """Apply controls sent to /_sandbox/control; subclasses extend it."""
        with self.lock:
            if "latency" in data:
                self.latency = float(data["latency"])
            if "random_faults" in data:
                from contactsync.sandbox.faults import RandomFaults

                spec = data["random_faults"]
                self.random_faults = RandomFaults(**spec) if spec else None
            for spec in data.get("faults", []):
                self.faults.append(Fault(**spec))
            if data.get("clear_faults"):
                self.faults.clear()
            if data.get("clear_log"):
                self.log.clear()
        return {"ok": True}

    def not_found(self, req: Request) -> Response:
        return Response(404, {"error": f"no route for {req.method} {req.path}"})

    def _take_fault(self, req: Request) -> Fault | None:
        with self.lock:
            for fault in list(self.faults):
                if fault.matches(req):
                    fault.seen += 1
                    if fault.every and fault.seen >= fault.nth:
                        return fault
                    if fault.seen == fault.nth:
                        self.faults.remove(fault)
                        return fault
        return None

    def dispatch(self, req: Request) -> Response:
        if req.path == "/_sandbox/control" and req.method == "POST":
            try:
                return Response(200, self.control(req.json() or {}))
            except (ValueError, KeyError, TypeError) as exc:  # an unknown plan, quirk or value
                return Response(400, {"error": str(exc)})
        if req.path == "/_sandbox/faults" and req.method == "GET":
            return Response(200, self.random_faults.control() if self.random_faults else None)
        if req.path == "/_sandbox/requests" and req.method == "GET":
            with self.lock:
                return Response(200, [entry.__dict__ for entry in self.log])
        if self.latency:
            time.sleep(self.latency)
        fault = self._take_fault(req)
        if fault is None and self.random_faults is not None:
            fault = self.random_faults.draw(req)
        if fault is not None and fault.after:
            resp = self._route(req)
            if fault.delay:
                time.sleep(fault.delay)
            if fault.drop:
                raise DropConnection()
            return resp
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.drop:
                raise DropConnection()
            if fault.status is not None:
                return Response(fault.status, fault.body, dict(fault.headers))
        return self._route(req)

    def _route(self, req: Request) -> Response:
        for method, pattern, handler in self.routes:
            if method != req.method:
                continue
            match = pattern.match(req.path)
            if match:
                req.params = match.groupdict()
                return handler(req)
        return self.not_found(req)

    def record(self, req: Request, resp: Response) -> None:
        try:
            body = req.json()
        except (ValueError, UnicodeDecodeError):
            body = f"<{len(req.body)} bytes>"
        response = resp.body if resp.raw is None else f"<{len(resp.raw)} bytes>"
        with self.lock:
            self.log.append(
                LoggedRequest(req.method, req.path, req.query, req.headers, body, resp.status, response)
            )


def _make_handler(emulator: Emulator) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body leave in two sends; with Nagle's algorithm on, the
        # second waits for the client's delayed ACK (~40 ms on Linux) on every
        # request, which skewed every latency the sandbox was asked to model.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # the emulator keeps its own log; stderr stays quiet

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            req = Request(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True), headers, body)
            try:
                resp = emulator.dispatch(req)
            except DropConnection:
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if not req.path.startswith("/_sandbox/"):
                emulator.record(req, resp)
            payload = resp.encode()
            self.send_response(resp.status)
            if resp.raw is not None or resp.body is not None:
                self.send_header("Content-Type", resp.content_type)
            for key, value in resp.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

    return _Handler


class RunningServer:
    """An emulator served on a loopback port in a background thread."""

    def __init__(self, emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = emulator
        self.httpd = ThreadingHTTPServer((host, port), _make_handler(emulator))
        self.httpd.daemon_threads = True
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        emulator.base_url = self.url
        # A short poll interval: shutdown() waits for serve_forever's next poll
        # (0.5 s by default), which added up to minutes over the test suite.
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, name=emulator.name, daemon=True
        )

    def start(self) -> RunningServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> RunningServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    return RunningServer(emulator, host, port).start()
