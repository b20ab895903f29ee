"""Bad input: answered clearly, as a problem, and nothing recorded."""

from __future__ import annotations

import pytest

from infrastructure.store.application import ReclaimApplication
from tests.support.api_checks import assert_problem, stored_events
from tests.support.api_data import COMMANDS, PNG, credit_body, dispute_body, upload, when


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (credit_body(amount="-5.00"), "amount"),
        (credit_body(amount="abc"), "amount"),
        (credit_body(amount=25), "amount"),
        (credit_body(amount="0"), "amount"),
        (credit_body(currency="XYZ"), "currency"),
        (credit_body(currency="usd"), "currency"),
        (credit_body(problem="lost"), "problem"),
        (credit_body(credit_type=7), "credit_type"),
        (credit_body(occurred_at="2999-01-01T00:00:00+00:00"), "occurred_at"),
        (credit_body(earned_on="yesterday"), "earned_on"),
        (credit_body(platform="../etc"), "platform"),
        (credit_body(restrictions={"minimum_purchase": "-1"}), "restrictions.minimum_purchase"),
        ({**credit_body(), "surprise": 1}, "surprise"),
        ({}, "platform"),
    ],
)
def test_bad_credit_bodies(api, body, field) -> None:
    response = api["owner"].post("/v1/credits", json=body)
    problem = assert_problem(response, 422)
    fields = [e["field"] for e in problem.get("errors", [])]
    assert any(f == field or f.startswith(field) for f in fields), problem


def test_future_occurred_at_is_refused(api) -> None:
    # within 1970-2200 (beyond it every time is refused as out of range), but in the future
    response = api["owner"].post(
        "/v1/credits", json=credit_body(occurred_at="2199-01-01T00:00:00+00:00")
    )
    assert response.json()["type"].endswith("occurred-in-future")


def test_refund_above_charge(api) -> None:
    response = api["owner"].post("/v1/disputes", json=dispute_body(refund_amount="500.00"))
    problem = assert_problem(response, 422)
    assert problem["type"].endswith("refund-exceeds-charge")
    assert "500.00" in problem["detail"]


def test_malformed_json_and_wrong_types(api, settings) -> None:
    client = api["owner"]
    cid = client.post("/v1/credits", json=credit_body()).json()["id"]
    for raw in (b"{", b"[]", b"null", b'{"channel": "email", "occurred_at": 5}', b"\xff\xfe"):
        response = client.post(
            f"/v1/cases/{cid}/submit", content=raw, headers={"content-type": "application/json"}
        )
        assert_problem(response, 422)
    assert_problem(
        client.post(f"/v1/cases/{cid}/escalate", json={**COMMANDS["escalate"][1], "level": "ceo"}),
        422,
        "level",
    )
    submitted = client.post(f"/v1/cases/{cid}/submit", json=COMMANDS["submit"][1]).json()
    assert submitted["version"] == 2
    too_early = client.post(
        f"/v1/cases/{cid}/follow-up",
        json={"channel": "email", "occurred_at": "2020-01-01T00:00:00+00:00"},
    )
    assert assert_problem(too_early, 422)["type"].endswith("occurred-before-case")
    too_much = client.post(
        f"/v1/cases/{cid}/resolve",
        json={
            "outcome": "partial",
            "recovered_amount": "30.00",
            "recovered_form": "refund",
            "occurred_at": when(25),
        },
    )
    assert assert_problem(too_much, 422)["type"].endswith("partial-not-less")
    no_amount = client.post(
        f"/v1/cases/{cid}/resolve", json={"outcome": "granted", "occurred_at": when(25)}
    )
    assert assert_problem(no_amount, 422)["type"].endswith("recovery-required")
    assert len(stored_events(settings, cid)) == 2


def test_huge_json_body(api) -> None:
    client = api["owner"]
    huge = b'{"text": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    response = client.post(
        "/v1/credits", content=huge, headers={"content-type": "application/json"}
    )
    assert_problem(response, 413)

    def chunks():
        yield b'{"text": "'
        for _ in range(40):
            yield b"x" * 32768
        yield b'"}'

    streamed = client.post(
        "/v1/credits", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_problem(streamed, 413)


def test_wrong_media_types(api, settings) -> None:
    client = api["owner"]
    cid = client.post("/v1/credits", json=credit_body()).json()["id"]
    # declared PNG, content is not
    assert_problem(upload(client, cid, data=b"not a png at all"), 415)
    # an executable, declared as such
    assert_problem(
        upload(
            client,
            cid,
            data=b"MZ\x90\x00",
            media_type="application/x-msdownload",
            filename="run.exe",
        ),
        415,
    )
    # JSON that does not parse
    assert_problem(
        upload(client, cid, data=b'{"a": ', media_type="application/json", filename="x.json"), 415
    )
    # not multipart at all
    assert_problem(
        client.post(
            f"/v1/cases/{cid}/evidence", content=PNG, headers={"content-type": "image/png"}
        ),
        415,
    )
    # missing the file part, and an unknown kind
    assert_problem(
        client.post(
            f"/v1/cases/{cid}/evidence",
            data={"kind": "screenshot"},
            files={"other": ("a.txt", b"hi", "text/plain")},
        ),
        422,
        "file",
    )
    assert_problem(upload(client, cid, kind="video"), 422, "kind")
    assert len(stored_events(settings, cid)) == 1


def test_accepted_media_types(api) -> None:
    client = api["owner"]
    cid = client.post("/v1/credits", json=credit_body()).json()["id"]
    samples = {
        "image/jpeg": b"\xff\xd8\xff\xe0" + b"\x00" * 20,
        "image/webp": b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 8,
        "application/pdf": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n",
        "text/plain": "Order 42 — refund please\n".encode(),
        "text/csv": b"date,amount\n2026-03-01,25.00\n",
        "message/rfc822": b"From: support@temu.example\nSubject: Your credit\n\nHello",
        "application/json": b'{"order": 42}',
    }
    # a mail with an 8bit body in its own charset (not UTF-8) is still a mail
    latin1 = (
        b"From: service@temu.example\nSubject: Votre cr\xe9dit\nMIME-Version: 1.0\n"
        b"Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\n"
        b"Votre cr\xe9dit a \xe9t\xe9 r\xe9tabli.\n"
    )
    for media_type, data in [*samples.items(), ("message/rfc822", latin1)]:
        response = upload(client, cid, data=data, media_type=media_type, filename="f", kind="other")
        assert response.status_code == 201, (media_type, response.text)
        got = client.get(f"/v1/cases/{cid}/evidence/{response.json()['id']}")
        assert got.content == data and got.headers["content-type"].startswith(media_type)


def test_path_like_file_names_never_touch_a_path(api, settings) -> None:
    client = api["owner"]
    cid = client.post("/v1/credits", json=credit_body()).json()["id"]
    name = "../../../../etc/passwd"
    response = upload(client, cid, filename=name)
    assert response.status_code == 201
    assert response.json()["filename"] == name  # kept as metadata only
    stored = list(settings.data_dir.rglob("*"))
    assert all(".." not in p.name and "passwd" not in p.name for p in stored)
    download = client.get(f"/v1/cases/{cid}/evidence/{response.json()['id']}")
    assert "filename*=UTF-8''..%2F" in download.headers["content-disposition"]


def test_upload_over_the_limit_is_413_and_records_nothing(settings_for, store) -> None:
    from tests.support.live import Client, live_server

    settings = settings_for(store, max_upload_bytes=1000)
    setup = ReclaimApplication(settings)
    key, _ = setup.keys.create("alice", "home", "member")
    setup.close()
    with live_server(settings) as url, Client(url, key) as client:
        cid = client.post("/v1/credits", json=credit_body()).json()["id"]
        big = PNG + b"\x00" * 5000
        assert_problem(upload(client, cid, data=big), 413)

        def chunks():  # no Content-Length: the limit stops the stream
            yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
            yield b"Content-Type: image/png\r\n\r\n" + PNG
            for _ in range(2000):
                yield b"\x00" * 1024
            yield b"\r\n--b--\r\n"

        streamed = client.post(
            f"/v1/cases/{cid}/evidence",
            content=chunks(),
            headers={"content-type": "multipart/form-data; boundary=b"},
        )
        assert_problem(streamed, 413)
        assert upload(client, cid, data=PNG).status_code == 201
    assert len(stored_events(settings, cid)) == 2
    leftovers = list((settings.data_dir / "tmp").glob("*"))
    assert leftovers == []


def test_request_ids_are_stored_on_events(api, settings) -> None:
    client = api["owner"]
    cid = client.post("/v1/credits", json=credit_body(), headers={"X-Request-ID": "r-open"}).json()[
        "id"
    ]
    client.post(f"/v1/cases/{cid}/notes", json={"text": "n"}, headers={"X-Request-ID": "r-note"})
    events = stored_events(settings, cid)
    assert [e.request_id for e in events] == ["r-open", "r-note"]
    assert [e.actor for e in events] == ["alice", "alice"]
