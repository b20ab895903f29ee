"""Helpers for the projection tests: table dumps, tampering, a CLI on a given store."""

from __future__ import annotations

import os
from typing import Any

from infrastructure.projections.projector import Projector
from infrastructure.settings import Settings


def dump(app: Any) -> dict[str, list[dict[str, Any]]]:
    """Every projection table, row by row in its comparison order, and the positions."""
    projector = Projector(app)
    tables: dict[str, list[dict[str, Any]]] = {}
    for projection in projector.projections.values():
        for table in projection.tables:
            tables[table.name] = app.database.fetchall(
                f"SELECT * FROM {table.name} ORDER BY {table.order_by}"
            )
    tables["positions"] = [projector.positions()]
    return tables


def position_column(app: Any) -> str:
    return "notification_id" if app.database.is_postgres else "rowid"


def events_table(app: Any) -> str:
    return app.recorder.events_table_name


def stored_state(app: Any, position: int) -> bytes:
    row = app.database.fetchone(
        f"SELECT state FROM {events_table(app)} WHERE {position_column(app)} = %s", (position,)
    )
    assert row is not None
    return bytes(row["state"])


def set_stored_state(app: Any, position: int, state: bytes) -> None:
    app.database.execute(
        f"UPDATE {events_table(app)} SET state = %s WHERE {position_column(app)} = %s",
        (state, position),
    )


def delete_events(app: Any, first: int, last: int | None = None) -> None:
    app.database.execute(
        f"DELETE FROM {events_table(app)} WHERE {position_column(app)} BETWEEN %s AND %s",
        (first, last if last is not None else first),
    )


def cli_env(settings: Settings) -> dict[str, str]:
    """The environment that points the ``reclaim`` command line at this store."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECLAIM_")}
    env["RECLAIM_DATA_DIR"] = str(settings.data_dir)
    if settings.master_key:
        env["RECLAIM_MASTER_KEY"] = settings.master_key
    if settings.database_url:
        env["RECLAIM_DATABASE_URL"] = settings.database_url
    return env


def forget_projection(app: Any, name: str) -> None:
    """Empty a projection's tables and drop its position: as a projection added by an
    upgrade (or a log loaded without its read rows) finds the store."""
    projection = Projector(app).projections[name]
    for table in projection.tables:
        app.database.execute(f"DELETE FROM {table.name}")
    app.database.execute(
        f"DELETE FROM {projection.view.tracking_table} WHERE application_name = %s",
        (projection.view.tracking_key(app.name),),
    )


def table_names(app: Any) -> set[str]:
    """Every table in the store."""
    if app.database.is_postgres:
        rows = app.database.fetchall(
            "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()"
        )
    else:
        rows = app.database.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {r["name"] for r in rows}
