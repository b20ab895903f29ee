"""The live server fixture: a real uvicorn server on a fresh store, a client per principal."""

from __future__ import annotations

import pytest

from infrastructure.settings import Settings
from tests.support.live import PRINCIPALS, Principals, live_server


@pytest.fixture
def api(settings: Settings):
    """A live server on a fresh store, with a client per principal."""
    from infrastructure.store.application import ReclaimApplication

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
