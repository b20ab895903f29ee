"""The reports page for a browser: sign in with an API key, see the charts, sign out.

The key is kept in a signed, HttpOnly, SameSite=Strict cookie scoped to ``/reports``
(so it never authorises the JSON API), never in a URL. Each request checks the key
against the key store again, so a revoked key ends the session at once, and the
page shows what the key may read, like the API.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import Reclaim
from api.pages import render_reports_page, render_sign_in_page
from infrastructure.application import ReclaimApplication
from infrastructure.keys import Principal
from infrastructure.projections.audit import signing_key
from infrastructure.report_sources import load_report_data, owner_scope
from infrastructure.sessions import COOKIE_NAME, SessionCookie, derive_secret

router = APIRouter(tags=["reports page"])

PAGE_PATH = "/reports"
HTML = {200: {"content": {"text/html": {}}, "description": "An HTML page"}}
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    # not no-referrer: with it, browsers send "Origin: null" on the page's own forms
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


def _sessions(request: Request, reclaim: ReclaimApplication) -> SessionCookie:
    sessions = getattr(request.app.state, "report_sessions", None)
    if sessions is None:
        settings = reclaim.settings
        secret = settings.session_secret or derive_secret(signing_key(settings))
        sessions = request.app.state.report_sessions = SessionCookie(secret)
    return sessions


def _page(html: str, status: int = 200) -> HTMLResponse:
    headers = dict(PAGE_HEADERS)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="reclaim"'
    return HTMLResponse(html, status_code=status, headers=headers)


def _to_page() -> RedirectResponse:
    return RedirectResponse(PAGE_PATH, status_code=303, headers={"Cache-Control": "no-store"})


def _same_origin(request: Request) -> bool:
    """A form posted from another site is refused (SameSite covers the cookie, not sign-in)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host")


def _signed_in(request: Request, reclaim: ReclaimApplication) -> Principal | None:
    key = _sessions(request, reclaim).unseal(request.cookies.get(COOKIE_NAME))
    return reclaim.keys.authenticate(key) if key else None


@router.get(PAGE_PATH, response_class=HTMLResponse, responses=HTML, summary="The reports page")
def reports_page(request: Request, reclaim: Reclaim) -> Response:
    principal = _signed_in(request, reclaim)
    if principal is None:
        ended = COOKIE_NAME in request.cookies
        response = _page(render_sign_in_page("Your session has ended." if ended else None))
        if ended:
            response.delete_cookie(COOKIE_NAME, path=PAGE_PATH)
        return response
    data = load_report_data(reclaim, principal.workspace, owner_scope(principal))
    who = f"{principal.user_id} ({principal.role} in {principal.workspace})"
    return _page(render_reports_page(data, signed_in_as=who))


@router.post(
    f"{PAGE_PATH}/sign-in",
    response_class=HTMLResponse,
    responses={303: {"description": "Signed in: to the reports page"}, **HTML},
    summary="Sign in to the reports page with an API key",
)
def sign_in(
    request: Request, reclaim: Reclaim, api_key: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    if not _same_origin(request):
        return _page(render_sign_in_page("Sign in from this site's own form."), 403)
    if reclaim.keys.authenticate(api_key.strip()) is None:
        return _page(render_sign_in_page("That key is unknown or revoked."), 401)
    response = _to_page()
    response.set_cookie(
        COOKIE_NAME,
        _sessions(request, reclaim).seal(api_key.strip()),
        max_age=_sessions(request, reclaim).max_age,
        path=PAGE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post(
    f"{PAGE_PATH}/sign-out",
    responses={303: {"description": "Signed out: to the sign-in form"}},
    summary="Sign out of the reports page",
)
def sign_out() -> Response:
    response = _to_page()
    response.delete_cookie(COOKIE_NAME, path=PAGE_PATH, httponly=True, samesite="strict")
    return response
