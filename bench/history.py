"""A generated, reproducible case history: many cases walked through the lifecycle.

``generate(app, cases=..., seed=...)`` opens that many cases and takes each through a
random walk of allowed actions (with the facts and rules each needs), saving the
cases in chunks, one transaction per chunk. The same seed gives the same events
(apart from the recorded time of each). Used by the projection tests and by the
rebuild benchmark.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from domain.cases import (
    CHANNELS,
    CREDIT_PROBLEMS,
    CREDIT_TYPES,
    DISPUTE_REASONS,
    ESCALATION_LEVELS,
    EVIDENCE_KINDS,
    OUTCOMES,
    RECOVERED_FORMS,
    REMEDIES,
    Case,
    Credit,
    Dispute,
)
from domain.errors import DomainError
from domain.money import minor_units

NOW = datetime(2026, 6, 1, tzinfo=UTC)
START = datetime(2025, 1, 1, tzinfo=UTC)
PLATFORMS = ("temu", "tiktok", "shein", "amazon", "meta")
CURRENCIES = ("USD", "USD", "EUR", "GBP", "JPY", "KWD")
WORKSPACES = ("ws-1", "ws-2")
OWNERS = ("user-1", "user-2", "user-3")
#: how often the walk picks each action when it is allowed
WEIGHTS = {
    "submit": 8,
    "follow_up": 4,
    "record_response": 3,
    "deny": 3,
    "appeal": 4,
    "escalate": 3,
    "resolve": 3,
    "add_note": 2,
    "attach_evidence": 1,
}


class Walk:
    """One case's history, step by step, from one random generator."""

    def __init__(self, rng: random.Random, number: int) -> None:
        self.rng = rng
        self.number = number
        self.clock = START + timedelta(days=rng.uniform(0, 300))
        self.evidence = 0

    def tick(self) -> datetime:
        self.clock += timedelta(hours=self.rng.uniform(1, 120))
        return self.clock

    def amount(self, currency: str, low: float = 1, high: float = 500) -> Decimal:
        places = Decimal(1).scaleb(-minor_units(currency))
        return Decimal(str(self.rng.uniform(low, high))).quantize(places)

    def part_of(self, whole: Decimal, currency: str) -> Decimal:
        """Some of ``whole``: more than nothing, at most all of it."""
        smallest = Decimal(1).scaleb(-minor_units(currency))
        return min(max(self.amount(currency, 0, float(whole)), smallest), whole)

    def who(self) -> dict[str, Any]:
        return {
            "actor": self.rng.choice(OWNERS),
            "request_id": f"req-{self.rng.getrandbits(32):08x}",
        }

    def open(self) -> Case:
        rng = self.rng
        currency = rng.choice(CURRENCIES)
        common = {
            "owner": rng.choice(OWNERS),
            "workspace": rng.choice(WORKSPACES),
            "platform": rng.choice(PLATFORMS),
            "account_reference": f"acct-{rng.randint(1000, 9999)}",
            "currency": currency,
            "occurred_at": self.clock,
            "now": NOW,
            **self.who(),
        }
        earned = (self.clock - timedelta(days=rng.randint(1, 90))).date()
        if rng.random() < 0.55:
            return Credit.open(
                credit_type=rng.choice(CREDIT_TYPES),
                amount=self.amount(currency),
                problem=rng.choice(CREDIT_PROBLEMS),
                remedy=rng.choice(REMEDIES),
                earned_on=earned,
                expires_on=earned + timedelta(days=rng.randint(30, 365)),
                restrictions={"single_use": rng.random() < 0.3},
                **common,
            )
        charged = self.amount(currency)
        return Dispute.open(
            charge_reference=f"CHG-{rng.randint(10000, 99999)}",
            charged_amount=charged,
            refund_amount=charged if rng.random() < 0.7 else self.part_of(charged, currency),
            reason=rng.choice(DISPUTE_REASONS),
            charged_on=earned,
            **common,
        )

    def args(self, case: Case, action: str) -> dict[str, Any]:
        rng = self.rng
        timed = {"occurred_at": self.tick(), "now": NOW}
        make: dict[str, Callable[[], dict[str, Any]]] = {
            "submit": lambda: {
                "channel": rng.choice(CHANNELS),
                "reference": f"T-{rng.randint(1000, 9999)}" if rng.random() < 0.8 else "",
                "message": "Please restore what is owed.",
                **timed,
            },
            "follow_up": lambda: {"channel": rng.choice(CHANNELS), "message": "Any news?", **timed},
            "record_response": lambda: {"message": "We are looking into it.", **timed},
            "deny": lambda: {"reason": rng.choice(["Expired", "Not eligible", ""]), **timed},
            "appeal": lambda: {"grounds": "The terms were never shown.", **timed},
            "escalate": lambda: {
                "level": self.higher_level(case),
                "contact": rng.choice(["support lead", "state attorney general", ""]),
                "message": "Please review.",
                **timed,
            },
            "resolve": lambda: {**self.outcome(case), **timed},
            "add_note": lambda: {"text": f"Note {rng.randint(1, 999)}"},
            "attach_evidence": lambda: self.evidence_args(),
        }
        return {**make[action](), **self.who()}

    def higher_level(self, case: Case) -> str:
        current = case.escalation_level
        start = 0 if current is None else ESCALATION_LEVELS.index(current) + 1
        return self.rng.choice(ESCALATION_LEVELS[start:] or ESCALATION_LEVELS[-1:])

    def outcome(self, case: Case) -> dict[str, Any]:
        outcome = self.rng.choice(OUTCOMES)
        claimed = case.amount_claimed
        if outcome in ("rejected", "withdrawn"):
            return {"outcome": outcome, "note": ""}
        amount = claimed
        if outcome == "partial":
            amount = self.amount(case.currency, 0, float(claimed))
            if not 0 < amount < claimed:
                return {"outcome": "rejected", "note": ""}
        form = self.rng.choice(RECOVERED_FORMS)
        return {"outcome": outcome, "recovered_amount": amount, "recovered_form": form, "note": ""}

    def evidence_args(self) -> dict[str, Any]:
        self.evidence += 1
        return {
            "evidence_id": f"ev-{self.number}-{self.evidence}",
            "kind": self.rng.choice(EVIDENCE_KINDS),
            "sha256": f"{self.rng.getrandbits(256):064x}",
            "size": self.rng.randint(100, 100_000),
            "media_type": "image/png",
            "filename": "shot.png",
            "description": "what the account page showed",
        }

    def run(self, steps: int) -> Case:
        case = self.open()
        if isinstance(case, Dispute) and self.rng.random() < 0.9:
            case.attach_evidence(**self.evidence_args(), **self.who())
        for _ in range(steps):
            allowed = case.allowed_actions
            if case.state == "resolved" and self.rng.random() < 0.8:
                break
            action = self.rng.choices(allowed, [WEIGHTS[a] for a in allowed])[0]
            try:
                getattr(case, action)(**self.args(case, action))
            except DomainError:
                continue
        return case


def cases(count: int, seed: int, *, steps: tuple[int, int] = (1, 14)) -> Iterator[Case]:
    rng = random.Random(seed)
    for number in range(count):
        yield Walk(rng, number).run(rng.randint(*steps))


def generate(app: Any, *, cases_: int, seed: int = 1, chunk: int = 50) -> int:
    """Record a generated history in ``app``; returns how many events were recorded."""
    recorded = 0
    batch: list[Case] = []
    for case in cases(cases_, seed):
        batch.append(case)
        if len(batch) == chunk:
            recorded += _save(app, batch)
            batch = []
    return recorded + _save(app, batch)


def _save(app: Any, batch: list[Case]) -> int:
    if not batch:
        return 0
    return len(app.save(*batch))
