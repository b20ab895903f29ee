"""Two nodes in one process, on one store: the first to campaign is the writer, the other
forwards its saves to it over TCP. Commands through either land once each, in order,
with their idempotency records; a forwarded save of a version the writer has moved past
is refused as a conflict and its command retries; a follower that loses its writer
answers WriterUnavailable, and takes over the lock itself."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from infrastructure.bootstrap import bootstrap
from infrastructure.service.commands import AlreadyAnswered, Idempotency, Reply
from infrastructure.store.forward import encode_save
from infrastructure.store.node import Node
from tests.support.commands import as_users
from tests.support.factories import action_args, credit_facts


class Nodes:
    """Both nodes' services and their event loop, on a thread of their own."""

    def __init__(self, settings: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.services = [bootstrap(settings), bootstrap(settings)]
        self.nodes = [Node(s.store, 100) for s in self.services]
        for node in self.nodes:  # the first is the writer: it campaigns first
            self.call(node.start)

    def call(self, coroutine: Callable[[], Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine(), self.loop).result(30)

    def close(self) -> None:
        for node in reversed(self.nodes):
            self.call(node.stop)
        for services in self.services:
            services.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def nodes(settings: Any) -> Any:
    both = Nodes(settings)
    try:
        yield both
    finally:
        both.close()


def test_commands_through_both_nodes_are_recorded_once_each(nodes) -> None:
    writer, follower = (s.store for s in nodes.services)
    assert nodes.nodes[0].is_writer and not nodes.nodes[1].is_writer
    assert follower.forwarder is not None and writer.forwarder is None
    case_id = as_users(follower).open_credit(**credit_facts(request_id="open")).case.id
    assert writer.get_case(case_id).version == 1
    errors: list[BaseException] = []

    def notes(store: Any, name: str) -> None:
        try:
            for n in range(15):
                args = action_args("add_note", request_id=f"{name}-{n}", text=f"{name}-{n}")
                as_users(store).add_note(case_id, **args)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=notes, args=(store, name))
        for store, name in [(writer, "w1"), (writer, "w2"), (follower, "f1"), (follower, "f2")]
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    events = list(writer.case_events(case_id))
    assert [e.originator_version for e in events] == list(range(1, 62))
    texts = [e.text for e in events if type(e).__name__ == "NoteAdded"]
    assert sorted(texts) == sorted(
        f"{name}-{n}" for name in ("w1", "w2", "f1", "f2") for n in range(15)
    )
    assert follower.forwarder.forwarded >= 31  # the opening and the follower's notes
    # the follower reads what the writer wrote, with no lag
    assert follower.get_case(case_id).version == 61


def test_a_stale_forwarded_save_is_a_conflict_and_writes_nothing(nodes) -> None:
    writer, follower = (s.store for s in nodes.services)
    case_id = as_users(writer).open_credit(**credit_facts(request_id="open")).case.id
    stale = follower.get_case(case_id)
    as_users(writer).add_note(case_id, **action_args("add_note", request_id="n", text="first"))
    stale.add_note(text="on a stale copy", actor="user-1", request_id="stale")
    stored = [follower.mapper.encode(e, stale) for e in stale.collect_events()]
    with pytest.raises(IntegrityError):
        follower.forwarder.save(encode_save(case_id, stored, None))
    assert writer.get_case(case_id).version == 2
    # through the service the same race costs a retry, not an error
    done = as_users(follower).add_note(case_id, **action_args("add_note", text="second"))
    assert done.case.version == 3


def test_a_replayed_idempotency_key_through_the_follower_records_nothing_new(nodes) -> None:
    writer, follower = (s.store for s in nodes.services)
    case_id = as_users(writer).open_credit(**credit_facts(request_id="open")).case.id
    key = Idempotency("k-1", "the request's fingerprint")

    def args() -> dict[str, Any]:
        return action_args(
            "add_note", request_id="once", text="once", idempotency=key, answer=_answer
        )

    first = as_users(follower).add_note(case_id, **args())
    assert first.case.version == 2
    with pytest.raises(AlreadyAnswered) as replay:
        as_users(follower).add_note(case_id, **args())
    assert replay.value.record.body == "version 2"
    assert writer.get_case(case_id).version == 2


def _answer(case: Any) -> Reply:
    return Reply(200, f"version {case.version}")


def test_when_the_writer_steps_down_the_follower_takes_over(nodes) -> None:
    writer_node, follower_node = nodes.nodes
    writer, follower = (s.store for s in nodes.services)
    case_id = as_users(writer).open_credit(**credit_facts(request_id="open")).case.id
    nodes.call(writer_node.stop)  # its lock let go, as a killed writer's is
    deadline = asyncio.run_coroutine_threadsafe(_until(lambda: follower_node.is_writer), nodes.loop)
    deadline.result(10)
    assert follower.forwarder is None
    done = as_users(follower).add_note(case_id, **action_args("add_note", text="after"))
    assert done.case.version == 2
    nodes.nodes = [follower_node]  # (the first has stopped)


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.02)
