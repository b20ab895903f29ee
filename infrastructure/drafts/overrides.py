"""A workspace's own draft templates, kept beside the events (both stores, one code path).

An admin's replacement is checked before it is kept: it must compile in the same
sandbox the drafts render in, have ``subject`` and ``body`` blocks, and render against
sample facts of both kinds, so a typo is a 422 at once and not a broken draft later.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from jinja2 import TemplateError, TemplateSyntaxError

from domain.cases import Credit, Dispute
from infrastructure.drafts import SUFFIX, environment, facts_of, package_template_names, render

__all__ = [
    "MAX_TEMPLATE_CHARS",
    "TemplateInvalid",
    "check_template",
    "known_name",
    "sample_facts",
]

MAX_TEMPLATE_CHARS = 20_000


class TemplateInvalid(ValueError):
    """A replacement template that does not compile or render; ``line`` where known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def known_name(name: str) -> bool:
    """A name a template may be kept under: a package template, or a more specific one
    for a step the package has (``submit.credit.temu.misapplied.j2``)."""
    if not name.endswith(SUFFIX) or name.startswith("_") or len(name) > 200:
        return False
    if not name.isascii():
        return False
    if name in package_template_names():
        return True
    bases = {n.split(".")[0] for n in package_template_names()}
    parts = name[: -len(SUFFIX)].split(".")
    return (
        parts[0] in bases
        and 2 <= len(parts) <= 4
        and all(p.replace("_", "").isalnum() for p in parts)
    )


def sample_facts() -> list[dict[str, Any]]:
    """Facts of both kinds, the shape ``facts_of`` gives, for a trial render."""
    opened = datetime(2026, 3, 1, 9, tzinfo=UTC)
    now = opened + timedelta(days=10)
    credit = Credit.open(
        owner="sample",
        workspace="sample",
        platform="temu",
        account_reference="sample-1",
        credit_type="store",
        amount=Decimal("10.00"),
        currency="USD",
        problem="expired",
        remedy="reinstate",
        occurred_at=opened,
        actor="sample",
        request_id="sample",
        now=now,
    )
    dispute = Dispute.open(
        owner="sample",
        workspace="sample",
        platform="tiktok",
        account_reference="",
        charge_reference="C-1",
        charged_amount=Decimal("10.00"),
        currency="USD",
        reason="non_performance",
        occurred_at=opened,
        actor="sample",
        request_id="sample",
        now=now,
    )
    out = []
    for case in (credit, dispute):
        events = list(case.collect_events())
        facts = facts_of(events, case, follow_up_days=5, now=now)
        out.append({**facts, "c": facts, "step": "submit", "level": None, "to": "support"})
    return out


def check_template(name: str, source: str) -> None:
    """Raise TemplateInvalid unless ``source`` compiles in the sandbox and renders."""

    if not known_name(name):
        raise TemplateInvalid(f"{name!r} is not a draft template name")
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateInvalid(f"a template is at most {MAX_TEMPLATE_CHARS} characters")
    env = environment({name: source})
    try:
        template = env.get_template(name)
    except TemplateSyntaxError as exc:
        raise TemplateInvalid(f"line {exc.lineno}: {exc.message}", exc.lineno) from None
    except TemplateError as exc:
        raise TemplateInvalid(str(exc)) from None
    for block in ("subject", "body"):
        if block not in template.blocks:
            raise TemplateInvalid(f"a draft template needs a {{% block {block} %}}")
    # a template for one kind (submit.credit.j2) is tried on that kind; a shared one on both
    kinds = {part for part in name.split(".") if part in ("credit", "dispute")}
    for facts in sample_facts():
        if kinds and facts["kind"] not in kinds:
            continue
        try:
            render(template, facts)
        except TemplateError as exc:
            raise TemplateInvalid(f"it does not render: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - any failure of the user's template is a 422
            raise TemplateInvalid(f"it does not render: {type(exc).__name__}: {exc}") from None
