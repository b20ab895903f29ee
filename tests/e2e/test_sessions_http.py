"""Browser sessions over HTTP: one sign-in for the pages, ended by sign-out and key
revocation, never accepted by the JSON API. On both stores."""

from __future__ import annotations

import re

import httpx

from infrastructure.store.sessions import SessionStore
from tests.support.api_data import credit_body


# --- over HTTP: one sign-in for the pages, never for /v1 -----------------------------------
def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _signed_in(base_url: str, key: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, follow_redirects=False, timeout=30)
    response = client.post("/app/sign-in", data={"api_key": key})
    assert response.status_code == 303 and response.headers["location"] == "/app/cases"
    return client


def test_the_cookie_holds_a_random_id_for_the_whole_site(api) -> None:
    response = api["anonymous"].post(
        "/app/sign-in", data={"api_key": api.keys["owner"]}, follow_redirects=False
    )
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/;" in cookie
    value = re.match(r"reclaim_session=([^;]+);", cookie).group(1)
    assert api.keys["owner"] not in cookie and len(value) >= 40
    again = api["anonymous"].post(
        "/reports/sign-in", data={"api_key": api.keys["owner"]}, follow_redirects=False
    )
    assert again.headers["location"] == "/reports"
    assert re.match(r"reclaim_session=([^;]+);", again.headers["set-cookie"]).group(1) != value


def test_signing_in_again_in_the_same_browser_ends_the_first_session(api, settings) -> None:
    from infrastructure.store.application import ReclaimApplication

    client = _signed_in(api.base_url, api.keys["owner"])
    try:
        first = client.cookies["reclaim_session"]
        client.post("/app/sign-in", data={"api_key": api.keys["owner"]})
        assert client.cookies["reclaim_session"] != first
        assert client.get("/app/cases").status_code == 200
        setup = ReclaimApplication(settings)
        try:
            assert SessionStore(setup.database).count() == 1
        finally:
            setup.close()
    finally:
        client.close()


def test_a_session_never_authorises_the_json_api(api) -> None:
    client = _signed_in(api.base_url, api.keys["owner"])
    try:
        assert client.get("/app/cases").status_code == 200
        assert client.get("/reports").status_code == 200
        listed = client.get("/v1/cases")
        assert listed.status_code == 401
        assert listed.headers["content-type"].startswith("application/problem+json")
        assert client.post("/v1/credits", json=credit_body()).status_code == 401
        assert client.get("/v1/workflow").status_code == 401
        # and the API's own answer with a key is unchanged
        assert api["owner"].get("/v1/cases").status_code == 200
    finally:
        client.close()


def test_sign_out_needs_the_forms_token_and_this_site(api) -> None:
    client = _signed_in(api.base_url, api.keys["owner"])
    try:
        token = _csrf(client.get("/app/cases").text)
        for path in ("/app/sign-out", "/reports/sign-out"):
            assert client.post(path).status_code == 403  # no token
            assert client.post(path, data={"csrf_token": "forged"}).status_code == 403
            cross_site = client.post(
                path, data={"csrf_token": token}, headers={"Origin": "https://evil.example"}
            )
            assert cross_site.status_code == 403
            assert "set-cookie" not in cross_site.headers
        assert client.get("/app/cases").status_code == 200  # still signed in
        cookie = client.cookies["reclaim_session"]
        out = client.post("/app/sign-out", data={"csrf_token": token})
        assert out.status_code == 303 and out.headers["location"] == "/app/sign-in"
        assert 'reclaim_session=""' in out.headers["set-cookie"]
        # the old cookie, copied before signing out, is worth nothing now
        replay = httpx.Client(base_url=api.base_url, follow_redirects=False, timeout=30)
        replay.cookies.set("reclaim_session", cookie)
        assert replay.get("/app/cases").headers["location"] == "/app/sign-in"
        assert "Sign in" in replay.get("/reports").text
        replay.close()
    finally:
        client.close()


def test_the_reports_page_signs_out_the_same_session(api) -> None:
    client = _signed_in(api.base_url, api.keys["owner"])
    try:
        token = _csrf(client.get("/reports").text)
        out = client.post("/reports/sign-out", data={"csrf_token": token})
        assert out.status_code == 303 and out.headers["location"] == "/reports"
        assert client.get("/app/cases").status_code == 303  # signed out of the case book too
    finally:
        client.close()


def test_revoking_the_key_ends_the_browser_session(api, settings) -> None:
    from infrastructure.store.application import ReclaimApplication

    client = _signed_in(api.base_url, api.keys["owner"])
    try:
        assert client.get("/app/cases").status_code == 200
        setup = ReclaimApplication(settings)
        try:
            key_id = next(k.key_id for k in setup.keys.list() if k.user_id == "alice")
            setup.keys.revoke(key_id)
            ended = client.get("/app/cases")
            assert ended.status_code == 303 and ended.headers["location"] == "/app/sign-in"
            assert SessionStore(setup.database).count(key_id) == 0
        finally:
            setup.close()
        assert "Your session has ended" in client.get("/app/sign-in").text
    finally:
        client.close()


def test_reclaim_keys_revoke_deletes_the_keys_sessions_at_once(api, settings) -> None:
    """The command line's revoke ends the key's sessions on the server (no row waits for
    the next request to be swept), and leaves other keys' sessions alone."""
    import subprocess

    from infrastructure.store.application import ReclaimApplication
    from tests.support.processes import RECLAIM
    from tests.support.projection_support import cli_env

    alice = _signed_in(api.base_url, api.keys["owner"])
    other = _signed_in(api.base_url, api.keys["other_member"])
    setup = ReclaimApplication(settings)
    try:
        keys = {k.user_id: k.key_id for k in setup.keys.list() if k.revoked_at is None}
        assert setup.sessions.count(keys["alice"]) == 1
        done = subprocess.run(
            [RECLAIM, "keys", "revoke", keys["alice"]],
            env=cli_env(settings),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert setup.sessions.count(keys["alice"]) == 0
        assert setup.sessions.count() == 1
        assert other.get("/app/cases").status_code == 200
    finally:
        setup.close()
        alice.close()
        other.close()


def test_a_revoked_or_unknown_key_cannot_sign_in(api) -> None:
    for key in (api.keys["revoked"], "rk_not-a-key", ""):
        response = api["anonymous"].post(
            "/app/sign-in", data={"api_key": key}, follow_redirects=False
        )
        assert response.status_code == 401
        assert "set-cookie" not in response.headers
        assert "That key is unknown or revoked." in response.text
