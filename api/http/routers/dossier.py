"""The case dossier: a ZIP with the PDF case report and the evidence files."""

from __future__ import annotations

from functools import partial
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import Response

from api.http.deps import Caller, Reclaim, check_read
from api.http.downloads import zip_download
from api.http.middleware import StrictJSONRoute
from api.http.openapi import CONTENT_DISPOSITION, file_content
from api.http.presenters import present_case
from api.http.problems import problem_responses
from api.render.archive import MEDIA_TYPE
from api.render.dossier import dossier_filename, write_dossier
from domain.cases import Case
from infrastructure.read.report_sources import load_dossier_input, owner_scope
from infrastructure.store.application import ReclaimApplication
from infrastructure.store.keys import Principal

router = APIRouter(prefix="/v1", tags=["cases"], route_class=StrictJSONRoute)


@router.get(
    "/cases/{case_id}/dossier",
    response_class=Response,
    responses={
        200: {
            "description": "A ZIP: case-report.pdf, evidence/<sha256>-<name> files, manifest.json",
            "content": file_content(MEDIA_TYPE),
            "headers": {"Content-Disposition": CONTENT_DISPOSITION},
        },
        **problem_responses(401, 404, 422, 503),
    },
    summary="The case dossier to hand to a supervisor, an agency or a card issuer",
)
def get_dossier(case_id: UUID, reclaim: Reclaim, caller: Caller) -> Response:
    case = reclaim.get_case(case_id)
    check_read(caller, case)
    return dossier_response(reclaim, case, caller)


def dossier_response(reclaim: ReclaimApplication, case: Case, reader: Principal) -> Response:
    """The dossier of a case ``reader`` may read, as a download (the API's and the case
    book's)."""
    facts = present_case(case, reclaim.settings).model_dump(mode="json")
    data = load_dossier_input(reclaim, case, facts, owner_scope(reader))
    return zip_download(
        partial(write_dossier, data), dossier_filename(case.id), reclaim.blobs.tmp_dir
    )
