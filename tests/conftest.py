"""Fixtures that start the real things: a PostgreSQL server, the application on each store.

Every fixture here is lazy: nothing starts until a test asks for it, so ``tests/unit``
(which asks for none of them) starts no server. The live HTTP server with a client per
principal (``api``) is in ``tests/e2e/conftest.py``."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from infrastructure.settings import Settings
from tests.support.pgserver import PostgresServer

#: the master key of every store a test makes (PostgreSQL needs one given; SQLite would
#: make a key file, which ``tests/integration/test_personal_keys.py`` covers); child
#: processes inherit it (``cli_env``)
TEST_MASTER_KEY = "5e" * 32
os.environ.setdefault("RECLAIM_MASTER_KEY", TEST_MASTER_KEY)

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
def services(settings: Settings):
    """Reclaim on a fresh store, wired as the server and the command line wire it."""
    from infrastructure.bootstrap import bootstrap

    with bootstrap(settings) as started:
        yield started


@pytest.fixture
def app(services):
    """The store (the ``eventsourcing`` application) of ``services``."""
    return services.store


@pytest.fixture
def font_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Only the fonts copied into the returned folder are found (the dossier's fonts)."""
    from api.render import dossier
    from api.render.dossier import font_files

    installed = font_files()
    folder = tmp_path / "fonts"
    folder.mkdir()
    monkeypatch.setattr(dossier, "FONT_DIRS", ())
    monkeypatch.setenv("RECLAIM_FONT_DIRS", str(folder))
    font_files.cache_clear()
    yield folder, installed
    font_files.cache_clear()
