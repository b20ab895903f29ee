"""The drafts for a case's next steps, with its workspace's own templates."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.cases import Case
from infrastructure.drafts import Draft, draft_for_step, facts_of, steps_for
from infrastructure.store.application import ReclaimApplication


def drafts_for(
    reclaim: ReclaimApplication,
    case: Case,
    workspace: str | None = None,
    *,
    now: datetime | None = None,
) -> list[Draft]:
    """A draft for each next step ``case`` allows, with the workspace's templates if any."""
    now = now or datetime.now(UTC)
    interval = reclaim.settings.deadline_policy().follow_up_interval(case.platform)
    facts = facts_of(list(reclaim.case_events(case.id)), case, follow_up_days=interval, now=now)
    overrides = reclaim.templates.all_for(workspace or case.workspace)
    return [draft_for_step(step, case, facts, overrides) for step in steps_for(case)]
