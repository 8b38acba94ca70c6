"""A stand-in browser for the sandbox: it "approves" the consent screen by fetching it.

Registered with :mod:`webbrowser` as the preferred browser, so that
``InstalledAppFlow.run_local_server()`` completes against the Google emulator with
no human: the emulator's consent endpoint redirects at once to the flow's loopback
listener, which is all a real browser would do after the user clicked "Allow".
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
import webbrowser

NAME = "contactsync-sandbox"


class SandboxBrowser(webbrowser.BaseBrowser):
    def __init__(self) -> None:
        super().__init__(NAME)
        self.visits: list[str] = []
        self.errors: list[str] = []
        # Loopback only: never send the consent URL through a configured proxy.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def open(self, url: str, new: int = 0, autoraise: bool = True) -> bool:
        self.visits.append(url)
        threading.Thread(target=self._visit, args=(url,), name=NAME, daemon=True).start()
        return True

    def _visit(self, url: str) -> None:
        try:
            with self._opener.open(url, timeout=30) as response:  # follows the 302 to the listener
                response.read()
        except (urllib.error.URLError, OSError) as exc:
            self.errors.append(f"{url}: {exc}")


_registered: SandboxBrowser | None = None


def register_sandbox_browser() -> SandboxBrowser:
    """Make the sandbox browser the one ``webbrowser.get()`` returns; idempotent."""
    global _registered
    if _registered is None:
        _registered = SandboxBrowser()
        webbrowser.register(NAME, None, _registered, preferred=True)
    return _registered
