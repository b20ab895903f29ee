"""Every (state, action) pair, allowed and refused, generated from the machine itself."""

from __future__ import annotations

import pytest

from domain import lifecycle
from domain.errors import ActionNotAllowed
from tests.support.factories import action_args, at, case_in

PAIRS = [(state, action) for state in lifecycle.STATES for action in lifecycle.ACTIONS]


def _expected(state: str, action: str) -> str | None:
    transitions = lifecycle.MACHINE.get_transitions(trigger=action, source=state)
    if not transitions:
        return None
    return transitions[0].dest or state


@pytest.mark.parametrize("kind", ["credit", "dispute"])
@pytest.mark.parametrize(("state", "action"), PAIRS, ids=[f"{s}-{a}" for s, a in PAIRS])
def test_every_state_action_pair(kind: str, state: str, action: str) -> None:
    case = case_in(state, kind)
    case.collect_events()
    assert case.state == state
    version = case.version
    args = action_args(action, at(90))
    if action == "escalate" and case.escalation_level:
        args["level"] = "consumer_agency"
    if action == "attach_evidence":
        args["evidence_id"] = "ev-new"
    expected = _expected(state, action)
    if expected is None:
        with pytest.raises(ActionNotAllowed) as refused:
            getattr(case, action)(**args)
        assert refused.value.allowed_actions == lifecycle.allowed_actions(state)
        assert case.collect_events() == []
        assert case.version == version
        assert action not in case.allowed_actions
    else:
        getattr(case, action)(**args)
        events = case.collect_events()
        assert len(events) == 1
        assert case.state == expected
        assert action in lifecycle.allowed_actions(state)


def test_every_state_is_reachable_and_resolved_is_final() -> None:
    for state in lifecycle.STATES:
        assert case_in(state).state == state
    assert [
        a for a in lifecycle.allowed_actions("resolved") if a in lifecycle.TRANSITION_ACTIONS
    ] == []


def test_design_table_internal_transitions() -> None:
    assert lifecycle.next_state("appealed", "follow_up") == "appealed"
    assert lifecycle.next_state("escalated", "follow_up") == "escalated"
    assert lifecycle.next_state("escalated", "escalate") == "escalated"
    assert lifecycle.next_state("submitted", "follow_up") == "followed_up"
    for state in lifecycle.OPEN_STATES:
        assert lifecycle.next_state(state, "resolve") == "resolved"


def test_mermaid_diagram_is_drawn_from_the_machine() -> None:
    diagram = lifecycle.mermaid_diagram()
    assert diagram.splitlines()[0] == "---" or "stateDiagram-v2" in diagram
    assert "stateDiagram-v2" in diagram
    assert "denied --> appealed: appeal" in diagram
    assert "[*] --> opened" in diagram
    for state in lifecycle.STATES:
        assert f'state "{state}"' in diagram
