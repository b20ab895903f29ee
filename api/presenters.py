"""How a case is shown over HTTP: the domain object plus what is derived from it."""

from __future__ import annotations

from typing import Any

from api.schemas import CaseOut, case_out
from domain.cases import Case
from infrastructure.settings import Settings


def case_deadlines(case: Case, settings: Settings) -> dict[str, Any]:
    """The case's derived deadlines (filled by the deadline policy)."""
    return {}


def present_case(case: Case, settings: Settings) -> CaseOut:
    return case_out(case, case_deadlines(case, settings))
