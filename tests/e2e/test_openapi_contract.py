"""The OpenAPI document as a client generated from it sees it (issue 31, item 2).

Both seed flows and the reads, mail, evidence and error answers around them, through
real HTTP, every answer checked against the document the server publishes, strictly
(``tests/support/openapi_contract.py``); the document itself, for what a generator needs;
and ``openapi-python-client`` run over it, which must not warn. The document is the same
on both stores: SQLite only.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.api_data import COMMANDS, credit_body, dispute_body, upload
from tests.support.mail import eml
from tests.support.openapi_contract import Contract
from tests.support.seed_flows import temu_credit_flow, tiktok_dispute_flow

CASE_ROUTES = "/v1/cases"


def send_mail(client, case_id: str, name: str, **kwargs):
    return client.post(
        f"/v1/cases/{case_id}/emails",
        files={"file": (name, eml(name), "message/rfc822")},
        **kwargs,
    )


@pytest.mark.parametrize("store", ["sqlite"])
def test_every_answer_of_both_seed_flows_is_as_the_document_says(api) -> None:
    contract = Contract(api["anonymous"].get("/openapi.json").json())
    for client in api.clients.values():
        client.event_hooks["response"] = [contract.check]
    alice, carol = api["owner"], api["auditor"]

    credit = temu_credit_flow(alice)
    dispute, evidence = tiktok_dispute_flow(alice)

    # the cases as they are and were, the list page by page, what was recorded
    for cid in (credit, dispute):
        alice.get(f"/v1/cases/{cid}")
        alice.get(f"/v1/cases/{cid}", params={"version": 1})
        alice.get(f"/v1/cases/{cid}", params={"as_of": "2100-01-01T00:00:00Z"})
        alice.get(f"/v1/cases/{cid}/timeline")
        alice.get(f"/v1/cases/{cid}/audit")
        alice.get(f"/v1/cases/{cid}/audit", params={"format": "csv"})
        alice.get(f"/v1/cases/{cid}/drafts")
        alice.get(f"/v1/cases/{cid}/dossier")
    first = alice.get("/v1/cases", params={"limit": 1, "sort": "-amount_claimed"}).json()
    alice.get(
        "/v1/cases", params={"limit": 1, "sort": "-amount_claimed", "cursor": first["next_cursor"]}
    )
    alice.get("/v1/cases", params={"q": "temu-4411", "state": "resolved", "kind": "credit"})
    alice.get("/v1/audit/events", params={"limit": 5})
    carol.get("/v1/audit/verify")
    for report in ("summary", "outcomes", "timeliness"):
        alice.get(f"/v1/reports/{report}")
    alice.get("/v1/reports/recovery", params={"group_by": "platform"})
    alice.get("/v1/reminders")
    alice.get("/v1/workflow")
    for path in ("/healthz", "/readyz", "/metrics"):
        api["anonymous"].get(path)

    # a case that gets mail: TEMU's notice before the claim, then its reply, twice
    key = {"Idempotency-Key": "open-1"}
    cid = alice.post("/v1/credits", json=credit_body(), headers=key).json()["id"]
    alice.post("/v1/credits", json=credit_body(), headers=key)  # replayed
    send_mail(alice, cid, "temu_notice_before_claim.eml")
    etag = alice.post(f"/v1/cases/{cid}/submit", json=COMMANDS["submit"][1]).headers["ETag"]
    key = {"Idempotency-Key": "mail-1", "If-Match": etag}
    send_mail(alice, cid, "temu_reply_alternative_pdf.eml", headers=key)
    send_mail(alice, cid, "temu_reply_alternative_pdf.eml", headers=key)  # replayed
    etag = send_mail(alice, cid, "temu_reply_alternative_pdf.eml").headers["ETag"]  # known
    key = {"Idempotency-Key": "note-1", "If-Match": etag}
    etag = alice.post(f"/v1/cases/{cid}/notes", json={"text": "Called"}, headers=key).headers[
        "ETag"
    ]
    alice.post(f"/v1/cases/{cid}/notes", json={"text": "Called"}, headers=key)  # replayed
    upload(alice, cid, headers={"If-Match": etag, "Idempotency-Key": "upload-1"})

    # an evidence file not changed since it was fetched; refusals of every kind
    etag = alice.get(f"/v1/cases/{dispute}/evidence/{evidence}").headers["ETag"]
    alice.get(f"/v1/cases/{dispute}/evidence/{evidence}", headers={"If-None-Match": etag})
    alice.post(f"/v1/cases/{cid}/deny", json=COMMANDS["deny"][1], headers={"If-Match": '"1"'})
    alice.post(f"/v1/cases/{cid}/appeal", json=COMMANDS["appeal"][1])
    alice.post(f"/v1/cases/{cid}/follow-up", json={"channel": "fax"})
    carol.post(f"/v1/cases/{cid}/notes", json={"text": "Not mine"})
    api["anonymous"].get(f"/v1/cases/{cid}")
    alice.get("/v1/cases/00000000-0000-0000-0000-000000000000")
    alice.post("/v1/disputes", json=dispute_body(currency="usd"))
    alice.post(
        f"/v1/cases/{cid}/evidence",
        files={"file": ("x.png", b"not a png", "image/png")},
        data={"kind": "screenshot"},
    )
    alice.get("/v1/cases", params={"cursor": "forged"})
    # drafts sent by mail: none here, and no mail server to send one (202: test_send_draft.py)
    alice.get(f"/v1/cases/{cid}/drafts/sent")
    alice.post(f"/v1/cases/{cid}/drafts/follow_up/send", json={"to": "support@temu.com"})

    assert contract.failures == [], "\n".join(contract.failures)
    answered = {key.rsplit(" ", 1)[0] for key in contract.checked}
    case_operations = {
        f"{method.upper()} {path}"
        for path, item in contract.document["paths"].items()
        if path.startswith(CASE_ROUTES)
        for method in item
    }
    assert case_operations <= answered, case_operations - answered
    statuses = {key.rsplit(" ", 1)[1] for key in contract.checked}
    assert {"200", "201", "304", "401", "403", "404", "409", "412", "415", "422"} <= statuses


def objects_without_fields(schema, where: str):
    """Where ``schema`` has an object that names neither its fields nor its values' type."""
    if isinstance(schema, list):
        for number, item in enumerate(schema):
            yield from objects_without_fields(item, f"{where}/{number}")
    elif isinstance(schema, dict):
        if (
            schema.get("type") == "object"
            and "properties" not in schema
            and schema.get("additionalProperties", True) in (True, {})
        ):
            yield where
        for key, value in schema.items():
            yield from objects_without_fields(value, f"{where}/{key}")


def test_the_document_describes_what_a_generator_needs() -> None:
    from api.http.app import create_app

    document = create_app().openapi()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            for status, response in operation["responses"].items():
                for media, content in response.get("content", {}).items():
                    assert "schema" in content, (where, status, media)
                    schema = content["schema"]
                    # a union listed once per kind, not once per declaration
                    branches = [json.dumps(b, sort_keys=True) for b in schema.get("oneOf", [])]
                    assert len(branches) == len(set(branches)), (where, status, schema)
                if path.startswith("/v1"):
                    assert "HTTPValidationError" not in json.dumps(response), (where, status)
            headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
            if path.startswith("/v1") and method == "post":
                assert "Idempotency-Key" in headers, where
    # every object says what it holds (FastAPI's own error, for the /reports forms, aside)
    untyped = [
        where
        for name, schema in document["components"]["schemas"].items()
        if name != "ValidationError"
        for where in objects_without_fields(schema, name)
    ]
    assert untyped == [], untyped
    sort = next(
        p["schema"]
        for p in document["paths"]["/v1/cases"]["get"]["parameters"]
        if p["name"] == "sort"
    )
    assert len(sort["x-enum-varnames"]) == len(sort["enum"]), sort
    assert len(set(sort["x-enum-varnames"])) == len(sort["enum"])


def test_a_generated_client_is_made_without_a_warning(tmp_path: Path) -> None:
    from api.http.app import create_app
    from api.render.archive import MEDIA_TYPE as DOSSIER
    from infrastructure.store.blobs import ALLOWED_MEDIA_TYPES

    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(create_app().openapi()))
    # the generator reads JSON, text and application/octet-stream; a file of another type
    # is bytes once it is told so (its content_type_overrides), as the README says
    readable = ("text/", "application/json")
    files = sorted(t for t in {DOSSIER, *ALLOWED_MEDIA_TYPES} if not t.startswith(readable))
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "post_hooks": [],
                "content_type_overrides": {t: "application/octet-stream" for t in files},
            }
        )
    )
    generator = Path(sys.executable).parent / "openapi-python-client"
    client = tmp_path / "client"
    made = subprocess.run(
        [str(generator), "generate", "--path", str(document), "--config", str(config)]
        + ["--meta", "none", "--output-path", str(client)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    said = made.stdout + made.stderr
    assert made.returncode == 0, said
    assert "warning" not in said.lower(), said
    # the list's orders by name; the dossier as bytes; a known Message-ID's answer read
    sort = next((client / "models").glob("*case_sort.py")).read_text()
    assert "VALUE_" not in sort and 'OPENED_AT_DESC = "-opened_at"' in sort, sort
    dossier = next((client / "api" / "cases").glob("get_dossier*.py")).read_text()
    assert "response_200 = File(" in dossier, dossier
    mail = next((client / "api" / "evidence").glob("take_in_email*.py")).read_text()
    assert "response_200 = EmailRecorded.from_dict" in mail, mail
