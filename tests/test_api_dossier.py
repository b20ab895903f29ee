"""The dossier through real HTTP, on both stores: hashes match, the PDF renders."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

from infrastructure.application import ReclaimApplication
from infrastructure.dossier import MANIFEST_NAME, REPORT_NAME
from infrastructure.projections import queries
from tests.api_data import PNG, upload
from tests.report_support import catch_up, ok, open_dispute, submit
from tests.test_dossier import pdf_text


def test_the_dossier_holds_the_case_its_evidence_and_its_audit_chain(api, settings, tmp_path):
    alice = api["owner"]
    case = open_dispute(alice, opened_days_ago=20)
    cid = case["id"]
    shot = ok(upload(alice, cid, PNG, "image/png", "wallet page.png"))
    note = ok(upload(alice, cid, b"Order 42: charged twice\n", "text/plain", "order.txt"))
    submit(alice, cid, 10)
    catch_up(settings)

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
