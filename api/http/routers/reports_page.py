"""The reports page for a browser: part of the case book's site, behind its one sign-in.

Signing in here or on ``/app/sign-in`` opens the same server-side session
(``api/http/routers/casebook_session.py``): a random id in an HttpOnly, SameSite=Strict
cookie for the whole site, never the key and never in a URL, and never accepted by the
JSON API. Each request checks the session and its key again, so signing out or revoking
the key ends it at once, and the page shows what the key may read, like the API.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from api.http.deps import Reclaim
from api.http.openapi import text_content
from api.http.routers.casebook_session import (
    clear_session_cookie,
    csrf_ok,
    current_session,
    same_origin,
    sign_in_with_key,
    sign_out_session,
)
from api.render.pages import CSP, render_refused_page, render_reports_page, render_sign_in_page
from infrastructure.read.report_sources import load_report_data, owner_scope
from infrastructure.store.sessions import COOKIE_NAME

router = APIRouter(tags=["reports page"])

PAGE_PATH = "/reports"
HTML = {200: {"content": text_content("text/html"), "description": "An HTML page"}}
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    # the page's own policy (its meta tag), and a header can forbid framing as well
    "Content-Security-Policy": f"{CSP}; frame-ancestors 'none'",
    # not no-referrer: with it, browsers send "Origin: null" on the page's own forms
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


def _page(html: str, status: int = 200) -> HTMLResponse:
    headers = dict(PAGE_HEADERS)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="reclaim"'
    return HTMLResponse(html, status_code=status, headers=headers)


@router.get(PAGE_PATH, response_class=HTMLResponse, responses=HTML, summary="The reports page")
def reports_page(request: Request, reclaim: Reclaim) -> Response:
    session = current_session(request, reclaim)
    if session is None:
        ended = COOKIE_NAME in request.cookies
        response = _page(render_sign_in_page("Your session has ended." if ended else None))
        if ended:
            clear_session_cookie(response)
        return response
    principal = session.principal
    data = load_report_data(reclaim, principal.workspace, owner_scope(principal))
    who = f"{principal.user_id} ({principal.role} in {principal.workspace})"
    return _page(render_reports_page(data, signed_in_as=who, csrf_token=session.csrf_token))


@router.post(
    f"{PAGE_PATH}/sign-in",
    response_class=HTMLResponse,
    responses={303: {"description": "Signed in: to the reports page"}, **HTML},
    summary="Sign in to the reports page (and the whole case book) with an API key",
)
def sign_in(
    request: Request, reclaim: Reclaim, api_key: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    if not same_origin(request):
        return _page(render_sign_in_page("Sign in from this site's own form."), 403)
    response = sign_in_with_key(request, reclaim, api_key, PAGE_PATH)
    if response is None:
        return _page(render_sign_in_page("That key is unknown or revoked."), 401)
    return response


@router.post(
    f"{PAGE_PATH}/sign-out",
    response_class=HTMLResponse,
    responses={303: {"description": "Signed out: to the sign-in form"}, **HTML},
    summary="Sign out: the session ends on the server",
)
def sign_out(
    request: Request, reclaim: Reclaim, csrf_token: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    session = current_session(request, reclaim)
    if session is not None and not csrf_ok(request, session, csrf_token):
        return _page(render_refused_page("Sign out from this site's own pages."), 403)
    return sign_out_session(request, reclaim, PAGE_PATH)
