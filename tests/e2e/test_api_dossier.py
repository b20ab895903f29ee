"""The dossier through real HTTP, on both stores: hashes match, the PDF renders."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest

from api.render.dossier import MANIFEST_NAME, REPORT_NAME
from infrastructure.read import queries
from infrastructure.store.application import ReclaimApplication
from tests.support.api_data import PNG, credit_body, upload
from tests.support.dossier import FOOTER, pdf_text
from tests.support.report_support import (
    act,
    days_ago,
    ok,
    open_credit,
    open_dispute,
    submit,
)


def test_the_dossier_holds_the_case_its_evidence_and_its_audit_chain(api, settings, tmp_path):
    alice = api["owner"]
    case = open_dispute(alice, opened_days_ago=20)
    cid = case["id"]
    shot = ok(upload(alice, cid, PNG, "image/png", "wallet page.png"))
    note = ok(upload(alice, cid, b"Order 42: charged twice\n", "text/plain", "order.txt"))
    submit(alice, cid, 10)

    response = alice.get(f"/v1/cases/{cid}/dossier")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert f'filename="reclaim-case-{cid}.zip"' in response.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    manifest = json.loads(archive.read(MANIFEST_NAME))
    for entry in manifest["files"]:
        assert hashlib.sha256(archive.read(entry["path"])).hexdigest() == entry["sha256"]
    for evidence in (shot, note):
        path = next(e["path"] for e in manifest["evidence"] if e["id"] == evidence["id"])
        assert path.startswith(f"evidence/{evidence['sha256']}-")
        assert hashlib.sha256(archive.read(path)).hexdigest() == evidence["sha256"]
    assert archive.read(f"evidence/{shot['sha256']}-wallet-page.png") == PNG

    setup = ReclaimApplication(settings)
    try:
        entries = queries.case_audit(setup.database, cid, "home", None)
        head = queries.audit_head(setup.database)
    finally:
        setup.close()
    assert len(entries) == 4  # opened, two pieces of evidence, submitted
    assert manifest["signed_head"]["hash"] == head["hash"]
    text = pdf_text(archive.read(REPORT_NAME), tmp_path)
    for expected in [shot["sha256"], note["sha256"], head["hash"], head["signature"]]:
        assert expected in text
    for entry in entries:
        assert entry["hash"] in text
    assert "CAMPAIGN-042" in text and "tiktok" in text


def test_the_dossier_follows_the_same_access_rules(api, settings):
    case = open_dispute(api["owner"], opened_days_ago=5)
    path = f"/v1/cases/{case['id']}/dossier"
    assert api["auditor"].get(path).status_code == 200
    assert api["other_member"].get(path).status_code == 404
    assert api["foreign_auditor"].get(path).status_code == 404
    assert api["anonymous"].get(path).status_code == 401
    assert api["owner"].get("/v1/cases/not-a-uuid/dossier").status_code == 422


def report_text(client, case_id: str, settings, tmp_path) -> str:
    response = client.get(f"/v1/cases/{case_id}/dossier")
    assert response.status_code == 200, response.text
    return pdf_text(zipfile.ZipFile(io.BytesIO(response.content)).read(REPORT_NAME), tmp_path)


def test_the_dossier_shows_what_was_typed_in_any_script(api, settings, tmp_path):
    alice = api["owner"]
    name = "王小明 café Łódź"
    message = "我们的订单被重复收费，请退款。Zażółć gęślą jaźń 👍 ✅"
    case = open_credit(alice, opened_days_ago=3, account_reference=name)
    act(alice, case["id"], "submit", 1, channel="email", reference="T-1", message=message)
    text = report_text(alice, case["id"], settings, tmp_path)
    assert name in text
    assert f"details: {message}" in text  # the timeline
    assert json.dumps({"message": message}, ensure_ascii=False)[1:-1] in text  # the payload


@pytest.mark.parametrize(
    "message",
    [("Charged twice for order 42, please refund. " * 250)[:10_000], "🎉😀👍" * 1_000],
    ids=["10000-characters", "3000-emoji"],
)
def test_a_submit_message_at_the_limit_flows_over_pages(api, settings, tmp_path, message):
    alice = api["owner"]
    case = open_credit(alice, opened_days_ago=3)
    act(alice, case["id"], "submit", 1, channel="email", reference="T-1", message=message)
    text = report_text(alice, case["id"], settings, tmp_path)
    assert text.count("\f") > 2
    flat = "".join(FOOTER.sub("", text).split())
    assert flat.count("".join(message.split())) == 2  # the timeline and the log entry


def test_text_over_the_limit_is_a_422_not_a_500(api):
    alice = api["owner"]
    case = open_credit(alice, opened_days_ago=3)
    response = alice.post(
        f"/v1/cases/{case['id']}/submit",
        json={"channel": "email", "message": "x" * 10_001, "occurred_at": days_ago(1)},
    )
    assert response.status_code == 422, response.text
    assert alice.get(f"/v1/cases/{case['id']}/dossier").status_code == 200


@pytest.mark.usefixtures("font_dirs")
def test_without_its_fonts_the_dossier_is_a_503_naming_the_package(api) -> None:
    """A server set up without DejaVu says what to install, as a problem, not a bare 500."""
    client = api["owner"]
    case_id = client.post("/v1/credits", json=credit_body()).json()["id"]
    response = client.get(f"/v1/cases/{case_id}/dossier")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("dossier-fonts-missing")
    assert "fonts-dejavu-core" in problem["detail"] and "RECLAIM_FONT_DIRS" in problem["detail"]
