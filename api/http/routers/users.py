"""People: an admin erases one of their workspace (GDPR Art. 17, crypto-shredding)."""

from __future__ import annotations

import re
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from api.http import schemas as s
from api.http.deps import Caller, Forbidden, Reclaim, request_id
from api.http.problems import ProblemError, invalid, problem_responses
from infrastructure.service import erasure

router = APIRouter(tags=["people"])

#: a user id as keys are made for them (``store/keys.py``)
USER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")


@router.delete(
    "/v1/users/{user}",
    response_model=s.ErasureOut,
    responses=problem_responses(401, 403, 404, 409, 422, 503),
    summary="Erase a person of the admin's workspace",
)
async def erase_user(user: str, request: Request, reclaim: Reclaim, caller: Caller) -> s.ErasureOut:
    """Destroys the person's data key: every personal field of theirs (notes, messages,
    references, file names) reads as erased from then on, on every page, answer, export
    and dossier, and their files are removed. Their keys, calendar tokens and sessions
    are revoked, and each of their cases records who erased it and when (and takes no
    more steps). Amounts, states and times stay, so reports are unchanged, and the audit
    chain still verifies. Only an admin, only in their own workspace."""
    if caller.role != "admin":
        raise Forbidden(caller, "erase a person (an admin of the workspace may)")
    if not USER_ID.match(user):
        raise invalid("user", "must be 1-100 letters, digits or . _ @ - (a user id)")
    by = caller.user_id
    rid = request_id(request)
    try:
        begun = await run_in_threadpool(erasure.begin, reclaim, caller.workspace, user, by=by)
    except erasure.UnknownPerson as exc:
        raise ProblemError(404, "Not found", str(exc), code="user-not-found") from None
    except erasure.Unsealed as exc:
        raise ProblemError(409, "Log not sealed", str(exc), code="log-not-sealed") from None
    node = request.app.state.node
    for case_id in begun.case_ids:

        def record(case_id: UUID = case_id) -> None:
            erasure.record(reclaim, case_id, by=by, request_id=rid)

        await node.run(record, key=case_id)
    done = await run_in_threadpool(erasure.finish, reclaim, begun)
    return s.ErasureOut(**done.as_dict())
