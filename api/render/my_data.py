"""A person's own data as a ZIP (GDPR Art. 15 access, Art. 20 portability), in formats any
program reads: JSON as the API answers it, and the evidence files as they were uploaded.

    account.json                        keys and calendar tokens (metadata only), sessions
    cases/<case id>/case.json           as GET /v1/cases/{id}
    cases/<case id>/timeline.json       as GET /v1/cases/{id}/timeline
    cases/<case id>/evidence/<evidence id>-<name>
                                        each evidence file, forwarded mail (.eml) too
    manifest.json                       who, when, every other file's path, size, SHA-256

Evidence goes in a chunk at a time, never whole in memory. A file the store no longer has
is named in the manifest's ``evidence`` list with the problem; one whose bytes no longer
hash to what was recorded is included as it is and named there too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, BinaryIO

from api.render.archive import MANIFEST_NAME, ManifestedZip, safe_name
from infrastructure.read.my_data import MyData, OwnedCase

ACCOUNT_NAME = "account.json"


def _json(value: object) -> bytes:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str).encode() + b"\n"


def case_folder(case_id: object) -> str:
    return f"cases/{safe_name(case_id, fallback='case')}"


def evidence_path(case_id: object, item: Mapping[str, Any]) -> str:
    name = safe_name(item.get("filename"), item.get("media_type"), str(item.get("kind") or ""))
    return f"{case_folder(case_id)}/evidence/{safe_name(item.get('id'))}-{name}"


def _add_evidence(
    archive: ManifestedZip, owned: OwnedCase, item: Mapping[str, Any]
) -> dict[str, Any]:
    recorded = item.get("sha256")
    found: dict[str, Any] = {"case_id": owned.id, "id": item.get("id"), "sha256": recorded}
    try:
        chunks = owned.read_evidence(item)
    except FileNotFoundError:
        return {**found, "path": None, "problem": "the stored file is missing"}
    path = evidence_path(owned.id, item)
    entry = archive.add_chunks(path, chunks, int(item.get("size") or 0))
    problem = None
    if entry["sha256"] != recorded:
        problem = f"the stored file hashes to {entry['sha256']}, not {recorded}"
    return {**found, "path": path, "problem": problem}


def write_my_data(data: MyData, target: BinaryIO) -> None:
    """Write the ZIP to ``target`` (a file opened for binary writing)."""
    case_ids: list[str] = []
    evidence: list[dict[str, Any]] = []
    with ManifestedZip(target, data.generated_at) as archive:
        archive.add(ACCOUNT_NAME, _json(data.account))
        for owned in data.cases:
            case_ids.append(owned.id)
            archive.add(f"{case_folder(owned.id)}/case.json", _json(owned.case))
            archive.add(f"{case_folder(owned.id)}/timeline.json", _json(owned.timeline))
            evidence += [_add_evidence(archive, owned, item) for item in owned.evidence]
        manifest = {
            "user_id": data.user_id,
            "workspace": data.workspace,
            "generated_at": data.generated_at.isoformat(),
            "cases": case_ids,
            "files": archive.files,
            "evidence": evidence,
        }
        archive.add(MANIFEST_NAME, _json(manifest))


def my_data_filename(user_id: str, workspace: str) -> str:
    workspace_name = safe_name(workspace, fallback="workspace")
    return f"reclaim-my-data-{workspace_name}-{safe_name(user_id, fallback='user')}.zip"
