"""Two processes writing one store without a writer between them (the server and
``reclaim import``, say): each keeps its own cache of the cases it has acted on, which the
other's writes make stale. A stale copy may cost a
conflict and a retry, but never a wrong answer: a command refused on the cached case is
checked against the store first."""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from domain.errors import DomainError
from infrastructure.bootstrap import bootstrap
from infrastructure.store.application import VersionMismatch
from infrastructure.store.group_commit import _Pending
from tests.support.commands import as_users
from tests.support.factories import action_args, at, credit_facts


@pytest.fixture
def two(settings: Any) -> Any:
    with bootstrap(settings) as first, bootstrap(settings) as second:
        yield first.store, second.store


def test_an_action_the_other_process_made_possible_is_not_refused(two) -> None:
    first, second = two
    case_id = as_users(first).open_credit(**credit_facts(request_id="open")).case.id
    # the first process caches the case as opened; the second submits it
    as_users(first).add_note(case_id, **action_args("add_note", request_id="n", text="n"))
    as_users(second).submit(case_id, **action_args("submit", at(61), request_id="submit"))
    # a follow-up needs a submitted case: the first process's copy says opened
    done = as_users(first).follow_up(case_id, **action_args("follow_up", at(63), request_id="f"))
    assert done.case.state == "followed_up"
    assert done.case.version == 4
    # and a refusal that holds on the case as it is still comes
    with pytest.raises(DomainError):
        as_users(first).submit(case_id, **action_args("submit", at(64), request_id="again"))


def test_if_match_is_checked_against_the_case_as_it_is(two) -> None:
    first, second = two
    case_id = as_users(first).open_credit(**credit_facts(request_id="open")).case.id
    as_users(first).submit(case_id, **action_args("submit", at(61), request_id="submit"))
    as_users(second).add_note(case_id, **action_args("add_note", request_id="n", text="n"))
    # the client read version 3 (from the second process); the first's copy is at 2
    args = action_args("follow_up", at(63), request_id="f", expected_version=3)
    assert as_users(first).follow_up(case_id, **args).case.version == 4
    # a version that is not the case's is still refused
    stale = action_args("follow_up", at(64), request_id="g", expected_version=3)
    with pytest.raises(VersionMismatch):
        as_users(first).follow_up(case_id, **stale)


def test_a_stale_copy_in_a_batch_fails_alone_and_the_rest_are_written(two) -> None:
    """The first process's batch holds a copy the second has moved past (a write from
    outside the store's writer, as ``reclaim import`` makes): that save fails as a
    conflict (its command retries on the case as it is) and the others are written."""
    first, second = two
    opened = [as_users(first).open_credit(**credit_facts()).case.id for _ in range(4)]
    stale_id, *fresh_ids = opened
    as_users(second).add_note(stale_id, **action_args("add_note", text="from the other"))
    cases = [first.case_for_command(case_id) for case_id in opened]
    for case in cases:
        case.add_note(text="batched", actor="user-1", request_id="batch")
    batch = [_Pending(case, {}) for case in cases]
    batches = first.committer.batches
    first.committer.write(batch)
    assert isinstance(batch[0].error, IntegrityError), repr(batch[0].error)
    assert all(item.error is None and item.position is not None for item in batch[1:])
    assert first.committer.batches == batches + 3  # the others, each alone
    assert [first.get_case(c).version for c in opened] == [2, 2, 2, 2]
    assert first.get_case(fresh_ids[0]).notes_count == 1
    # the stale copy's command, as the service runs it, retries on the case as it is
    done = as_users(first).add_note(stale_id, **action_args("add_note", text="again"))
    assert done.case.version == 3 and done.case.notes_count == 2
