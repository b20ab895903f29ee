"""Evidence: upload (streamed, hashed, checked by content) and download."""

from __future__ import annotations

import secrets
from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel

from api.http.commands import call_for, counted, json_reply, respond
from api.http.deps import Caller, Commands, Reclaim, check_read, check_write
from api.http.middleware import StrictJSONRoute
from api.http.openapi import (
    CONTENT_DISPOSITION,
    answer_headers,
    command_parameters,
    file_content,
)
from api.http.problems import ProblemError, problem_responses
from api.http.uploads import occurred_at_field, read_upload
from domain.actions import DECLARED
from domain.cases import EVIDENCE_KINDS, Case, clean_filename
from infrastructure.service.commands import Done, Reply
from infrastructure.store.blobs import ALLOWED_MEDIA_TYPES

router = APIRouter(prefix="/v1", tags=["evidence"], route_class=StrictJSONRoute)


class EvidenceCreated(BaseModel):
    id: str
    sha256: str
    size: int
    media_type: str
    kind: str
    filename: str
    description: str
    case_version: int


UPLOAD_BODY: dict[str, Any] = {
    **command_parameters(),
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "kind"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "One of: " + ", ".join(ALLOWED_MEDIA_TYPES),
                        },
                        "kind": {
                            "type": "string",
                            "enum": list(EVIDENCE_KINDS),
                        },
                        "description": {"type": "string", "maxLength": 2000},
                        "occurred_at": {
                            "type": "string",
                            "format": "date-time",
                            "description": "When the file was made or received, with a UTC "
                            "offset (left out: when it is attached)",
                        },
                    },
                }
            }
        },
    },
}


@router.post(
    "/cases/{case_id}/evidence",
    status_code=201,
    response_model=EvidenceCreated,
    responses={
        # Location: the case's, which the evidence is part of (see the route below for the file)
        201: {"description": "The evidence attached", "headers": answer_headers(created=True)},
        **problem_responses(401, 403, 404, 409, 412, 413, 415, 422, 503),
    },
    openapi_extra=UPLOAD_BODY,
    summary=DECLARED["attach_evidence"].summary,
)
async def upload_evidence(
    case_id: UUID,
    request: Request,
    reclaim: Reclaim,
    commands: Commands,
    caller: Caller,
) -> Response:
    case = await run_in_threadpool(reclaim.get_case, case_id)
    check_write(caller, case)
    upload = await read_upload(request, reclaim.files_of(case), reclaim.settings.max_upload_bytes)
    evidence_id = "ev_" + secrets.token_hex(8)
    payload = {
        "case": str(case_id),
        "sha256": upload.blob.sha256,
        "media_type": upload.blob.media_type,
        "filename": upload.filename,
        **upload.fields,
    }

    def answer(changed: Case) -> Reply:
        item = next(e for e in changed.evidence if e["id"] == evidence_id)
        created = EvidenceCreated(
            **{
                k: item[k]
                for k in ("id", "sha256", "size", "media_type", "kind", "filename", "description")
            },
            case_version=changed.version,
        )
        return json_reply(request, changed, 201, created)

    call = call_for(request, caller, payload, answer=answer)

    def attach() -> Done:
        with counted(request, "attach_evidence"):
            return commands.attach_evidence(
                case_id,
                call,
                evidence_id=evidence_id,
                kind=upload.fields.get("kind"),  # type: ignore[arg-type]
                sha256=upload.blob.sha256,
                size=upload.blob.size,
                media_type=upload.blob.media_type,
                filename=upload.filename,
                description=upload.fields.get("description"),
                occurred_at=occurred_at_field(upload.fields.get("occurred_at")),
            )

    # the file is stored: the command itself runs on the writer, as every case command
    return respond(await request.app.state.node.run(attach, key=case_id))


#: a file's entity tag: its SHA-256
FILE_ETAG: dict[str, Any] = {
    "description": "The file's SHA-256 as an entity tag",
    "required": True,
    "schema": {"type": "string", "pattern": '^"[0-9a-f]{64}"$'},
}


@router.get(
    "/cases/{case_id}/evidence/{evidence_id}",
    responses={
        200: {
            "description": "The file as uploaded",
            "content": file_content(*ALLOWED_MEDIA_TYPES),
            "headers": {"ETag": FILE_ETAG, "Content-Disposition": CONTENT_DISPOSITION},
        },
        304: {
            "description": "Not modified: If-None-Match named the file's ETag",
            "headers": {"ETag": FILE_ETAG},
        },
        **problem_responses(401, 404, 422, 503),
    },
    response_class=Response,
    summary="Download an evidence file",
)
def download_evidence(
    case_id: UUID,
    evidence_id: str,
    reclaim: Reclaim,
    caller: Caller,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    case = reclaim.get_case(case_id)
    check_read(caller, case)
    item = next((e for e in case.evidence if e["id"] == evidence_id), None)
    blob = None if item is None else reclaim.files_of(case).find(item["sha256"])
    if item is None or blob is None:
        raise ProblemError(
            404, "Not found", f"no evidence {evidence_id} on this case", code="evidence-not-found"
        )
    etag = f'"{item["sha256"]}"'
    if if_none_match == etag:
        return Response(status_code=304, headers={"ETag": etag})
    download_name = clean_filename(item["filename"]) or f"{evidence_id}"
    # from the store a chunk at a time: the file is never in memory whole
    return StreamingResponse(
        blob.iter_bytes(),
        media_type=item["media_type"],
        headers={
            "Content-Length": str(blob.size),
            "ETag": etag,
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(download_name, safe='')}",
        },
    )
