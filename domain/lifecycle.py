"""The case lifecycle, declared once with ``transitions``.

This machine is the single source of truth for what a case may do next: the
aggregates ask it before every command, ``allowed_actions`` is read from it, the
HTTP 409 answer lists what it allows, and the published Mermaid diagram is drawn
by ``transitions`` from the same declaration.

Besides the state-changing actions of the design table, the actions that only
record something (a note, a piece of evidence, a platform response) are declared
here as internal transitions, so that the machine answers for them too.
"""

from __future__ import annotations

from transitions import Machine

from domain.errors import ActionNotAllowed

STATES = ["opened", "submitted", "followed_up", "denied", "appealed", "escalated", "resolved"]
OPEN_STATES = [s for s in STATES if s != "resolved"]

# (action, sources, destination); ``None`` is an internal transition: the case stays
# where it is and the action is recorded.
TRANSITIONS: list[tuple[str, list[str], str | None]] = [
    ("submit", ["opened"], "submitted"),
    ("follow_up", ["submitted", "followed_up"], "followed_up"),
    ("follow_up", ["appealed", "escalated"], None),
    ("deny", ["submitted", "followed_up", "appealed", "escalated"], "denied"),
    ("appeal", ["denied"], "appealed"),
    ("escalate", ["submitted", "followed_up", "denied", "appealed"], "escalated"),
    ("escalate", ["escalated"], None),
    ("resolve", OPEN_STATES, "resolved"),
    ("record_response", ["submitted", "followed_up", "denied", "appealed", "escalated"], None),
    ("attach_evidence", STATES, None),
    ("add_note", STATES, None),
]

#: the actions that move a case through its lifecycle (as opposed to only recording)
TRANSITION_ACTIONS = ["submit", "follow_up", "deny", "appeal", "escalate", "resolve"]
ACTIONS = [*TRANSITION_ACTIONS, "record_response", "attach_evidence", "add_note"]


def _transition_dicts() -> list[dict[str, object]]:
    return [
        {"trigger": action, "source": sources, "dest": dest}
        for action, sources, dest in TRANSITIONS
    ]


MACHINE = Machine(
    model=None,
    states=STATES,
    transitions=_transition_dicts(),
    initial="opened",
    auto_transitions=False,
)


def _allowed_from_machine(state: str) -> list[str]:
    triggers = set(MACHINE.get_triggers(state))
    return [a for a in ACTIONS if a in triggers]


def _destination_from_machine(state: str, action: str) -> str | None:
    found = MACHINE.get_transitions(trigger=action, source=state)
    return (found[0].dest or state) if found else None


# Read off the machine once: every command asks these, and the machine's own lookups
# walk all its events each time.
_ALLOWED = {state: _allowed_from_machine(state) for state in STATES}
_NEXT = {
    (state, action): dest
    for state in STATES
    for action in ACTIONS
    if (dest := _destination_from_machine(state, action)) is not None
}


def allowed_actions(state: str) -> list[str]:
    """The actions the machine allows from ``state``, in a stable order."""
    return list(_ALLOWED[state])


def next_state(state: str, action: str) -> str:
    """Where ``action`` takes a case in ``state``; raises ActionNotAllowed if nowhere."""
    dest = _NEXT.get((state, action))
    if dest is None:
        raise ActionNotAllowed(action, state, allowed_actions(state))
    return dest


def check_can(state: str, action: str) -> None:
    next_state(state, action)


def mermaid_diagram() -> str:
    """The lifecycle as a Mermaid ``stateDiagram-v2``, drawn by ``transitions``."""
    from transitions.extensions.diagrams import GraphMachine

    class _Model:
        pass

    graph_machine = GraphMachine(
        model=_Model(),
        states=STATES,
        transitions=_transition_dicts(),
        initial="opened",
        auto_transitions=False,
        graph_engine="mermaid",
        title="Reclaim case lifecycle",
        show_state_attributes=False,
    )
    model = graph_machine.models[0]
    return str(model.get_graph().draw(None))
