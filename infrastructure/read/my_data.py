"""What Reclaim holds about one person, for their own copy (GDPR Art. 15 and 20): the
cases they own in their workspace with their timelines and evidence, and their keys'
metadata. Always the caller's own: an admin's or an auditor's copy holds the cases they
opened, never the rest of the workspace they may read.

``load_my_data`` assembles it as plain data; ``api/render/my_data.py`` writes the ZIP.
Evidence bytes are read by ``evidence_chunks`` and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any
from uuid import UUID

from domain.cases import Case
from infrastructure.read import queries
from infrastructure.read.report_sources import case_rows
from infrastructure.store.application import ReclaimApplication
from infrastructure.store.blobs import BlobMissing
from infrastructure.store.keys import KeyInfo, Principal


@dataclass(frozen=True)
class OwnedCase:
    """One of the person's cases, as the API shows it."""

    id: str
    #: as ``GET /v1/cases/{id}`` answers
    case: Mapping[str, Any]
    #: as ``GET /v1/cases/{id}/timeline`` answers
    timeline: Mapping[str, Any]
    evidence: Sequence[Mapping[str, Any]]
    #: an evidence item's bytes, a chunk at a time (``evidence_chunks`` on this case)
    read_evidence: Callable[[Mapping[str, Any]], Iterator[bytes]]


@dataclass(frozen=True)
class MyData:
    user_id: str
    workspace: str
    account: Mapping[str, Any]
    #: read one case at a time, as the archive is written
    cases: Iterable[OwnedCase]
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def evidence_chunks(
    reclaim: ReclaimApplication, case: Case, item: Mapping[str, Any]
) -> Iterator[bytes]:
    """The bytes of one evidence file of ``case``, a chunk at a time: the one place the
    personal data export reads evidence. ``BlobMissing`` (a ``FileNotFoundError``) when
    the store has no such file."""
    blob = reclaim.files_of(case).find(str(item.get("sha256") or ""))
    if blob is None:
        raise BlobMissing(f"evidence {item.get('id')} of case {case.id}")
    return blob.iter_bytes()


def owned_cases(reclaim: ReclaimApplication, principal: Principal) -> Iterator[Case]:
    """Every case ``principal`` owns in their workspace, oldest first, whatever their role."""
    for row in case_rows(reclaim.database, principal.workspace, principal.user_id):
        case = reclaim.get_case(UUID(str(row["id"])))
        if case.owner == principal.user_id and case.workspace == principal.workspace:
            yield case


def _key(info: KeyInfo) -> dict[str, Any]:
    return {
        "key_id": info.key_id,
        "kind": info.kind,
        "role": info.role,
        "created_at": info.created_at,
        "revoked_at": info.revoked_at,
    }


def account(reclaim: ReclaimApplication, principal: Principal) -> dict[str, Any]:
    """The person's API keys and calendar tokens (what they are, never a hash or a key),
    how many browser sessions are kept for them, and their mail settings."""
    keys = reclaim.keys.of_user(principal.user_id, principal.workspace)
    return {
        "user_id": principal.user_id,
        "workspace": principal.workspace,
        "api_keys": [_key(k) for k in keys if k.kind != "calendar"],
        "calendar_tokens": [_key(k) for k in keys if k.kind == "calendar"],
        "browser_sessions": reclaim.sessions.count_of_user(principal.user_id, principal.workspace),
        "mail": _mail(reclaim, principal),
    }


def _mail(reclaim: ReclaimApplication, principal: Principal) -> dict[str, Any] | None:
    """Their reminders by e-mail: the address (personal data) and the digest's settings."""
    prefs = reclaim.mail.prefs(principal.workspace, principal.user_id)
    if prefs is None:
        return None
    return {
        "address": prefs.address,
        "digest_time": prefs.digest_time,
        "time_zone": prefs.time_zone,
        "digests": prefs.digests,
        "updated_at": prefs.updated_at,
    }


def load_my_data(
    reclaim: ReclaimApplication,
    principal: Principal,
    *,
    present_case: Callable[[Case], Mapping[str, Any]],
    present_timeline: Callable[[str, list[dict[str, Any]]], Mapping[str, Any]],
    now: datetime | None = None,
) -> MyData:
    """The person's data; each case is read, and shown with ``present_case`` and
    ``present_timeline`` (the API's own), only when the archive comes to it."""

    def cases() -> Iterator[OwnedCase]:
        for case in owned_cases(reclaim, principal):
            case_id = str(case.id)
            rows = queries.timeline(
                reclaim.database, case_id, principal.workspace, principal.user_id
            )
            yield OwnedCase(
                id=case_id,
                case=present_case(case),
                timeline=present_timeline(case_id, rows),
                evidence=list(case.evidence),
                read_evidence=partial(evidence_chunks, reclaim, case),
            )

    return MyData(
        user_id=principal.user_id,
        workspace=principal.workspace,
        account=account(reclaim, principal),
        cases=cases(),
        generated_at=now or datetime.now(UTC),
    )
