"""Fixtures that start the real things: a PostgreSQL server, the application on each store."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from infrastructure.settings import Settings
from tests.support.pgserver import PostgresServer

STORES = ["sqlite", "postgres"]
_database_names = itertools.count(1)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "bench: a smoke run of the benchmark suite (bench/)")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the whole run; each test gets its own database."""
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings_for(request: pytest.FixtureRequest, tmp_path: Path):
    """A factory: settings for a fresh, empty store of the given kind."""

    def make(store: str, **overrides: object) -> Settings:
        data_dir = tmp_path / f"data-{next(_database_names)}"
        if store == "sqlite":
            return Settings(data_dir=data_dir, database_url=None, **overrides)  # type: ignore[arg-type]
        server: PostgresServer = request.getfixturevalue("pg_server")
        url = server.create_database(f"reclaim_test_{os.getpid()}_{next(_database_names)}")
        return Settings(data_dir=data_dir, database_url=url, **overrides)  # type: ignore[arg-type]

    return make


@pytest.fixture
def settings(store: str, settings_for) -> Settings:
    return settings_for(store)


@pytest.fixture
def app(settings: Settings):
    from infrastructure.application import ReclaimApplication

    application = ReclaimApplication(settings)
    try:
        yield application
    finally:
        application.close()


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
