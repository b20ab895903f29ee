"""The event feed: the events within the caller's reach in log order, paged by position,
and the same as Server-Sent Events (``infrastructure/read/feed.py`` reads them)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from functools import partial
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from api.http.deps import Caller, Reclaim
from api.http.middleware import StrictJSONRoute
from api.http.openapi import text_content
from api.http.problems import ProblemError, problem_responses
from api.http.read_errors import owner_scope
from infrastructure.read import feed
from infrastructure.service.access import can_read
from infrastructure.store.application import CaseNotFound, ReclaimApplication
from infrastructure.store.keys import Principal

router = APIRouter(prefix="/v1", tags=["events"], route_class=StrictJSONRoute)

#: an SSE comment sent when nothing else was, so proxies keep the connection open
KEEPALIVE_SECONDS = 15.0
#: how long a browser waits before it reconnects (SSE ``retry``), milliseconds
RECONNECT_MS = 2000

Position = Annotated[int, Query(ge=0, le=2**62, description="A position in the log")]


class CasePublic(BaseModel):
    """What anyone following the log may know of a case just after the event: nothing
    personal (no references, messages, notes or file names)."""

    kind: Literal["credit", "dispute"]
    platform: str
    state: str
    outcome: str | None = Field(description="How the case ended, once resolved")
    currency: str
    amount_claimed: str
    amount_recovered: str


class FeedEvent(BaseModel):
    position: int = Field(description="Where the event is in the log: pass as `after`")
    case_id: UUID
    version: int = Field(description="The case's version this event made")
    type: str = Field(description="What happened: opened, submitted, denied, note_added ...")
    recorded_at: datetime
    occurred_at: datetime
    case: CasePublic


class FeedPage(BaseModel):
    items: list[FeedEvent]
    next_after: int = Field(
        description="Pass as `after` for the next page: the last item's position, or the "
        "`after` given when there were none. Fewer items than `limit`: none more for now"
    )


def check_case(reclaim: ReclaimApplication, caller: Principal, case_id: UUID) -> None:
    """A case outside the caller's reach is not there at all (404)."""
    try:
        case = reclaim.get_case(case_id)
    except CaseNotFound:
        case = None
    if case is None or not can_read(caller, case):
        raise ProblemError(404, "Not found", f"case {case_id} not found", code="case-not-found")


@router.get(
    "/events",
    response_model=FeedPage,
    responses=problem_responses(401, 404, 422, 503),
    summary="The events within the caller's reach, in log order, paged by position",
)
def list_events(
    reclaim: Reclaim,
    caller: Caller,
    after: Position = 0,
    limit: Annotated[int, Query(ge=1, le=feed.MAX_LIMIT)] = feed.DEFAULT_LIMIT,
    case_id: Annotated[UUID | None, Query(description="Only this case's events")] = None,
) -> FeedPage:
    """A member sees their own cases' events, an auditor or admin their workspace's. A
    consumer keeps the last `position` it handled and asks again with it as `after`."""
    if case_id is not None:
        check_case(reclaim, caller, case_id)
    items = feed.events_after(
        reclaim.database,
        caller.workspace,
        owner_scope(caller),
        after=after,
        limit=limit,
        case_id=None if case_id is None else str(case_id),
    )
    return FeedPage(
        items=[FeedEvent.model_validate(i) for i in items],
        next_after=items[-1]["position"] if items else after,
    )


def sse(event: dict[str, object]) -> str:
    return f"id: {event['position']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n"


async def event_stream(
    request: Request,
    reclaim: ReclaimApplication,
    workspace: str,
    owner: str | None,
    after: int,
    *,
    case_id: str | None = None,
    poll_seconds: float | None = None,
    still_allowed: Callable[[], bool] | None = None,
) -> AsyncIterator[str]:
    """The events after ``after`` as SSE frames, then new ones as they are recorded, until
    the client leaves or ``events_stream_seconds`` pass (the client then reconnects with
    ``Last-Event-ID``). It looks for new events every ``poll_seconds`` (default:
    ``webhook_poll_seconds``); ``still_allowed``, asked every ``KEEPALIVE_SECONDS``, ends
    the stream once the caller may no longer read it (a session signed out)."""
    settings = reclaim.settings
    every = poll_seconds or settings.webhook_poll_seconds
    yield f"retry: {RECONNECT_MS}\n\n"
    ends = time.monotonic() + settings.events_stream_seconds
    quiet_since = checked_at = time.monotonic()
    while time.monotonic() < ends:
        if await request.is_disconnected():
            return
        if still_allowed is not None and time.monotonic() - checked_at > KEEPALIVE_SECONDS:
            if not await run_in_threadpool(still_allowed):
                return
            checked_at = time.monotonic()
        items = await run_in_threadpool(
            partial(
                feed.events_after,
                reclaim.database,
                workspace,
                owner,
                after=after,
                limit=100,
                case_id=case_id,
            )
        )
        for item in items:
            yield sse(item)
            after = item["position"]
        if items:
            quiet_since = time.monotonic()
            continue
        if time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
            yield ": still here\n\n"
            quiet_since = time.monotonic()
        await asyncio.sleep(every)


def resume_from(last_event_id: str | None, after: int | None, reclaim: ReclaimApplication) -> int:
    """Where a stream starts: after ``Last-Event-ID`` (a reconnecting client), else after
    ``after``, else at the log's end (only what happens from now)."""
    if last_event_id is not None and last_event_id.strip().isdigit():
        return int(last_event_id.strip())
    if after is not None:
        return after
    return feed.last_position(reclaim.database)


@router.get(
    "/events/stream",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": text_content("text/event-stream"),
            "description": "Server-Sent Events: each event's `id` is its position and its "
            "`data` the feed's item (JSON)",
        },
        **problem_responses(401, 404, 422, 503),
    },
    summary="The feed as Server-Sent Events, resuming with Last-Event-ID",
)
async def stream_events(
    request: Request,
    reclaim: Reclaim,
    caller: Caller,
    after: Annotated[
        int | None,
        Query(ge=0, le=2**62, description="Start after this position (default: from now)"),
    ] = None,
    case_id: Annotated[UUID | None, Query(description="Only this case's events")] = None,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            max_length=20,
            description="The last event's id a reconnecting client saw: the stream goes on "
            "after it (it wins over `after`)",
        ),
    ] = None,
) -> StreamingResponse:
    if case_id is not None:
        await run_in_threadpool(check_case, reclaim, caller, case_id)
    start = await run_in_threadpool(resume_from, last_event_id, after, reclaim)
    frames = event_stream(
        request,
        reclaim,
        caller.workspace,
        owner_scope(caller),
        start,
        case_id=None if case_id is None else str(case_id),
    )
    return sse_response(frames)


def sse_response(frames: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(
        frames,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
