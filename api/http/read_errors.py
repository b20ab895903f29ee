"""What every read of the projections shares: the caller's scope and query errors as
problems. Every read sees every acknowledged write: projections commit with the events."""

from __future__ import annotations

from api.http.problems import ProblemError, invalid
from infrastructure.read.queries import InvalidQuery
from infrastructure.read.report_sources import owner_scope

__all__ = ["invalid_query", "owner_scope"]


def invalid_query(exc: InvalidQuery) -> ProblemError:
    """A 422 naming the parameter the query could not take."""
    return invalid(exc.field, str(exc), str(exc))
