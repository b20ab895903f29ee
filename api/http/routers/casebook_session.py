"""One sign-in for the whole site (the case book under ``/app`` and the reports page).

Signing in with an API key opens a server-side session (``infrastructure/store/sessions.py``);
the browser keeps only its random id, in an HttpOnly, SameSite=Strict cookie for path
``/``. The JSON API never reads that cookie: ``/v1`` takes only ``Authorization``
headers (``api/http/deps.py``), so a session can drive the pages and nothing else.

Every form that changes something carries the session's CSRF token, and every post must
come from this site's own pages (Origin or Referer naming this host), sign-in and
sign-out included.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from api.http.deps import Reclaim
from api.http.routers.casebook_pages import forbidden_page, form_str, render
from infrastructure.store.application import ReclaimApplication
from infrastructure.store.sessions import COOKIE_NAME, Session

router = APIRouter(tags=["case book"], include_in_schema=False)

HOME = "/app/cases"
SIGN_IN = "/app/sign-in"
SIGN_OUT = "/app/sign-out"
COOKIE_PATH = "/"


def current_session(request: Request, reclaim: ReclaimApplication) -> Session | None:
    """The signed-in session, checked against the key store on every request."""
    return reclaim.sessions.find(request.cookies.get(COOKIE_NAME))


def same_origin(request: Request) -> bool:
    """A form posted from another site is refused (SameSite covers the cookie, not sign-in)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host")


def csrf_ok(request: Request, session: Session, token: str | None) -> bool:
    return same_origin(request) and session.csrf_ok(token)


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303, headers={"Cache-Control": "no-store"})


async def posted_form(
    request: Request, reclaim: ReclaimApplication, max_fields: int
) -> tuple[Session, FormData] | Response:
    """A page's post, checked: its session and form; or the answer instead (to sign-in
    when there is no session, a 403 page when the form's CSRF token or origin is wrong)."""
    session = current_session(request, reclaim)
    if session is None:
        return redirect(SIGN_IN)
    form = await request.form(max_files=0, max_fields=max_fields)
    if not csrf_ok(request, session, form_str(form.get("csrf_token"))):
        return forbidden_page(request, session)
    return session, form


def set_session_cookie(request: Request, response: Response, session_id: str, max_age: int) -> None:
    response.set_cookie(
        COOKIE_NAME,
        session_id,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE_NAME, path=COOKIE_PATH, httponly=True, samesite="strict")


def sign_in_with_key(
    request: Request, reclaim: ReclaimApplication, api_key: str, to: str
) -> Response | None:
    """A redirect to ``to`` with a new session's cookie, or None when the key is not good."""
    principal = reclaim.keys.authenticate(api_key.strip())
    if principal is None:
        return None
    store = reclaim.sessions
    store.end(request.cookies.get(COOKIE_NAME))  # signing in again replaces, never adds
    started = store.start(principal)
    response = redirect(to)
    set_session_cookie(request, response, started.session_id, store.max_age)
    return response


def sign_out_session(request: Request, reclaim: ReclaimApplication, to: str) -> Response:
    reclaim.sessions.end(request.cookies.get(COOKIE_NAME))
    response = redirect(to)
    clear_session_cookie(response)
    return response


# --- the case book's own sign-in and sign-out ---------------------------------------------
def _sign_in_page(request: Request, error: str | None = None, status: int = 200) -> Response:
    return render(
        request, "sign_in.html", {"title": "Sign in", "error": error, "session": None}, status
    )


@router.get("/", summary="A browser's way in: the case book")
def root(request: Request, reclaim: Reclaim) -> Response:
    return redirect(HOME if current_session(request, reclaim) else SIGN_IN)


@router.get(SIGN_IN, response_class=HTMLResponse, summary="The sign-in form")
def sign_in_form(request: Request, reclaim: Reclaim) -> Response:
    if current_session(request, reclaim) is not None:
        return redirect(HOME)
    ended = COOKIE_NAME in request.cookies
    response = _sign_in_page(request, "Your session has ended. Sign in again." if ended else None)
    if ended:
        clear_session_cookie(response)
    return response


@router.post(SIGN_IN, response_class=HTMLResponse, summary="Sign in with an API key")
def sign_in(
    request: Request, reclaim: Reclaim, api_key: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    if not same_origin(request):
        return _sign_in_page(request, "Sign in from this site's own form.", 403)
    response = sign_in_with_key(request, reclaim, api_key, HOME)
    if response is None:
        return _sign_in_page(request, "That key is unknown or revoked.", 401)
    return response


@router.post(SIGN_OUT, summary="Sign out: the session ends on the server")
def sign_out(
    request: Request, reclaim: Reclaim, csrf_token: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    session = current_session(request, reclaim)
    if session is None:
        response = redirect(SIGN_IN)
        clear_session_cookie(response)
        return response
    if not csrf_ok(request, session, csrf_token):
        return forbidden_page(request, session)
    return sign_out_session(request, reclaim, SIGN_IN)
