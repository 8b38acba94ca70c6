"""Start the emulators together on loopback, seeded with the example data."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from contactsync.sandbox.faults import RandomFaults
from contactsync.sandbox.google import GoogleEmulator
from contactsync.sandbox.graph import GraphEmulator
from contactsync.sandbox.pipedrive import DEFAULT_TOKEN, PipedriveEmulator
from contactsync.sandbox.pipedrive_realism import BURST_BY_PLAN
from contactsync.sandbox.server import RunningServer, serve

if TYPE_CHECKING:
    from contactsync.sandbox.radicale import RadicaleServer

SEED_DIR = Path(__file__).parent / "seed"
SEED_FILES = ("google.json", "microsoft.json", "pipedrive.json")
# Requests per 2-second window by plan: the emulator's one table, with its source.
PLAN_BURST_LIMITS = BURST_BY_PLAN
GOOGLE_EMAIL = "ann@example.com"
MICROSOFT_EMAIL = "ann@outlook.example"
# Any id works against the emulator; a real one comes from the Entra app registration.
MICROSOFT_CLIENT_ID = "00000000-0000-4000-8000-00000000c0de"


@dataclass
class Sandbox:
    google: GoogleEmulator
    pipedrive: PipedriveEmulator
    graph: GraphEmulator
    servers: list[RunningServer]
    client_secrets: Path
    api_token: str
    google_email: str = GOOGLE_EMAIL
    microsoft_email: str = MICROSOFT_EMAIL
    microsoft_client_id: str = MICROSOFT_CLIENT_ID
    domain: str = "acme-sandbox"
    plan: str = "growth"
    # A real CardDAV server (Radicale), when the carddav-server extra is installed.
    carddav: RadicaleServer | None = None

    @property
    def google_url(self) -> str:
        return self.google.base_url

    @property
    def pipedrive_url(self) -> str:
        return self.pipedrive.base_url

    @property
    def graph_url(self) -> str:
        """Both Microsoft Graph and the sign-in (authority) host of the sandbox."""
        return self.graph.base_url

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        if self.carddav is not None:
            self.carddav.stop()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def check_seed_dir(seed_dir: Path) -> list[str]:
    """What is wrong with a seed folder (missing or unreadable files); empty when it is usable."""
    problems = []
    for name in SEED_FILES:
        path = seed_dir / name
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            problems.append(f"{name} is missing")
        except (OSError, ValueError) as exc:
            problems.append(f"{name} cannot be read ({type(exc).__name__})")
    return problems


def _seed(name: str, seed_dir: Path | None) -> dict:  # type: ignore[type-arg]
    path = (seed_dir or SEED_DIR) / name
    return json.loads(path.read_text(encoding="utf-8"))


def start(
    workdir: Path,
    *,
    seed: bool = True,
    seed_dir: Path | None = None,
    plan: str = "growth",
    host: str = "127.0.0.1",
    ports: tuple[int, int, int] = (0, 0, 0),
    latency: float = 0.0,
    faults: RandomFaults | None = None,
    carddav: bool = True,
) -> Sandbox:
    """Serve the emulators; write the sandbox's client_secret.json into `workdir`.

    `carddav=False` leaves Radicale out (its start checks the file system and seeds the
    address book over HTTP): for tests that never use it.

    `faults` is copied to each emulator with its own seed (seed, seed + 1, seed + 2),
    so that the three fail independently and a run can be replayed.
    """
    google = GoogleEmulator(_seed("google.json", seed_dir) if seed else None, default_email=GOOGLE_EMAIL)
    pipedrive = PipedriveEmulator(_seed("pipedrive.json", seed_dir) if seed else None, plan=plan,
                                  burst_limit=PLAN_BURST_LIMITS[plan])
    graph = GraphEmulator(_seed("microsoft.json", seed_dir) if seed else None, email=MICROSOFT_EMAIL)
    for offset, emulator in enumerate((google, pipedrive, graph)):
        emulator.latency = latency
        if faults is not None:
            emulator.random_faults = replace(
                faults, seed=None if faults.seed is None else faults.seed + offset, injected={})
    servers: list[RunningServer] = []
    try:
        for emulator, port in zip((google, pipedrive, graph), ports, strict=True):
            servers.append(serve(emulator, host, port))
    except OSError:
        for server in servers:
            server.stop()
        raise
    workdir.mkdir(parents=True, exist_ok=True)
    client_secrets = workdir / "client_secret.json"
    fd = os.open(client_secrets, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(google.client_config(), fh, indent=2)
    domain = pipedrive.company.get("domain", "acme-sandbox")
    box = Sandbox(google, pipedrive, graph, servers, client_secrets, DEFAULT_TOKEN, domain=domain, plan=plan)
    box.carddav = _start_carddav(workdir, host, seed, seed_dir) if carddav else None
    if box.carddav is not None and faults is not None:
        box.carddav.set_faults(replace(faults, seed=None if faults.seed is None else faults.seed + 3, injected={}))
    return box


def _start_carddav(workdir: Path, host: str, seed: bool, seed_dir: Path | None) -> RadicaleServer | None:
    """Radicale with one address book, seeded with the vCards of seed/carddav.vcf."""
    from contactsync.sandbox import radicale

    if not radicale.available():
        return None
    server = radicale.start(workdir / "carddav", host=host)
    book = server.make_address_book("contacts", "Contacts")
    path = (seed_dir or SEED_DIR) / "carddav.vcf"
    if seed and path.exists():
        for index, card in enumerate(path.read_text(encoding="utf-8").split("END:VCARD")):
            if card.strip():
                server.put_card(book, f"seed-{index}.vcf", card.strip() + "\r\nEND:VCARD\r\n")
    return server
