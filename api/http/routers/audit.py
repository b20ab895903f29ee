"""What anyone can check of the audit log: its public key, its signed tree head, and
RFC 9162 proofs that an event is in the log and that the log only ever grew."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.http.deps import Caller, Reclaim
from api.http.problems import ProblemError, invalid, problem_responses
from api.http.routers.reads import SignedHead
from infrastructure.projections.audit import key_id, public_pem, public_raw
from infrastructure.read import proofs, queries
from infrastructure.read.report_sources import owner_scope

router = APIRouter(prefix="/v1/audit", tags=["audit"])


class PublicKey(BaseModel):
    key_id: str = Field(description="SHA-256 of the raw public key, its first 16 hex digits")
    algorithm: str = Field(description="Always Ed25519")
    public_key: str = Field(description="The raw 32-byte public key, base64")
    pem: str = Field(description="The same key as a PEM SubjectPublicKeyInfo")


class InclusionProof(BaseModel):
    position: int
    case_id: str
    leaf_index: int
    tree_size: int
    leaf_hash: str = Field(description="SHA-256(0x00 ‖ the event's canonical bytes), hex")
    root: str = Field(description="The root of the tree of tree_size events, hex")
    proof: list[str] = Field(description="The audit path (RFC 9162 2.1.3), hex, deepest first")


class ConsistencyProof(BaseModel):
    from_: int = Field(alias="from")
    to: int
    from_root: str
    to_root: str
    proof: list[str] = Field(description="RFC 9162 2.1.4's consistency path, hex")

    model_config = {"populate_by_name": True}


@router.get(
    "/key",
    response_model=PublicKey,
    responses=problem_responses(401, 503),
    summary="The public key the audit log's heads are signed with",
)
def audit_key(reclaim: Reclaim, caller: Caller) -> PublicKey:
    key = reclaim.projections.context.signing_key
    return PublicKey(
        key_id=key_id(key),
        algorithm="Ed25519",
        public_key=base64.b64encode(public_raw(key)).decode(),
        pem=public_pem(key),
    )


@router.get(
    "/head",
    response_model=SignedHead,
    responses=problem_responses(401, 404, 503),
    summary="The audit log's signed tree head",
)
def audit_head(reclaim: Reclaim, caller: Caller) -> SignedHead:
    head = queries.audit_head(reclaim.database)
    if head is None:
        raise ProblemError(404, "Not found", "the log holds no event yet", code="no-head")
    return SignedHead(**head)


@router.get(
    "/proof/inclusion",
    response_model=InclusionProof,
    responses=problem_responses(401, 404, 422, 503),
    summary="That the event at a position is in the log of a given size",
)
async def inclusion_proof(
    reclaim: Reclaim,
    caller: Caller,
    position: Annotated[int, Query(ge=1, le=2**62, description="The event's log position")],
    size: Annotated[
        int | None,
        Query(ge=1, le=2**62, description="The tree's size (left out: the log's size now)"),
    ] = None,
) -> InclusionProof:
    """For an event of a case within the caller's reach; another's is the same 404 as a
    position the log does not hold."""
    leaf = await run_in_threadpool(proofs.leaf_at, reclaim.database, position)
    scope = owner_scope(caller)
    if (
        leaf is None
        or leaf.workspace != caller.workspace
        or (scope is not None and leaf.owner != scope)
    ):
        raise ProblemError(
            404, "Not found", f"no event at position {position} within your reach", code="not-found"
        )
    try:
        answer = await run_in_threadpool(proofs.inclusion, reclaim.database, leaf, size)
    except proofs.ProofError as exc:
        raise invalid(exc.field, str(exc)) from None
    return InclusionProof(**answer)


@router.get(
    "/proof/consistency",
    response_model=ConsistencyProof,
    responses=problem_responses(401, 422, 503),
    summary="That the log of one size is a prefix of the log of a larger size",
    response_model_by_alias=True,
)
async def consistency_proof(
    reclaim: Reclaim,
    caller: Caller,
    from_: Annotated[int, Query(alias="from", ge=1, le=2**62, description="The older size")],
    to: Annotated[
        int | None, Query(ge=1, le=2**62, description="The newer size (left out: now)")
    ] = None,
) -> ConsistencyProof:
    try:
        answer = await run_in_threadpool(proofs.consistency, reclaim.database, from_, to)
    except proofs.ProofError as exc:
        raise invalid(exc.field, str(exc)) from None
    return ConsistencyProof(**answer)
