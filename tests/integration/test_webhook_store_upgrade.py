"""A store whose webhook deliveries were written before they stopped copying the body
(each row its ``payload``, three more indexes) is brought up to date when it opens, and
a delivery it had pending is still sent, its body made from the event's feed row.

Both kinds of store; the old table is made here as the code before the change made it,
with a pending delivery in it; a real dispatcher sends it to a real receiver.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from infrastructure.bootstrap import bootstrap
from infrastructure.read import feed
from infrastructure.webhooks.dispatcher import Dispatcher
from infrastructure.webhooks.store import (
    CREATE_STATEMENTS,
    DELIVERIES,
    delivery_id,
    now_iso,
    now_ms,
)
from tests.support.commands import as_users
from tests.support.factories import NOW, credit_facts
from tests.support.receiver import running_receiver

#: the table as it was: today's, with the copy of the body after the event's type
TYPE = "event_type TEXT NOT NULL,"
OLD_TABLE = next(
    statement.replace(TYPE, f"{TYPE} payload TEXT NOT NULL,")
    for statement in CREATE_STATEMENTS
    if statement.startswith(f"CREATE TABLE IF NOT EXISTS {DELIVERIES} (")
)
OLD_INDEXES = [
    f"CREATE INDEX {DELIVERIES}_ix0 ON {DELIVERIES} (status, next_attempt_ms)",
    f"CREATE INDEX {DELIVERIES}_ix1 ON {DELIVERIES} (endpoint_id, case_id, status, position)",
    f"CREATE INDEX {DELIVERIES}_ix2 ON {DELIVERIES} (endpoint_id, position)",
    f"CREATE INDEX {DELIVERIES}_ix3 ON {DELIVERIES} (status, position)",
]


def shape(database: Any) -> tuple[set[str], set[str]]:
    """The deliveries table's columns and indexes, as the database itself lists them."""
    if database.is_postgres:
        columns = database.fetchall(
            "SELECT column_name AS name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s",
            (DELIVERIES,),
        )
        indexes = database.fetchall(
            "SELECT indexname AS name FROM pg_indexes WHERE tablename = %s", (DELIVERIES,)
        )
    else:
        columns = database.fetchall("SELECT name FROM pragma_table_info(%s)", (DELIVERIES,))
        indexes = database.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = %s "
            "AND sql IS NOT NULL",
            (DELIVERIES,),
        )
    return {c["name"] for c in columns}, {i["name"] for i in indexes}


def test_an_old_deliveries_table_is_brought_up_to_date_and_its_backlog_sent(
    store: str, settings_for
) -> None:
    settings = settings_for(store, webhook_poll_seconds=0.05, webhooks_allow_private=True)
    with running_receiver() as receiver, bootstrap(settings) as services:
        app = services.store
        database = app.database
        endpoint, receiver.secret = app.webhooks.add(
            "ws-1", receiver.url, [], "", by="admin", after_position=0
        )
        case = as_users(app).open_credit(**credit_facts(), now=NOW)
        [event] = feed.events_after(database, "ws-1", None)
        # the table as it was, with the event's delivery pending and its body copied in
        with database.transaction() as cursor:
            cursor.execute(f"DROP TABLE {DELIVERIES}")
            cursor.execute(OLD_TABLE)
            for statement in OLD_INDEXES:
                cursor.execute(statement)
            cursor.execute(
                f"INSERT INTO {DELIVERIES} (id, endpoint_id, workspace, position, case_id, "
                "event_type, payload, status, attempts, next_attempt_ms, created_at) "
                "VALUES (%s, %s, 'ws-1', %s, %s, %s, '{\"the\": \"old copy\"}', 'pending', 0, "
                "%s, %s)",
                (
                    delivery_id(endpoint["id"], event["position"]),
                    endpoint["id"],
                    event["position"],
                    event["case_id"],
                    event["type"],
                    now_ms(),
                    now_iso(),
                ),
            )
            app.webhooks.move_position(cursor, event["position"])
        columns, indexes = shape(database)
        assert "payload" in columns and {f"{DELIVERIES}_ix{n}" for n in range(4)} <= indexes

        app.webhooks.create_tables()  # (what opening the store does)
        app.webhooks.create_tables()  # (and again: nothing left to change)

        columns, indexes = shape(database)
        assert "payload" not in columns and "status" in columns
        assert indexes & {f"{DELIVERIES}_ix{n}" for n in (0, 1, 3)} == set()
        assert {f"{DELIVERIES}_ix2", f"{DELIVERIES}_pending"} <= indexes
        assert app.webhooks.pending() == 1

        async def until_delivered() -> None:
            dispatcher = Dispatcher(database, app.webhooks, settings)
            dispatcher.start()
            try:
                deadline = time.monotonic() + 20
                while app.webhooks.pending() and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
            finally:
                await dispatcher.aclose()

        asyncio.run(until_delivered())
        assert app.webhooks.pending() == 0
        [got] = receiver.taken()
        assert got.verified and got.webhook_id == delivery_id(endpoint["id"], event["position"])
        # the body is the feed's event, not the old copy
        assert got.body["type"] == "case.opened"
        assert got.body["data"] == event
        assert got.body["data"]["case_id"] == str(case.case.id)
