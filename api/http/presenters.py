"""How a case is shown over HTTP: the domain object plus what is derived from it."""

from __future__ import annotations

from api.http.schemas import CreditOut, DisputeOut, case_out
from domain.cases import Case
from infrastructure.read.deadline_text import case_deadlines
from infrastructure.settings import Settings


def present_case(case: Case, settings: Settings) -> CreditOut | DisputeOut:
    return case_out(case, case_deadlines(case, settings.deadline_policy()))
