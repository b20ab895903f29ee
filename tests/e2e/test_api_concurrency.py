"""Racing commands, If-Match, idempotent retries, request ids."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.support.api_data import COMMANDS, credit_body, upload

#: headers a replayed answer does not repeat: each request's own, and the log position
#: (the replay wrote nothing)
VARYING = {"date", "server", "x-request-id", "reclaim-position", "idempotent-replayed"}

N = 12


def note_texts(settings, cid: str) -> list[str]:
    from uuid import UUID

    from infrastructure.store.application import ReclaimApplication

    app = ReclaimApplication(settings)
    try:
        return [e.text for e in app.case_events(UUID(cid)) if type(e).__name__ == "NoteAdded"]
    finally:
        app.close()


def _open(api) -> str:
    return api["owner"].post("/v1/credits", json=credit_body()).json()["id"]


def test_same_if_match_exactly_one_wins(api) -> None:
    cid = _open(api)
    client = api["owner"]

    def note(n: int):
        return client.post(
            f"/v1/cases/{cid}/notes", json={"text": f"n{n}"}, headers={"If-Match": '"1"'}
        )

    with ThreadPoolExecutor(N) as pool:
        codes = sorted(r.status_code for r in pool.map(note, range(N)))
    assert codes == [200] + [412] * (N - 1)
    case = client.get(f"/v1/cases/{cid}").json()
    assert case["version"] == 2 and case["notes_count"] == 1


def test_without_if_match_none_lost_none_doubled(api, settings) -> None:
    cid = _open(api)
    client = api["owner"]

    def note(n: int):
        return client.post(f"/v1/cases/{cid}/notes", json={"text": f"n{n}"})

    with ThreadPoolExecutor(N) as pool:
        codes = [r.status_code for r in pool.map(note, range(N))]
    assert codes == [200] * N
    case = client.get(f"/v1/cases/{cid}").json()
    assert case["version"] == N + 1
    assert case["notes_count"] == N
    assert sorted(note_texts(settings, cid)) == sorted(f"n{n}" for n in range(N))


def test_if_match_mismatch_and_malformed(api) -> None:
    cid = _open(api)
    client = api["owner"]
    stale = client.post(f"/v1/cases/{cid}/notes", json={"text": "x"}, headers={"If-Match": '"7"'})
    assert stale.status_code == 412 and stale.headers["ETag"] == '"1"'
    assert (
        client.post(
            f"/v1/cases/{cid}/notes", json={"text": "x"}, headers={"If-Match": "garbage"}
        ).status_code
        == 412
    )
    ok = client.post(f"/v1/cases/{cid}/notes", json={"text": "x"}, headers={"If-Match": 'W/"1"'})
    assert ok.status_code == 200 and ok.headers["ETag"] == '"2"'


def test_idempotent_retries_record_once(api) -> None:
    client = api["owner"]
    key = {"Idempotency-Key": "open-1"}
    first = client.post("/v1/credits", json=credit_body(), headers=key)
    again = client.post("/v1/credits", json=credit_body(), headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    cid = first.json()["id"]

    path, body = COMMANDS["submit"]
    key = {"Idempotency-Key": "submit-1"}
    submitted = client.post(f"/v1/cases/{cid}/{path}", json=body, headers=key)
    retried = client.post(f"/v1/cases/{cid}/{path}", json=body, headers=key)
    assert submitted.status_code == retried.status_code == 200
    assert retried.json() == submitted.json()
    # the same headers as the live answer (a 200 names no Location), and the replay mark
    live = {k: v for k, v in submitted.headers.items() if k not in VARYING}
    again_headers = {k: v for k, v in retried.headers.items() if k not in VARYING}
    assert again_headers == live and retried.headers["Idempotent-Replayed"] == "true"
    assert "location" not in retried.headers
    assert client.get(f"/v1/cases/{cid}").json()["version"] == 2

    different = client.post(f"/v1/cases/{cid}/notes", json={"text": "other"}, headers=key)
    assert different.status_code == 422
    assert different.json()["type"].endswith("idempotency-key-reused")
    # another caller's identical key is another key
    other = api["other_member"].post(
        "/v1/credits", json=credit_body(), headers={"Idempotency-Key": "open-1"}
    )
    assert other.status_code == 201 and other.json()["id"] != cid

    ev_key = {"Idempotency-Key": "ev-1"}
    one = upload(client, cid, headers=ev_key)
    two = upload(client, cid, headers=ev_key)
    assert one.status_code == two.status_code == 201 and one.json() == two.json()
    assert client.get(f"/v1/cases/{cid}").json()["version"] == 3


def test_racing_retries_with_one_key_record_once(api) -> None:
    cid = _open(api)
    client = api["owner"]

    def note(_: int):
        return client.post(
            f"/v1/cases/{cid}/notes", json={"text": "once"}, headers={"Idempotency-Key": "race"}
        )

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(note, range(8)))
    assert {r.status_code for r in responses} == {200}
    assert len({r.text for r in responses}) == 1
    assert client.get(f"/v1/cases/{cid}").json()["version"] == 2


def test_request_id_is_echoed_and_stored(api) -> None:
    client = api["owner"]
    given = client.post("/v1/credits", json=credit_body(), headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    generated = client.get("/healthz").headers["X-Request-ID"]
    assert len(generated) == 32
    replaced = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert replaced.headers["X-Request-ID"] != "bad id with spaces"
