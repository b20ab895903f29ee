"""Domain errors: each names one broken rule. Raising one records nothing."""

from __future__ import annotations


class DomainError(Exception):
    """Base class: a command the aggregate refuses."""

    #: short, stable machine-readable name (the API's problem ``type`` ends with it)
    code = "domain-error"
    #: the input field the rule is about, where there is one
    field: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidValue(DomainError):
    """A value that can never be valid (an unknown currency, a negative amount...)."""

    code = "invalid-value"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class ActionNotAllowed(DomainError):
    """The lifecycle machine has no such transition from the case's state."""

    code = "action-not-allowed"

    def __init__(self, action: str, state: str, allowed: list[str]) -> None:
        super().__init__(
            f"'{action}' is not allowed while the case is {state}; "
            f"allowed: {', '.join(allowed) or 'nothing'}"
        )
        self.action = action
        self.state = state
        self.allowed_actions = allowed


class MissingForSubmit(DomainError):
    """Submitting needs the facts a support agent would ask for."""

    code = "missing-for-submit"

    def __init__(self, missing: list[str]) -> None:
        super().__init__("cannot submit yet, still missing: " + ", ".join(missing))
        self.missing = missing


class EscalationNotHigher(DomainError):
    """A repeat escalation must go to a higher level than the last one."""

    code = "escalation-not-higher"

    def __init__(self, level: str, current: str) -> None:
        super().__init__(
            f"already escalated to {current}; a repeat escalation must go higher than that, "
            f"not to {level}"
        )
        self.level = level
        self.current = current


class RecoveryRequired(DomainError):
    """A granted or partial outcome records what was recovered and in what form."""

    code = "recovery-required"
    field = "recovered_amount"


class RecoveryNotAllowed(DomainError):
    """A rejected or withdrawn outcome recovers nothing."""

    code = "recovery-not-allowed"
    field = "recovered_amount"


class PartialNotLess(DomainError):
    """A partial recovery is less than what was claimed."""

    code = "partial-not-less"
    field = "recovered_amount"


class RefundExceedsCharge(DomainError):
    """A dispute cannot seek more than was charged."""

    code = "refund-exceeds-charge"
    field = "refund_amount"


class OccurredInFuture(DomainError):
    """``occurred_at`` may not be later than now."""

    code = "occurred-in-future"
    field = "occurred_at"


class OccurredBeforeCase(DomainError):
    """``occurred_at`` may not precede the case's earliest fact."""

    code = "occurred-before-case"
    field = "occurred_at"


class DatesOutOfOrder(DomainError):
    """A credit cannot expire before it was earned."""

    code = "dates-out-of-order"
    field = "expires_on"


class CaseErased(DomainError):
    """The case's owner was erased: the case is a closed record, counted in reports,
    with nothing of its owner left to act on."""

    code = "case-erased"

    def __init__(self) -> None:
        super().__init__("the owner of this case was erased; the case takes no more steps")
