"""Every rule the aggregate enforces raises its named error and records nothing."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.cases import UNSTORABLE, Credit, Dispute, find_unstorable
from domain.errors import (
    DatesOutOfOrder,
    EscalationNotHigher,
    InvalidValue,
    MissingForSubmit,
    OccurredBeforeCase,
    OccurredInFuture,
    PartialNotLess,
    RecoveryNotAllowed,
    RecoveryRequired,
    RefundExceedsCharge,
)
from tests.support.factories import NOW, action_args, at, case_in, credit_facts, dispute_facts


def refused(case, action: str, error: type[Exception], **overrides):
    version = case.version
    case.collect_events()
    with pytest.raises(error) as info:
        getattr(case, action)(**action_args(action, **overrides))
    assert case.collect_events() == []
    assert case.version == version
    return info.value


def test_credit_submit_needs_account_reference() -> None:
    case = Credit.open(**credit_facts(account_reference=""), now=NOW)
    assert case.missing_for_submit == ["account_reference"]
    error = refused(case, "submit", MissingForSubmit)
    assert error.missing == ["account_reference"]
    assert case.state == "opened"


def test_dispute_submit_needs_charge_reference_and_evidence() -> None:
    case = Dispute.open(**dispute_facts(charge_reference=None), now=NOW)
    assert case.missing_for_submit == ["charge_reference", "evidence"]
    error = refused(case, "submit", MissingForSubmit)
    assert "charge_reference" in str(error) and "evidence" in str(error)


def test_dispute_submit_refused_until_evidence_attached() -> None:
    case = Dispute.open(**dispute_facts(), now=NOW)
    assert case.missing_for_submit == ["evidence"]
    refused(case, "submit", MissingForSubmit)
    case.attach_evidence(**action_args("attach_evidence"))
    assert case.missing_for_submit == []
    case.submit(**action_args("submit"))
    assert case.state == "submitted"


def test_escalation_names_a_known_level() -> None:
    error = refused(case_in("submitted"), "escalate", InvalidValue, level="manager")
    assert error.field == "level"


@pytest.mark.parametrize("level", ["supervisor", "social_media"])
def test_repeat_escalation_must_go_higher(level: str) -> None:
    case = case_in("submitted")
    case.escalate(**action_args("escalate", level="social_media"))
    error = refused(case, "escalate", EscalationNotHigher, level=level)
    assert error.current == "social_media"
    case.escalate(**action_args("escalate", level="payment_provider"))
    assert case.escalations == ["social_media", "payment_provider"]


def test_resolve_needs_a_known_outcome() -> None:
    refused(case_in("submitted"), "resolve", InvalidValue, outcome="won")


@pytest.mark.parametrize("outcome", ["granted", "partial"])
@pytest.mark.parametrize("missing", ["recovered_amount", "recovered_form"])
def test_granted_or_partial_records_amount_and_form(outcome: str, missing: str) -> None:
    overrides = {"outcome": outcome, "recovered_amount": "10.00", missing: None}
    refused(case_in("submitted"), "resolve", RecoveryRequired, **overrides)


def test_recovered_form_must_be_known() -> None:
    refused(case_in("denied"), "resolve", InvalidValue, recovered_form="cash")


@pytest.mark.parametrize("amount", ["25.00", "30.00"])
def test_partial_recovery_is_less_than_claimed(amount: str) -> None:
    error = refused(
        case_in("appealed"), "resolve", PartialNotLess, outcome="partial", recovered_amount=amount
    )
    assert "25.00" in str(error)


@pytest.mark.parametrize("outcome", ["rejected", "withdrawn"])
def test_rejected_or_withdrawn_recovers_nothing(outcome: str) -> None:
    refused(case_in("denied"), "resolve", RecoveryNotAllowed, outcome=outcome)
    case = case_in("denied")
    case.resolve(
        **action_args("resolve", outcome=outcome, recovered_amount=None, recovered_form=None)
    )
    assert case.amount_recovered == Decimal("0")


@pytest.mark.parametrize("amount", ["-1", "0", "abc", "NaN", "Infinity", "1.001", 2.5])
def test_recovered_amount_must_be_a_positive_decimal(amount: object) -> None:
    refused(case_in("submitted"), "resolve", InvalidValue, recovered_amount=amount)


def test_amounts_are_kept_with_their_currencys_decimal_places() -> None:
    """ "120" USD is recorded as 120.00, so every event, title and letter reads the same."""
    credit = Credit.open(**credit_facts(amount="25", currency="USD"), now=NOW)
    assert str(credit.amount_claimed) == "25.00"
    dispute = Dispute.open(
        **dispute_facts(charged_amount="120", refund_amount="90.5", currency="USD"), now=NOW
    )
    assert (str(dispute.charged_amount), str(dispute.amount_claimed)) == ("120.00", "90.50")
    yen = Dispute.open(
        **dispute_facts(charged_amount="5000", refund_amount=None, currency="JPY"), now=NOW
    )
    assert str(yen.charged_amount) == "5000"


def test_refund_sought_cannot_exceed_the_charge() -> None:
    with pytest.raises(RefundExceedsCharge):
        Dispute.open(**dispute_facts(refund_amount="120.01"), now=NOW)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("currency", "XYZ"),
        ("currency", "usd"),
        ("amount", "-5"),
        ("amount", "0"),
        ("amount", "twenty"),
        ("amount", 25.0),
        ("platform", "Temu!"),
        ("credit_type", "gift"),
        ("problem", "lost"),
        ("remedy", "cash"),
        ("restrictions", {"max_uses": 1}),
    ],
)
def test_credit_facts_are_validated(field: str, value: object) -> None:
    with pytest.raises(InvalidValue):
        Credit.open(**credit_facts(**{field: value}), now=NOW)


def test_currency_minor_units() -> None:
    with pytest.raises(InvalidValue):
        Credit.open(**credit_facts(currency="JPY", amount="100.5", restrictions=None), now=NOW)
    case = Credit.open(**credit_facts(currency="JPY", amount="2500", restrictions=None), now=NOW)
    assert case.amount == Decimal("2500")


def test_expiry_cannot_precede_earning() -> None:
    with pytest.raises(DatesOutOfOrder):
        Credit.open(**credit_facts(expires_on=date(2026, 1, 1)), now=NOW)


def test_occurred_at_not_in_the_future() -> None:
    refused(case_in("opened"), "submit", OccurredInFuture, occurred_at=NOW + timedelta(hours=1))
    with pytest.raises(OccurredInFuture):
        Credit.open(**credit_facts(occurred_at=NOW + timedelta(days=1)), now=NOW)


def test_occurred_at_not_before_the_earliest_fact() -> None:
    refused(case_in("opened"), "submit", OccurredBeforeCase, occurred_at=at(-1))


@pytest.mark.parametrize("action", ["submit", "follow_up", "deny", "escalate", "resolve"])
def test_nothing_happens_before_the_case_was_opened(action: str) -> None:
    """The credit was earned at day 0 and the case opened at day 60: a step at day 59 would
    list before the opening on the timeline, so it is refused, naming the opening time."""
    state = {"submit": "opened", "follow_up": "submitted", "deny": "submitted"}.get(
        action, "submitted"
    )
    case = case_in(state)
    error = refused(case, action, OccurredBeforeCase, occurred_at=at(59))
    assert case.opened_at.isoformat() in str(error)


@pytest.mark.parametrize("action", ["submit", "follow_up", "record_response", "deny"])
def test_occurred_at_left_out_is_the_time_it_is_recorded(action: str) -> None:
    case = case_in("opened" if action == "submit" else "submitted")
    args = action_args(action)
    del args["occurred_at"]
    getattr(case, action)(**args)
    assert case.last_activity_at == NOW


@pytest.mark.parametrize(
    "when", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1969-12-31T23:00:00Z"]
)
def test_times_outside_1970_to_2200_are_refused_not_overflowed(when: str) -> None:
    from datetime import datetime

    moment = datetime.fromisoformat(when)
    error = refused(case_in("opened"), "submit", InvalidValue, occurred_at=moment)
    assert error.field == "occurred_at" and "1970" in error.message
    with pytest.raises(InvalidValue):
        Credit.open(**credit_facts(earned_on=None, expires_on=None, occurred_at=moment), now=NOW)


@pytest.mark.parametrize("bad", ["nul\x00byte", "lone \ud800 surrogate"])
@pytest.mark.parametrize(
    ("action", "field"),
    [
        ("submit", "reference"),
        ("submit", "message"),
        ("add_note", "text"),
        ("attach_evidence", "filename"),
        ("attach_evidence", "description"),
    ],
)
def test_text_no_store_can_keep_is_refused(action: str, field: str, bad: str) -> None:
    error = refused(case_in("opened"), action, InvalidValue, **{field: bad})
    assert error.field == field and "cannot be stored" in error.message


@pytest.mark.parametrize("bad", ["nul\x00byte", "\udfff"])
def test_opening_facts_no_store_can_keep_are_refused(bad: str) -> None:
    with pytest.raises(InvalidValue) as info:
        Credit.open(**credit_facts(account_reference=bad), now=NOW)
    assert info.value.field == "account_reference"
    with pytest.raises(InvalidValue):
        Dispute.open(**dispute_facts(charge_reference=bad), now=NOW)


def test_occurred_at_needs_an_offset() -> None:
    refused(case_in("opened"), "submit", InvalidValue, occurred_at=at(70).replace(tzinfo=None))


def test_channel_must_be_known() -> None:
    refused(case_in("opened"), "submit", InvalidValue, channel="carrier_pigeon")


def test_appeal_needs_grounds_and_response_a_message() -> None:
    refused(case_in("denied"), "appeal", InvalidValue, grounds="  ")
    refused(case_in("submitted"), "record_response", InvalidValue, message="")


def test_evidence_needs_a_sha256_and_a_known_kind() -> None:
    refused(case_in("opened"), "attach_evidence", InvalidValue, sha256="nothex")
    refused(case_in("opened"), "attach_evidence", InvalidValue, kind="video")


def test_note_needs_text() -> None:
    refused(case_in("opened"), "add_note", InvalidValue, text="")


@pytest.mark.parametrize("field", ["earned_on", "expires_on"])
@pytest.mark.parametrize("day", [date(1, 1, 1), date(9999, 12, 31)])
def test_fact_dates_must_be_plausible(field: str, day: date) -> None:
    with pytest.raises(InvalidValue) as refused:
        Credit.open(**credit_facts(**{"earned_on": None, field: day}), now=NOW)
    assert refused.value.field == field


@given(st.text(alphabet=st.characters(codec=None, exclude_categories=())))
@pytest.mark.parametrize(
    "known", ["", "plain", "nul\x00", "\x00", "café", "lone \ud800", "\udfff end", "€\x00"]
)
def test_find_unstorable_finds_what_the_expression_finds(known: str, text: str) -> None:
    """The ASCII shortcut answers as the regular expression does, surrogates and NUL
    included, wherever they sit."""
    for value in (known, text, known + text, text + known):
        expected = UNSTORABLE.search(value)
        found = find_unstorable(value)
        assert (found and (found.start(), found.group())) == (
            expected and (expected.start(), expected.group())
        )
