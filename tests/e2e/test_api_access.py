"""The access matrix: every route, for everyone who might call it."""

from __future__ import annotations

import pytest

from tests.support.api_data import COMMANDS, credit_body, upload
from tests.support.live import Client

READERS = {"owner", "auditor", "admin"}  # alice owns the case; carol audits; dana administers
HIDDEN = {"other_member", "foreign_member", "foreign_auditor"}  # 404, as if there were no case
UNAUTHENTICATED = {"anonymous", "revoked"}  # 401
EVERYONE = sorted(READERS | HIDDEN | UNAUTHENTICATED)


def _expected_read(who: str) -> int:
    if who in UNAUTHENTICATED:
        return 401
    return 200 if who in READERS else 404


def _expected_write(who: str) -> int:
    if who in UNAUTHENTICATED:
        return 401
    if who in HIDDEN:
        return 404
    return 200 if who == "owner" else 403  # auditors write nothing; admins not others' cases


@pytest.fixture
def case(api):
    alice = api["owner"]
    cid = alice.post("/v1/credits", json=credit_body()).json()["id"]
    evidence = upload(alice, cid).json()
    return cid, evidence["id"]


def test_reads(api, case) -> None:
    cid, evidence_id = case
    for who in EVERYONE:
        client = api[who]
        for path in (
            f"/v1/cases/{cid}",
            f"/v1/cases/{cid}?version=1",
            f"/v1/cases/{cid}/evidence/{evidence_id}",
        ):
            response = client.get(path)
            assert response.status_code == _expected_read(who), (who, path, response.text)
            if response.status_code >= 400:
                assert response.headers["content-type"] == "application/problem+json"
                assert "alice" not in response.text  # nothing about the case leaks


def test_commands(api, case) -> None:
    cid, _ = case
    version = 2
    for who in EVERYONE:
        for action in ("add_note", "submit"):
            path, body = COMMANDS[action]
            response = api[who].post(f"/v1/cases/{cid}/{path}", json=body)
            expected = _expected_write(who)
            if action == "submit" and expected == 200 and version > 3:
                expected = 409  # already submitted by the owner
            assert response.status_code == expected, (who, action, response.text)
            if response.status_code == 200:
                version += 1
        response = upload(api[who], cid)
        assert response.status_code == (201 if who == "owner" else _expected_write(who)), who
        if response.status_code == 201:
            version += 1
    assert api["owner"].get(f"/v1/cases/{cid}").json()["version"] == version


def test_opening_needs_a_writer(api) -> None:
    assert api["auditor"].post("/v1/credits", json=credit_body()).status_code == 403
    assert api["foreign_auditor"].post("/v1/credits", json=credit_body()).status_code == 403
    assert api["anonymous"].post("/v1/credits", json=credit_body()).status_code == 401
    unauthorized = api["revoked"].post("/v1/credits", json=credit_body())
    assert unauthorized.status_code == 401
    assert unauthorized.headers["WWW-Authenticate"] == "Bearer"
    opened = api["foreign_member"].post("/v1/credits", json=credit_body())
    assert opened.status_code == 201
    assert opened.json()["workspace"] == "agency" and opened.json()["owner"] == "erin"


def test_actor_comes_from_the_key_not_the_body(api) -> None:
    body = {**credit_body(), "owner": "mallory"}
    assert api["owner"].post("/v1/credits", json=body).status_code == 422
    cid = api["owner"].post("/v1/credits", json=credit_body()).json()["id"]
    sneaky = api["owner"].post(f"/v1/cases/{cid}/notes", json={"text": "x", "actor": "mallory"})
    assert sneaky.status_code == 422


def test_garbage_keys(api) -> None:
    from tests.support.live import Client

    for key in ("x", "rk_" + "A" * 43, "Bearer", "a" * 5000):
        with Client(api.base_url, key) as client:
            assert client.get("/v1/cases/00000000-0000-0000-0000-000000000000").status_code == 401


def test_a_key_revoked_elsewhere_stops_working_within_the_stated_bound(api, settings) -> None:
    """Verified keys are remembered for ``key_cache_seconds`` (no lookup per request): a
    key revoked by another node or the command line is refused within that bound."""
    import time

    from infrastructure.store.application import ReclaimApplication

    elsewhere = ReclaimApplication(settings)
    try:
        key, info = elsewhere.keys.create("hal", "home", "member")
        client = Client(api.base_url, key)
        try:
            assert client.get("/v1/cases").status_code == 200  # now remembered
            elsewhere.keys.revoke(info.key_id)
            revoked_at = time.monotonic()
            while client.get("/v1/cases").status_code == 200:
                assert time.monotonic() - revoked_at < settings.key_cache_seconds + 1.0
                time.sleep(0.05)
            assert client.get("/v1/cases").status_code == 401
        finally:
            client.close()
    finally:
        elsewhere.close()
