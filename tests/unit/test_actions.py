"""Each action is declared once (domain/actions.py): everything else derives from it."""

from __future__ import annotations

from typing import Any

import pytest

from api.http.app import create_app
from domain.actions import ACTIONS, DECLARED, OPEN_STATES, Action, Declared, move
from domain.cases import Case
from domain.lifecycle import Lifecycle
from infrastructure.service.commands import CaseCommands


def _withdrawn(event: Any, currency: str) -> tuple[str, str]:
    return "Withdrawn by the claimant", event.why


#: a tenth action, as someone adding one would declare it
WITHDRAW = Action(
    "withdraw",
    "Withdrawn",
    (move(OPEN_STATES, "resolved"),),
    _withdrawn,
    path="withdraw",
    summary="Withdraw the claim",
)
REMIND = Action(
    "remind",
    "Reminded",
    (move(["submitted", "followed_up"], None),),
    lambda event, currency: ("Reminded", ""),
    path="remind",
    summary="Send a reminder",
    contact="reminder",
)


def test_a_tenth_action_reaches_every_derived_table() -> None:
    declared = Declared([*ACTIONS, WITHDRAW, REMIND])
    lifecycle = Lifecycle(declared)

    assert declared.names[-2:] == ["withdraw", "remind"]
    assert "withdraw" in declared.transition_actions and "remind" not in declared.transition_actions
    assert lifecycle.allowed_actions("opened")[-1] == "withdraw"
    assert "remind" in lifecycle.allowed_actions("followed_up")
    assert lifecycle.next_state("escalated", "withdraw") == "resolved"
    assert lifecycle.next_state("submitted", "remind") == "submitted"
    assert "withdraw" not in lifecycle.allowed_actions("resolved")
    assert declared.event_actions["Withdrawn"] == "withdraw"
    assert declared.titles["Withdrawn"](type("E", (), {"why": "x"})(), "EUR") == (
        "Withdrawn by the claimant",
        "x",
    )
    # an outbound contact starts the follow-up clock, is counted in timeliness, and is a
    # step for an expiring credit
    assert declared.outbound["reminded"] == "reminder"
    assert declared.contacts[-1] == "reminder"
    assert declared.outbound_actions[-1] == "remind"
    assert "Withdrawn" not in declared.record_only and "Reminded" not in declared.record_only
    diagram = lifecycle.mermaid_diagram()
    assert "withdraw" in diagram and "remind" in diagram


def test_a_declaration_naming_an_unknown_state_or_a_name_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown states"):
        Declared([*ACTIONS, Action("x", "X", (move(["limbo"], None),), _withdrawn, "x", "x")])
    with pytest.raises(ValueError, match="share a name"):
        Declared([*ACTIONS, ACTIONS[0]])


def test_the_declaration_gives_the_tables_reclaim_has_always_had() -> None:
    assert DECLARED.names == [
        "submit",
        "follow_up",
        "deny",
        "appeal",
        "escalate",
        "resolve",
        "record_response",
        "attach_evidence",
        "add_note",
    ]
    assert DECLARED.transition_actions == [
        "submit",
        "follow_up",
        "deny",
        "appeal",
        "escalate",
        "resolve",
    ]
    assert DECLARED.event_actions == {
        "Submitted": "submit",
        "FollowedUp": "follow_up",
        "ResponseReceived": "record_response",
        "Denied": "deny",
        "Appealed": "appeal",
        "Escalated": "escalate",
        "Resolved": "resolve",
        "NoteAdded": "add_note",
        "EvidenceAttached": "attach_evidence",
    }
    assert DECLARED.outbound == {
        "submitted": "submission",
        "followed_up": "follow_up",
        "appealed": "appeal",
        "escalated": "escalation",
    }
    assert DECLARED.inbound == {"response_received", "denied", "resolved"}
    assert DECLARED.record_only == {"NoteAdded", "EvidenceAttached", "PersonalDataErased"}
    assert DECLARED.outbound_actions == ("submit", "follow_up", "appeal", "escalate")


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name)
def test_every_declared_action_has_its_method_event_command_and_route(action: Action) -> None:
    assert callable(getattr(Case, action.name))
    assert isinstance(getattr(Case, action.event), type)
    assert callable(getattr(CaseCommands, action.name))
    paths = create_app().openapi()["paths"]
    operation = paths[f"/v1/cases/{{case_id}}/{action.path}"]["post"]
    assert operation["summary"] == action.summary
