"""The live server fixture: a real uvicorn server on a fresh store, a client per principal."""

from __future__ import annotations

import pytest

from infrastructure.settings import Settings


class Principals:
    """Keys for everyone the access matrix names, on one store."""

    def __init__(self, base_url: str, keys: dict[str, str]) -> None:
        from tests.support.live import Client

        self.base_url = base_url
        self.keys = keys
        self.clients = {name: Client(base_url, key) for name, key in keys.items()}
        self.clients["anonymous"] = Client(base_url, None)

    def __getitem__(self, name: str):
        return self.clients[name]

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


PRINCIPALS = {
    "owner": ("alice", "home", "member"),
    "other_member": ("bob", "home", "member"),
    "auditor": ("carol", "home", "auditor"),
    "admin": ("dana", "home", "admin"),
    "foreign_member": ("erin", "agency", "member"),
    "foreign_auditor": ("frank", "agency", "auditor"),
    "revoked": ("gina", "home", "member"),
}


@pytest.fixture
def api(settings: Settings):
    """A live server on a fresh store, with a client per principal."""
    from infrastructure.application import ReclaimApplication
    from tests.support.live import live_server

    setup = ReclaimApplication(settings)
    keys = {}
    for name, (user, workspace, role) in PRINCIPALS.items():
        keys[name], info = setup.keys.create(user, workspace, role)
        if name == "revoked":
            setup.keys.revoke(info.key_id)
    setup.close()
    with live_server(settings) as base_url:
        principals = Principals(base_url, keys)
        try:
            yield principals
        finally:
            principals.close()
