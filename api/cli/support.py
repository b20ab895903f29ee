"""What every ``reclaim`` command shares: settings and the store opened with plain
one-line errors, never a traceback."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:  # imported when used: ``reclaim --help`` does not load the store
    from infrastructure.bootstrap import Services
    from infrastructure.settings import Settings
    from infrastructure.store.application import ReclaimApplication


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"reclaim: {message}", err=True)
    raise typer.Exit(code)


def load_settings(**overrides: object) -> Settings:
    from pydantic import ValidationError

    from infrastructure.settings import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"RECLAIM_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        fail(f"bad configuration: {problems}")
    return settings.model_copy(update=overrides) if overrides else settings


@contextlib.contextmanager
def open_services(**overrides: object) -> Iterator[Services]:
    """Reclaim on the configured store (``bootstrap``), closed afterwards; store errors in
    plain words."""
    from eventsourcing.persistence import PersistenceError

    from infrastructure.bootstrap import bootstrap
    from infrastructure.store.personal import MasterKeyError

    settings = load_settings(**overrides)
    try:
        services = bootstrap(settings)
    except MasterKeyError as exc:
        fail(str(exc))
    except (PersistenceError, OSError) as exc:
        fail(f"cannot open the store: {exc}")
    try:
        yield services
    finally:
        services.close()


@contextlib.contextmanager
def open_app(**overrides: object) -> Iterator[ReclaimApplication]:
    """The store alone, for the commands that only read or maintain it."""
    with open_services(**overrides) as services:
        yield services.store
