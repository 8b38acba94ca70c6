"""The one session factory: the environment read once per host, ~/.netrc never (issue 13)."""

from __future__ import annotations

from contactsync.http import make_session
from contactsync.sandbox.pipedrive import PipedriveEmulator
from contactsync.sandbox.server import serve


def test_a_netrc_entry_never_replaces_the_credentials_we_send(tmp_path, monkeypatch):
    emulator = PipedriveEmulator(api_token="t" * 40)
    running = serve(emulator)
    try:
        netrc = tmp_path / ".netrc"
        netrc.write_text("machine 127.0.0.1 login someone password secret\n", encoding="utf-8")
        netrc.chmod(0o600)
        monkeypatch.setenv("NETRC", str(netrc))
        session = make_session()
        session.get(running.url + "/api/v1/users/me", headers={"Authorization": "Bearer ours"})
        assert emulator.log[-1].headers.get("authorization") == "Bearer ours"
    finally:
        running.stop()


def test_proxy_variables_still_apply_read_once_per_host(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    session = make_session()
    remote = session.merge_environment_settings("https://api.pipedrive.com/v1/users/me", {}, None, None, None)
    local = session.merge_environment_settings("https://127.0.0.1:8443/v1/users/me", {}, None, None, None)
    assert remote["proxies"].get("https") == "http://proxy.example:3128"
    assert "https" not in local["proxies"]
    monkeypatch.setenv("HTTPS_PROXY", "http://other.example:3128")  # read once: a pass sees one environment
    again = session.merge_environment_settings("https://api.pipedrive.com/v1/persons", {}, None, None, None)
    assert again["proxies"].get("https") == "http://proxy.example:3128"
