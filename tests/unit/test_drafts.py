"""Drafted messages: the facts each carries for both seed flows, a golden file per
template, user text kept as text, no blanks, and workspace templates
(kept by admins over HTTP: tests/e2e/test_drafts_http.py).

Regenerate the golden files after an intended change of wording with
``RECLAIM_REGENERATE_DRAFTS=1 python3 dev.py test tests/unit/test_drafts.py -k golden``.
"""

from __future__ import annotations

import hashlib
import os
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from domain.cases import Case, Credit, Dispute
from infrastructure.drafts import (
    Draft,
    draft_for_step,
    environment,
    facts_of,
    money_text,
    package_template_names,
    steps_for,
)
from infrastructure.drafts.overrides import TemplateInvalid, check_template
from tests.support import DATA
from tests.support.api_data import PNG
from tests.support.drafts import SUBJECT_BODY

GOLDEN_DIR = DATA / "drafts"
REGENERATE = os.environ.get("RECLAIM_REGENERATE_DRAFTS") == "1"
NOW = datetime(2026, 3, 25, 12, tzinfo=UTC)
INJECTION = "I was abroad {{ 7*7 }} {% raw %}and{% endraw %} ${x}"
SHOT = PNG
SHOT_SHA = hashlib.sha256(SHOT).hexdigest()


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


class Story:
    """A case and every event it recorded, told step by step as a user would."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.events: list[Any] = list(case.collect_events())

    def do(self, action: str, **kwargs: Any) -> Story:
        getattr(self.case, action)(actor="alice", request_id="req", now=NOW, **kwargs)
        self.events.extend(self.case.collect_events())
        return self

    def drafts(self, overrides: dict[str, str] | None = None) -> list[Draft]:
        days = {"temu": 3, "tiktok": 5}.get(self.case.platform, 5)
        facts = facts_of(self.events, self.case, follow_up_days=days, now=NOW)
        return [draft_for_step(s, self.case, facts, overrides) for s in steps_for(self.case)]

    def draft(self, step: str, level: str | None = None) -> Draft:
        return next(d for d in self.drafts() if d.step == step and d.level == level)


def temu_credit(**overrides: Any) -> Story:
    facts: dict[str, Any] = {
        "owner": "alice",
        "workspace": "home",
        "platform": "temu",
        "account_reference": "temu-4411",
        "credit_type": "store",
        "amount": Decimal("25.00"),
        "currency": "USD",
        "problem": "expired",
        "remedy": "reinstate",
        "earned_on": date(2026, 1, 10),
        "expires_on": date(2026, 3, 10),
        "occurred_at": at(12, 9),
        "actor": "alice",
        "request_id": "req",
        "now": NOW,
    }
    facts.update(overrides)
    return Story(Credit.open(**facts))


def tiktok_dispute(**overrides: Any) -> Story:
    facts: dict[str, Any] = {
        "owner": "alice",
        "workspace": "home",
        "platform": "tiktok",
        "account_reference": "tt-ads-7788",
        "charge_reference": "CAMPAIGN-042",
        "charged_amount": Decimal("120.00"),
        "refund_amount": Decimal("90.00"),
        "currency": "USD",
        "reason": "non_performance",
        "charged_on": date(2026, 2, 1),
        "occurred_at": datetime(2026, 2, 3, 10, tzinfo=UTC),
        "actor": "alice",
        "request_id": "req",
        "now": NOW,
    }
    facts.update(overrides)
    return Story(Dispute.open(**facts))


def with_evidence(story: Story, name: str = "wallet.png", what: str = "wallet page") -> Story:
    return story.do(
        "attach_evidence",
        evidence_id="ev_" + name.split(".")[0],
        kind="screenshot",
        sha256=SHOT_SHA,
        size=len(SHOT),
        media_type="image/png",
        filename=name,
        description=what,
    )


def temu_denied() -> Story:
    story = with_evidence(temu_credit())
    story.do("add_note", text="I was in hospital until 9 March " + INJECTION)
    story.do(
        "submit", channel="support_ticket", reference="T-1001", message="x", occurred_at=at(13)
    )
    story.do("follow_up", channel="live_chat", message="any news?", occurred_at=at(16))
    story.do("deny", reason="Credits expire after 60 days", occurred_at=at(20))
    return story


def tiktok_submitted() -> Story:
    story = with_evidence(tiktok_dispute(), "delivery-report.png", "Ads Manager delivery report")
    story.do("add_note", text="Booked 50,000 impressions; Ads Manager shows 1,200")
    story.do("submit", channel="ads_manager", reference="TT-88812", message="x", occurred_at=at(13))
    return story


# --- facts, per seed flow --------------------------------------------------------------------
def test_temu_expired_credit_first_ticket_asks_for_reinstatement_or_extension() -> None:
    story = with_evidence(temu_credit())
    story.do("add_note", text="I was in hospital until 9 March")
    draft = story.draft("submit")
    assert draft.template == "submit.credit.temu.expired.j2"
    assert draft.channel == "support_ticket"
    assert "reinstate" in draft.subject.lower() and "extend" in draft.subject.lower()
    for fact in ("25.00 USD", "temu-4411", "10 January 2026", "10 March 2026", "wallet.png"):
        assert fact in draft.body
    assert SHOT_SHA in draft.body
    assert "reinstate the credit, or extend its expiry date" in draft.body
    assert "I was in hospital until 9 March" in draft.body
    assert draft.missing == []


def test_temu_follow_up_counts_the_days_of_silence_against_temus_interval() -> None:
    story = with_evidence(temu_credit())
    story.do(
        "submit", channel="support_ticket", reference="T-1001", message="x", occurred_at=at(13)
    )
    draft = story.draft("follow_up")
    assert "no answer in 12 days" in draft.body
    assert "longer than the 3 days TEMU usually takes" in draft.body
    assert "T-1001" in draft.subject and "13 March 2026" in draft.body
    assert draft.channel == "support_ticket"


def test_follow_up_after_a_reply_thanks_for_it_instead_of_counting_silence() -> None:
    story = with_evidence(temu_credit())
    story.do("submit", channel="email", reference="T-1001", message="x", occurred_at=at(13))
    story.do("record_response", message="We are looking into it", occurred_at=at(14))
    body = story.draft("follow_up").body
    assert "Thank you for your reply of 14 March 2026" in body
    assert "no answer" not in body


def test_temu_appeal_quotes_the_denial_and_answers_with_grounds_and_evidence() -> None:
    draft = temu_denied().draft("appeal")
    assert "> Credits expire after 60 days" in draft.body
    assert "I was in hospital until 9 March" in draft.body
    assert f"wallet.png (screenshot: wallet page), SHA-256 {SHOT_SHA}" in draft.body
    assert "20 March 2026" in draft.subject and "T-1001" in draft.subject


def test_each_escalation_level_has_its_draft_and_a_higher_one_only_after_one() -> None:
    story = temu_denied()
    levels = [d.level for d in story.drafts() if d.step == "escalate"]
    assert levels == ["supervisor", "social_media", "consumer_agency", "payment_provider"]
    story.do("escalate", level="social_media", contact="@TEMU", message="x", occurred_at=at(21))
    levels = [d.level for d in story.drafts() if d.step == "escalate"]
    assert levels == ["consumer_agency", "payment_provider"]


def test_social_media_post_has_no_personal_data() -> None:
    for story in (temu_denied(), tiktok_submitted()):
        draft = story.draft("escalate", "social_media")
        post = draft.subject + " " + draft.body
        assert len(draft.body) <= 280
        for personal in (
            "temu-4411",
            "tt-ads-7788",
            "CAMPAIGN-042",
            "T-1001",
            "TT-88812",
            "USD",
            "25.00",
            "120.00",
            "90.00",
            "alice",
            "@example",
            "hospital",
            "wallet.png",
        ):
            assert personal not in post, personal
        assert draft.channel == "social_media"


def test_consumer_agency_complaint_has_a_dated_chronology() -> None:
    body = temu_denied().draft("escalate", "consumer_agency").body
    chronology = re.findall(r"^- (\d{1,2} \w+ 2026): (.*)$", body, re.MULTILINE)
    assert [d for d, _ in chronology] == [
        "12 March 2026",
        "13 March 2026",
        "16 March 2026",
        "20 March 2026",
    ]
    assert "reference T-1001" in chronology[1][1]
    assert "TEMU denied the request" in chronology[3][1]
    assert '"Credits expire after 60 days"' in body


def test_tiktok_first_ticket_cites_campaign_promise_delivery_and_charge() -> None:
    story = with_evidence(tiktok_dispute(), "delivery-report.png", "Ads Manager delivery report")
    story.do("add_note", text="Booked 50,000 impressions; Ads Manager shows 1,200")
    draft = story.draft("submit")
    assert draft.template == "submit.dispute.tiktok.non_performance.j2"
    assert draft.channel == "ads_manager"
    assert "Campaign: CAMPAIGN-042" in draft.body
    assert "Charge: 120.00 USD on 1 February 2026" in draft.body
    assert "Booked 50,000 impressions; Ads Manager shows 1,200" in draft.body
    assert "refund of 90.00 USD of the 120.00 USD charged" in draft.body
    assert "Ad account: tt-ads-7788" in draft.body
    assert "CAMPAIGN-042" in draft.subject and "120.00 USD" in draft.subject


def test_tiktok_without_promise_and_delivery_says_what_to_add() -> None:
    draft = with_evidence(tiktok_dispute()).draft("submit")
    assert "What it promised: [add" in draft.body and "What it delivered: [add" in draft.body
    assert any("promised" in m for m in draft.missing)


def test_tiktok_chargeback_request_has_the_charge_reference_and_amounts() -> None:
    draft = tiktok_submitted().draft("escalate", "payment_provider")
    body = draft.body
    assert "Merchant's reference for the charge: CAMPAIGN-042" in body
    assert "Amount charged: 120.00 USD" in body and "Amount disputed: 90.00 USD" in body
    assert "Date of the charge: 1 February 2026" in body
    assert "13 March 2026: Request submitted to TikTok by Ads Manager (reference TT-88812)" in body
    assert "CAMPAIGN-042" in draft.subject


def test_tiktok_supervisor_draft_tells_the_history() -> None:
    body = tiktok_submitted().draft("escalate", "supervisor").body
    assert "I first contacted you on 13 March 2026 by Ads Manager (reference TT-88812)." in body
    assert "open for 50 days" in body
    assert "Refund requested: 90.00 USD" in body


def test_one_draft_per_step_the_case_allows() -> None:
    assert [d.step for d in temu_credit().drafts()] == ["submit"]
    steps = [(d.step, d.level) for d in temu_denied().drafts()]
    assert steps[0] == ("appeal", None) and ("follow_up", None) not in steps
    story = temu_denied()
    story.do("resolve", outcome="withdrawn", occurred_at=at(24))
    assert story.drafts() == []


# --- no leaks, no gaps -----------------------------------------------------------------------
def _all_drafts() -> list[Draft]:
    stories = [temu_credit(), temu_denied(), tiktok_submitted(), with_evidence(tiktok_dispute())]
    bare = temu_credit(account_reference=None, earned_on=None, expires_on=None)
    stories.append(bare)
    bare_dispute = tiktok_dispute(account_reference=None, charge_reference=None, charged_on=None)
    stories.append(bare_dispute)
    bare2 = temu_credit(account_reference=None, earned_on=None, expires_on=None)
    bare2.case.account_reference = "x"  # let it submit without the facts a template could use
    bare2.do("submit", channel="email", reference=None, message=None, occurred_at=at(13))
    bare2.do("deny", reason=None, occurred_at=at(14))
    stories.append(bare2)
    return [d for s in stories for d in s.drafts()]


def test_user_text_is_never_run_as_template_code() -> None:
    bodies = "\n".join(d.body for d in temu_denied().drafts())
    assert INJECTION in bodies
    assert "49" not in bodies


@pytest.mark.parametrize("draft", _all_drafts(), ids=lambda d: f"{d.step}-{d.level or ''}")
def test_a_missing_fact_leaves_no_blank(draft: Draft) -> None:
    text = draft.subject + "\n" + draft.body
    assert "None" not in text and "{{" not in text.replace(INJECTION, "")
    assert not re.search(r" [.,:;)]|\(\)|\bon ?\.|\bof ?\.|\bfor ?\.", text), text
    labels = "Account|Ad account|Campaign|Charge|Amount charged|Refund requested|Earned on"
    assert not re.search(rf"^({labels}|Expiry date shown|Date of the charge):\s*$", text, re.M)
    assert "  " not in text
    assert draft.subject.strip()
    # every placeholder in the body is named in missing, and nothing else is
    placeholders = re.findall(r"\[[Aa]dd ([^\]]+)\]", draft.body)
    assert [p.rstrip(". ") for p in placeholders] == draft.missing


def test_missing_facts_are_named_for_the_sender() -> None:
    bare = temu_credit(account_reference=None, earned_on=None, expires_on=None)
    draft = bare.draft("submit")
    assert "[add your account ID" in draft.body
    assert "your account ID or the e-mail address of the account" in draft.missing
    assert "Earned on" not in draft.body and "expired before" in draft.body
    appeal = next(d for d in _all_drafts() if d.step == "appeal" and "[Add the reason" in d.body)
    assert "the reason the platform gave for the denial" in appeal.missing


# --- golden files ----------------------------------------------------------------------------
def _golden_cases() -> dict[str, Draft]:
    """The first draft written from each template across the stories, by template."""
    other_credit = with_evidence(temu_credit(problem="disappeared", remedy="correct"))
    other_dispute = with_evidence(tiktok_dispute(reason="incorrect_charge"))
    tiktok_opened = with_evidence(
        tiktok_dispute(), "delivery-report.png", "Ads Manager delivery report"
    )
    tiktok_opened.do("add_note", text="Booked 50,000 impressions; Ads Manager shows 1,200")
    stories = [temu_credit(), temu_denied(), tiktok_opened, tiktok_submitted()]
    stories += [other_credit, other_dispute]
    tiktok_denied = tiktok_submitted()
    tiktok_denied.do("deny", reason="Delivery met the minimum", occurred_at=at(18))
    stories.append(tiktok_denied)
    found: dict[str, Draft] = {}
    for story in stories:
        for draft in story.drafts():
            found.setdefault(draft.template, draft)
    return found


def test_every_package_template_has_a_golden_case() -> None:
    assert sorted(_golden_cases()) == package_template_names()


@pytest.mark.parametrize("name", package_template_names())
def test_golden(name: str) -> None:
    draft = _golden_cases()[name]
    text = f"Subject: {draft.subject}\nChannel: {draft.channel}\nTo: {draft.to}\n"
    text += f"Missing: {'; '.join(draft.missing) or '-'}\n\n{draft.body}\n"
    golden = GOLDEN_DIR / (name.removesuffix(".j2") + ".txt")
    if REGENERATE or not golden.exists():
        if not REGENERATE:
            pytest.fail(f"no golden file {golden}; set RECLAIM_REGENERATE_DRAFTS=1 to write it")
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


# --- workspace templates: checked in the sandbox ---------------------------------------------
def test_a_replacement_is_checked_by_compiling_and_rendering_it() -> None:
    check_template("follow_up.j2", SUBJECT_BODY)
    with pytest.raises(TemplateInvalid, match="line 1"):
        check_template("follow_up.j2", "{% block subject %}{{ platform {% endblock %}")
    with pytest.raises(TemplateInvalid, match="body"):
        check_template("follow_up.j2", "{% block subject %}x{% endblock %}")
    with pytest.raises(TemplateInvalid, match="does not render"):
        check_template("follow_up.j2", SUBJECT_BODY.replace("B", "{{ no_such_fact }}"))
    with pytest.raises(TemplateInvalid, match="does not render"):
        check_template("follow_up.j2", SUBJECT_BODY.replace("B", "{{ ''.__class__.__mro__ }}"))
    with pytest.raises(TemplateInvalid, match="not a draft template"):
        check_template("../../etc/passwd", SUBJECT_BODY)


def test_the_sandbox_is_for_text_and_strict() -> None:
    env = environment()
    assert env.autoescape is False
    assert env.from_string("{{ x }}").render(x="<b>&</b>") == "<b>&</b>"


def test_a_workspace_template_is_used_and_one_that_fails_falls_back() -> None:
    story = temu_denied()
    custom = SUBJECT_BODY.replace("B", "Our words: {{ denial.reason }}")
    appeal = next(d for d in story.drafts({"appeal.j2": custom}) if d.step == "appeal")
    assert appeal.workspace_template and appeal.body == "Our words: Credits expire after 60 days"
    broken = SUBJECT_BODY.replace("B", "{{ submission.nope.deeper }}")
    appeal = next(d for d in story.drafts({"appeal.j2": broken}) if d.step == "appeal")
    assert not appeal.workspace_template and "> Credits expire after 60 days" in appeal.body


def test_amounts_are_written_with_their_currencys_decimal_places() -> None:
    """A charge typed as "120" reads "120.00 USD" in a letter, as on the case's pages."""
    from decimal import Decimal

    assert money_text(Decimal("120"), "USD") == "120.00 USD"
    assert money_text(Decimal("5000"), "JPY") == "5000 JPY"
    assert money_text(Decimal("1.5"), "KWD") == "1.500 KWD"
    assert money_text(None, "USD") is None
