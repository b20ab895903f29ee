"""The case lifecycle: a ``transitions`` machine built from the declared actions.

This machine is the single source of truth for what a case may do next: the
aggregates ask it before every command, ``allowed_actions`` is read from it, the
HTTP 409 answer lists what it allows, and the published Mermaid diagram is drawn
by ``transitions`` from the same declaration (``domain.actions``).

Besides the state-changing actions of the design table, the actions that only
record something (a note, a piece of evidence, a platform response) are declared
as internal transitions, so that the machine answers for them too.
"""

from __future__ import annotations

from transitions import Machine

from domain.actions import DECLARED, OPEN_STATES, STATES, Declared
from domain.errors import ActionNotAllowed

__all__ = [
    "ACTIONS",
    "MACHINE",
    "OPEN_STATES",
    "STATES",
    "TRANSITIONS",
    "TRANSITION_ACTIONS",
    "Lifecycle",
    "allowed_actions",
    "check_can",
    "mermaid_diagram",
    "next_state",
]


class Lifecycle:
    """The machine of one declaration, with its answers read off once: every command
    asks them, and the machine's own lookups walk all its events each time."""

    def __init__(self, declared: Declared) -> None:
        self.declared = declared
        self.states = declared.states
        self.machine = Machine(
            model=None,
            states=self.states,
            transitions=self._transition_dicts(),
            initial="opened",
            auto_transitions=False,
        )
        self._allowed = {state: self._allowed_from_machine(state) for state in self.states}
        self._next = {
            (state, action): dest
            for state in self.states
            for action in declared.names
            if (dest := self._destination_from_machine(state, action)) is not None
        }

    def _transition_dicts(self) -> list[dict[str, object]]:
        return [
            {"trigger": action, "source": sources, "dest": dest}
            for action, sources, dest in self.declared.transitions
        ]

    def _allowed_from_machine(self, state: str) -> list[str]:
        triggers = set(self.machine.get_triggers(state))
        return [a for a in self.declared.names if a in triggers]

    def _destination_from_machine(self, state: str, action: str) -> str | None:
        found = self.machine.get_transitions(trigger=action, source=state)
        return (found[0].dest or state) if found else None

    def allowed_actions(self, state: str) -> list[str]:
        return list(self._allowed[state])

    def next_state(self, state: str, action: str) -> str:
        dest = self._next.get((state, action))
        if dest is None:
            raise ActionNotAllowed(action, state, self.allowed_actions(state))
        return dest

    def mermaid_diagram(self) -> str:
        from transitions.extensions.diagrams import GraphMachine

        class _Model:
            pass

        graph_machine = GraphMachine(
            model=_Model(),
            states=self.states,
            transitions=self._transition_dicts(),
            initial="opened",
            auto_transitions=False,
            graph_engine="mermaid",
            title="Reclaim case lifecycle",
            show_state_attributes=False,
        )
        model = graph_machine.models[0]
        return str(model.get_graph().draw(None))


LIFECYCLE = Lifecycle(DECLARED)
MACHINE = LIFECYCLE.machine
ACTIONS = DECLARED.names
TRANSITION_ACTIONS = DECLARED.transition_actions
TRANSITIONS = DECLARED.transitions


def allowed_actions(state: str) -> list[str]:
    """The actions the machine allows from ``state``, in a stable order."""
    return LIFECYCLE.allowed_actions(state)


def next_state(state: str, action: str) -> str:
    """Where ``action`` takes a case in ``state``; raises ActionNotAllowed if nowhere."""
    return LIFECYCLE.next_state(state, action)


def check_can(state: str, action: str) -> None:
    LIFECYCLE.next_state(state, action)


def mermaid_diagram() -> str:
    """The lifecycle as a Mermaid ``stateDiagram-v2``, drawn by ``transitions``."""
    return LIFECYCLE.mermaid_diagram()
