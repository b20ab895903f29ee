"""The webhook dispatcher: a follower of the log, run beside the store's writer in a
process of its own (``process.py``: one per store, started by the writer's node once an
endpoint is live, stopped when the node stops being the writer).

Each round it does two things.

- Fan-out: the feed's events after its position, each one made a delivery for every
  endpoint of its workspace that wants its type (and was registered before it), and the
  new position, in one transaction. A delivery names its event's position; its body is
  made from the feed's row when it is sent. Delivery ids are made from endpoint and position, so
  a round repeated after a crash writes nothing twice.
- Sending: the deliveries due, in lanes: a case's undelivered events for one endpoint,
  from its earliest (a case's events arrive in order), each signed per Standard
  Webhooks and POSTed once the one before it was taken; a lane stops at its first
  delivery that was not taken, and its case is looked at again once the lane's outcomes
  are written. A failed attempt is tried again after the next wait of
  ``webhook_retry_seconds`` (with jitter); past the last, the delivery is failed
  (``redeliver`` sends it again).

Its writes are few, since each one contends with the commands' for the store (SQLite's
one write lock): the fan-out once a poll, and the outcomes gathered for
``WRITE_SECONDS`` and written in one transaction. A dispatcher killed before an outcome
was written sends that delivery again (and the lane's later ones, in order): at least
once, with the same ``webhook-id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
import time
from datetime import UTC, datetime
from typing import Any

from anyio import to_thread
from standardwebhooks.webhooks import Webhook

from infrastructure.read import feed
from infrastructure.store.database import Database
from infrastructure.store.follower import Follower
from infrastructure.webhooks import safety
from infrastructure.webhooks.store import Attempt, WebhookStore, delivery_id

log = logging.getLogger("reclaim.webhooks")

FAN_OUT_BATCH = 500
#: lanes in flight at once (a lane: one case's deliveries to one endpoint, in order)
CONCURRENCY = 64
#: how long the dispatcher lets finished deliveries gather before it looks for more
COALESCE_SECONDS = 0.02
#: how long outcomes gather before they are written, in one transaction
WRITE_SECONDS = 0.1


def body_of(row: dict[str, Any]) -> str:
    """A delivery's JSON body, as Standard Webhooks shapes one: type, timestamp, data."""
    event = feed.item(row)
    return json.dumps(
        {"type": f"case.{event['type']}", "timestamp": event["recorded_at"], "data": event},
        separators=(",", ":"),
        sort_keys=True,
    )


def wanted(endpoint: dict[str, Any], row: dict[str, Any]) -> bool:
    if endpoint["workspace"] != row["workspace"]:
        return False
    if int(row["position"]) <= int(endpoint["after_position"]):
        return False
    types = endpoint["event_types"]
    return not types or row["event_type"] in types


def retry_in_ms(attempts: int, schedule: list[float]) -> int | None:
    """The wait before the next try after ``attempts`` failed ones (None: no more tries):
    the schedule's next step, plus up to a fifth more at random, so that endpoints that
    failed together do not all come back at once."""
    if attempts > len(schedule):
        return None
    wait = schedule[attempts - 1]
    return int(wait * 1000 * (1 + random.random() / 5))  # noqa: S311 - jitter, not a secret


def signed_headers(secret: str, message_id: str, body: str) -> dict[str, str]:
    at = datetime.now(UTC)
    return {
        "Content-Type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body),
    }


class Dispatcher(Follower):
    log = log

    def __init__(self, database: Database, webhooks: WebhookStore, settings: Any) -> None:
        super().__init__(settings.webhook_poll_seconds)
        self.database = database
        self.webhooks = webhooks
        self.settings = settings
        self._in_flight: dict[tuple[str, str], asyncio.Task[None]] = {}
        #: outcomes waiting to be written, each with what its delivery awaits
        self._outcomes: list[tuple[tuple[Any, ...], asyncio.Future[None]]] = []
        self._writing = False
        self._writer: asyncio.Task[None] | None = None
        self._client: Any = None
        #: when the fan-out runs next (once a poll, or at once while a backlog remains)
        self._fan_out_at = 0.0
        #: deliveries taken whose outcomes are not written yet (not to be sent again)
        self._unwritten: set[str] = set()

    async def aclose(self) -> None:
        """Stop: deliveries in flight are abandoned (sent again by the next dispatcher),
        outcomes already in hand are written, and the round in progress is finished."""
        tasks = list(self._in_flight.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._writer)
        await super().aclose()
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def round(self) -> None:
        # deliveries finishing together are followed by one look for more, not one each
        # (a look reads the oldest pending window)
        await asyncio.sleep(COALESCE_SECONDS)
        if self._client is None:
            self._client = safety.new_client(
                self.settings.webhook_timeout_seconds,
                allow_private=self.settings.webhooks_allow_private,
            )
        if time.monotonic() >= self._fan_out_at:
            read = await to_thread.run_sync(self.fan_out)
            wait = 0 if read == FAN_OUT_BATCH else self.settings.webhook_poll_seconds
            self._fan_out_at = time.monotonic() + wait
        self._send_due(self._client, await self._due())

    def fan_out(self) -> int:
        """The events after the position made deliveries, and the position moved past them,
        in one transaction. Returns how many events were read."""
        with self.database.transaction() as cursor:
            reading = self.webhooks.reading_from(cursor)
            if reading is None:
                return 0
            position, endpoints = reading
            rows = cursor.fetchall(
                f"SELECT position, workspace, case_id, event_type FROM {feed.FEED} "
                "WHERE position > %s ORDER BY position "
                f"LIMIT {FAN_OUT_BATCH}",
                (position,),
            )
            if not rows:
                return 0
            made = []
            for r in rows:
                for e in endpoints:
                    if wanted(e, r):
                        position = int(r["position"])
                        made.append(
                            (
                                delivery_id(e["id"], position),
                                e["id"],
                                r["workspace"],
                                position,
                                r["case_id"],
                                r["event_type"],
                            )
                        )
            self.webhooks.add_deliveries(cursor, made)
            self.webhooks.move_position(cursor, int(rows[-1]["position"]))
        return len(rows)

    async def _due(self) -> list[list[dict[str, Any]]]:
        room = CONCURRENCY - len(self._in_flight)
        if room <= 0:
            return []
        busy, taken = set(self._in_flight), set(self._unwritten)
        return await to_thread.run_sync(
            lambda: self._with_bodies(self.webhooks.due(room, busy, taken))
        )

    def _with_bodies(self, lanes: list[list[dict[str, Any]]]) -> list[list[dict[str, Any]]]:
        """Each delivery's body (``payload``), made from its event's feed row, one read for
        them all; a lane ends before a delivery whose row the feed lacks (a rebuild of it
        under way), to go on once it is back. Deliveries keep no copy of the body: five
        endpoints wrote five, the dispatcher's largest writes to the store."""
        rows = feed.rows_at(self.database, sorted({d["position"] for ds in lanes for d in ds}))
        bodies = {int(r["position"]): body_of(r) for r in rows}
        kept = []
        for deliveries in lanes:
            lane = list(itertools.takewhile(lambda d: d["position"] in bodies, deliveries))
            for delivery in lane:
                delivery["payload"] = bodies[delivery["position"]]
            if lane:
                kept.append(lane)
        return kept

    def _send_due(self, client: Any, lanes: list[list[dict[str, Any]]]) -> None:
        for deliveries in lanes:
            lane = (deliveries[0]["endpoint_id"], deliveries[0]["case_id"])
            task = asyncio.get_running_loop().create_task(self._send_lane(client, deliveries))
            self._in_flight[lane] = task
            task.add_done_callback(lambda _, lane=lane: self._done(lane))

    def _done(self, lane: tuple[str, str]) -> None:
        self._in_flight.pop(lane, None)
        self._wake.set()  # (the lane's later events may go now)

    async def _send_lane(self, client: Any, deliveries: list[dict[str, Any]]) -> None:
        """One case's deliveries to one endpoint, in order, each once the one before it
        was taken. The lane stops at the first that was not, and ends once that one's
        outcome is written (so that its retry waits); the ones taken are left out of the
        next looks until their outcomes are written."""
        for delivery in deliveries:
            taken, outcome = await self._deliver(client, delivery)
            if not taken:
                with contextlib.suppress(Exception):
                    await outcome
                return
            self._unwritten.add(delivery["id"])
            outcome.add_done_callback(lambda _, d=delivery["id"]: self._unwritten.discard(d))

    async def _deliver(
        self, client: Any, delivery: dict[str, Any]
    ) -> tuple[bool, asyncio.Future[None]]:
        """Send one delivery and queue its outcome: whether the receiver took it, and the
        outcome's write."""
        endpoint = {"id": delivery["endpoint_id"], "secret_sealed": delivery["secret_sealed"]}
        secret = self.webhooks.secret_of(endpoint)
        answer = await safety.post(
            client,
            delivery["url"],
            delivery["payload"].encode(),
            signed_headers(secret, delivery["id"], delivery["payload"]),
            allow_private=self.settings.webhooks_allow_private,
            timeout=self.settings.webhook_timeout_seconds,
        )
        attempt = Attempt(answer.status_code, answer.latency_ms, answer.body, answer.error)
        attempts = int(delivery["attempts"]) + 1
        gone = answer.status_code == 410
        # (after a 410 the endpoint is disabled and its backlog kept: still pending)
        retry = None if attempt.ok else retry_in_ms(attempts, self.retry_schedule)
        return attempt.ok, self._record((delivery, attempt, retry, gone))

    def _record(self, outcome: tuple[Any, ...]) -> asyncio.Future[None]:
        """Queue an outcome for the next write, with every other that comes in meanwhile
        (one commit for them all: a backlog of 1,500 drained at about 70 a second on
        SQLite with a commit each); a delivery counts as done once written."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._outcomes.append((outcome, done))
        if not self._writing:
            self._writing = True
            self._writer = asyncio.get_running_loop().create_task(self._write_outcomes())
        return done

    async def _write_outcomes(self) -> None:
        try:
            while self._outcomes:
                await asyncio.sleep(WRITE_SECONDS)
                batch, self._outcomes = self._outcomes, []
                outcomes = [o for o, _ in batch]
                try:
                    await to_thread.run_sync(
                        self.webhooks.record_attempts,
                        outcomes,
                        self.settings.webhook_failing_after,
                    )
                except Exception as error:  # noqa: BLE001 - each delivery hears of it
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(error)
                    continue
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)
        finally:
            self._writing = False

    @property
    def retry_schedule(self) -> list[float]:
        return list(self.settings.webhook_retry_seconds)


def lag(database: Database, webhooks: WebhookStore) -> int:
    """How many positions the store's dispatcher is behind the feed's end: events not yet
    made deliveries (none while no endpoint is live: nothing is wanted). Read from the
    store, so any process can say it (``/metrics``, ``/readyz``), not only the writer's."""
    with database.transaction(commit=False) as cursor:
        reading = webhooks.reading_from(cursor)
    if reading is None:
        return 0
    return max(feed.last_position(database) - reading[0], 0)
