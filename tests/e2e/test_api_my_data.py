"""A person's own data (GDPR Art. 15 and 20) through real HTTP, on both stores: their cases
and nothing of anyone else's, whatever their role; every file in the manifest with its
SHA-256; keys as metadata only. The case book's button: tests/e2e/test_casebook_http.py."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import httpx

from api.render.archive import MANIFEST_NAME
from infrastructure.store.application import ReclaimApplication
from infrastructure.store.keys import hash_key
from tests.support.api_data import PNG, credit_body, dispute_body, upload, when
from tests.support.mail import eml
from tests.support.report_support import ok

REPLY = "temu_reply_alternative_pdf.eml"
BOBS_NOTE = "Bob's own note: the agent's name was Quentin-7731"
BOBS_REFERENCE = "bob-temu-account-55190"
BOBS_FILE = b"Bob's receipt 8842, nobody else's\n"


def export(client: httpx.Client) -> zipfile.ZipFile:
    response = client.get("/v1/me/export")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"].startswith('attachment; filename="reclaim-')
    assert int(response.headers["content-length"]) == len(response.content)
    return zipfile.ZipFile(io.BytesIO(response.content))


def checked_manifest(archive: zipfile.ZipFile) -> dict:
    """The manifest, once every other file in the archive is in it with its size and SHA-256."""
    manifest = json.loads(archive.read(MANIFEST_NAME))
    listed = {f["path"]: f for f in manifest["files"]}
    assert len(listed) == len(manifest["files"])
    assert set(listed) == set(archive.namelist()) - {MANIFEST_NAME}
    for path, entry in listed.items():
        content = archive.read(path)
        assert len(content) == entry["size"], path
        assert hashlib.sha256(content).hexdigest() == entry["sha256"], path
    return manifest


def everything(archive: zipfile.ZipFile) -> bytes:
    return b"\n".join(archive.read(name) for name in archive.namelist())


def alices_cases(alice: httpx.Client) -> list[str]:
    credit = ok(alice.post("/v1/credits", json=credit_body(account_reference="alice-temu-1")))
    cid = credit["id"]
    ok(alice.post(f"/v1/cases/{cid}/notes", json={"text": "Alice called the hotline"}))
    ok(upload(alice, cid, PNG, "image/png", "wallet page.png"))
    ok(upload(alice, cid, "Reçu n° 42\n".encode(), "text/plain", "reçu ☃.txt", kind="receipt"))
    body = {"channel": "email", "reference": "T-1001", "message": "Hi", "occurred_at": when(13)}
    ok(alice.post(f"/v1/cases/{cid}/submit", json=body))
    mail = alice.post(
        f"/v1/cases/{cid}/emails", files={"file": (REPLY, eml(REPLY), "message/rfc822")}
    )
    assert mail.status_code == 201, mail.text
    dispute = ok(alice.post("/v1/disputes", json=dispute_body()))
    return [cid, dispute["id"]]


def bobs_case(bob: httpx.Client) -> str:
    case = ok(bob.post("/v1/credits", json=credit_body(account_reference=BOBS_REFERENCE)))
    ok(bob.post(f"/v1/cases/{case['id']}/notes", json={"text": BOBS_NOTE}))
    ok(upload(bob, case["id"], BOBS_FILE, "text/plain", "bob.txt", kind="receipt"))
    return str(case["id"])


def test_my_export_holds_my_cases_their_files_and_nothing_of_anyone_elses(api, settings) -> None:
    alice, bob = api["owner"], api["other_member"]
    mine = alices_cases(alice)
    bobs = bobs_case(bob)
    setup = ReclaimApplication(settings)
    try:
        setup.keys.rotate_calendar_token("alice", "home", "member")
    finally:
        setup.close()
    with httpx.Client(base_url=api.base_url) as browser:
        signed_in = browser.post("/app/sign-in", data={"api_key": api.keys["owner"]})
        assert signed_in.status_code == 303
    # her address for reminders by e-mail is hers too
    mail = alice.put("/v1/me/mail", json={"address": "alice@example.org", "digest_time": "07:30"})
    assert mail.status_code == 200, mail.text

    archive = export(alice)
    manifest = checked_manifest(archive)
    assert (manifest["user_id"], manifest["workspace"]) == ("alice", "home")
    assert manifest["generated_at"]
    assert sorted(manifest["cases"]) == sorted(mine)
    assert {n.split("/")[1] for n in archive.namelist() if n.startswith("cases/")} == set(mine)

    listed = {f["path"]: f for f in manifest["files"]}
    eml_evidence = 0
    for cid in mine:
        case = ok(alice.get(f"/v1/cases/{cid}"))
        assert json.loads(archive.read(f"cases/{cid}/case.json")) == case
        timeline = ok(alice.get(f"/v1/cases/{cid}/timeline"))
        assert json.loads(archive.read(f"cases/{cid}/timeline.json")) == timeline
        kept = [n for n in archive.namelist() if n.startswith(f"cases/{cid}/evidence/")]
        assert len(kept) == len(case["evidence"])
        for item in case["evidence"]:
            path = next(n for n in kept if n.startswith(f"cases/{cid}/evidence/{item['id']}-"))
            content = archive.read(path)
            assert content == alice.get(f"/v1/cases/{cid}/evidence/{item['id']}").content
            assert hashlib.sha256(content).hexdigest() == item["sha256"]
            assert listed[path]["sha256"] == item["sha256"]
            if item["media_type"] == "message/rfc822":
                eml_evidence += 1
                assert content == eml(REPLY) and path.endswith(".eml")
    assert eml_evidence == 1
    assert all(e["problem"] is None and e["path"] for e in manifest["evidence"])
    assert len(manifest["evidence"]) == 4  # a PNG, a receipt, the mail and its PDF
    assert "Alice called the hotline" in archive.read(f"cases/{mine[0]}/timeline.json").decode()

    account = json.loads(archive.read("account.json"))
    assert (account["user_id"], account["workspace"]) == ("alice", "home")
    assert [(k["kind"], k["role"], k["revoked_at"]) for k in account["api_keys"]] == [
        ("api", "member", None)
    ]
    assert [(k["kind"], k["revoked_at"]) for k in account["calendar_tokens"]] == [
        ("calendar", None)
    ]
    assert account["browser_sessions"] == 1
    assert account["mail"]["address"] == "alice@example.org"
    assert account["mail"]["digest_time"] == "07:30"
    assert set(account["api_keys"][0]) == {"key_id", "kind", "role", "created_at", "revoked_at"}

    flat = everything(archive)
    for secret in (api.keys["owner"], hash_key(api.keys["owner"])):
        assert secret.encode() not in flat
    for foreign in (BOBS_NOTE, BOBS_REFERENCE, bobs):
        assert foreign.encode() not in flat, foreign
    assert BOBS_FILE not in flat

    bobs_own = export(bob)
    assert checked_manifest(bobs_own)["cases"] == [bobs]
    assert BOBS_NOTE.encode() in everything(bobs_own)
    assert b"alice" not in everything(bobs_own)


def test_an_admins_or_auditors_export_is_their_own_not_the_workspaces(api) -> None:
    alice, bob, dana = api["owner"], api["other_member"], api["admin"]
    alices = alices_cases(alice)
    bobs = bobs_case(bob)
    danas = ok(dana.post("/v1/credits", json=credit_body(account_reference="dana-ref-1")))["id"]
    assert len(ok(dana.get("/v1/cases"))["items"]) == 4  # an admin reads the whole workspace

    archive = export(dana)
    manifest = checked_manifest(archive)
    assert manifest["user_id"] == "dana" and manifest["cases"] == [danas]
    flat = everything(archive)
    for foreign in [*alices, bobs, BOBS_NOTE, "alice-temu-1"]:
        assert foreign.encode() not in flat, foreign
    assert json.loads(archive.read("account.json"))["api_keys"][0]["role"] == "admin"

    auditor = export(api["auditor"])
    assert checked_manifest(auditor)["cases"] == []
    assert sorted(auditor.namelist()) == ["account.json", MANIFEST_NAME]


def test_no_key_no_export(api) -> None:
    for name in ("anonymous", "revoked"):
        response = api[name].get("/v1/me/export")
        assert response.status_code == 401, name
        assert response.headers["content-type"].startswith("application/problem+json")
    operation = ok(api["owner"].get("/openapi.json"))["paths"]["/v1/me/export"]["get"]
    assert operation["responses"]["200"]["content"]["application/zip"]["schema"] == {
        "type": "string",
        "format": "binary",
    }
    assert {"401", "503"} <= set(operation["responses"])
    assert "parameters" not in operation  # nobody else's export can be asked for
