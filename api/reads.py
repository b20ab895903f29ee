"""What every read of the projections shares: the caller's scope, read-your-writes,
and query errors as problems."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query, Request

from api.deps import Caller, Reclaim
from api.problems import ProblemError, invalid
from infrastructure.keys import Principal
from infrastructure.projections.queries import InvalidQuery
from infrastructure.report_sources import owner_scope

__all__ = ["Consistent", "invalid_query", "owner_scope"]


def wait_for_position(
    request: Request,
    reclaim: Reclaim,
    caller: Caller,
    min_position: Annotated[
        int | None,
        Query(
            ge=0,
            le=2**62,
            description="Wait (bounded) until the projections hold this log position: the "
            "Reclaim-Position header of a command's response",
        ),
    ] = None,
    reclaim_position: Annotated[int | None, Header(ge=0, le=2**62, include_in_schema=False)] = None,
) -> Principal:
    """Read-your-writes with a separate projector: a read names the position it must see."""
    position = min_position if min_position is not None else reclaim_position
    projector = getattr(reclaim, "projector", None)
    if position is not None and projector is not None:
        end = reclaim.recorder.max_notification_id() or 0
        if position > end:
            raise invalid(
                "min_position",
                "beyond the end of the log",
                f"position {position} is beyond the end of the log ({end})",
            )
        if not projector.wait_for(position, reclaim.settings.read_wait_seconds):
            raise ProblemError(
                503,
                "Service unavailable",
                f"the projections have not reached position {position} yet; retry shortly",
                code="projections-behind",
                headers={"Retry-After": "1"},
            )
    return caller


#: the caller, once the projections hold what the caller asked to see
Consistent = Annotated[Principal, Depends(wait_for_position)]


def invalid_query(exc: InvalidQuery, field: str) -> ProblemError:
    return invalid(field, str(exc), str(exc))
