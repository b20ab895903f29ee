"""The caller's own data: everything Reclaim holds about them, as a ZIP (GDPR Art. 15 and
20). Always the caller's: there is no parameter that names anyone else."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter
from fastapi.responses import Response

from api.http.deps import Caller, Reclaim
from api.http.downloads import zip_download
from api.http.middleware import StrictJSONRoute
from api.http.openapi import file_content
from api.http.presenters import present_case
from api.http.problems import problem_responses
from api.http.routers.reads import present_timeline
from api.render.archive import MEDIA_TYPE
from api.render.my_data import my_data_filename, write_my_data
from infrastructure.read.my_data import load_my_data
from infrastructure.store.application import ReclaimApplication
from infrastructure.store.keys import Principal

router = APIRouter(prefix="/v1", tags=["me"], route_class=StrictJSONRoute)


@router.get(
    "/me/export",
    response_class=Response,
    responses={
        200: {
            "description": "A ZIP: manifest.json (who, when, every other file's path, size "
            "and SHA-256), account.json (the caller's API keys and calendar tokens as metadata, "
            "never a key or a hash, and their browser sessions), and for each case the caller "
            "owns in their workspace cases/<id>/case.json, cases/<id>/timeline.json and "
            "cases/<id>/evidence/<evidence id>-<name> files. An admin's or auditor's export "
            "holds only the cases they own themselves",
            "content": file_content(MEDIA_TYPE),
        },
        **problem_responses(401, 503),
    },
    summary="Everything Reclaim holds about the caller, as a ZIP with a manifest of SHA-256",
)
def export_my_data(reclaim: Reclaim, caller: Caller) -> Response:
    return my_data_response(reclaim, caller)


def my_data_response(reclaim: ReclaimApplication, principal: Principal) -> Response:
    """``principal``'s own data as a download (the API's and the case book's)."""
    data = load_my_data(
        reclaim,
        principal,
        present_case=lambda case: present_case(case, reclaim.settings).model_dump(mode="json"),
        present_timeline=lambda case_id, rows: present_timeline(case_id, rows).model_dump(
            mode="json"
        ),
    )
    return zip_download(
        partial(write_my_data, data),
        my_data_filename(principal.user_id, principal.workspace),
        reclaim.blobs.tmp_dir,
    )
