"""Moving a store to the other kind moves its users: the same keys, calendar tokens and
workspace templates work over HTTP on the new store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infrastructure.projections.projector import Projector
from infrastructure.store.application import ReclaimApplication
from infrastructure.store.transfer import export_log, import_log
from tests.support.api_data import credit_body
from tests.support.live import Client, live_server


@pytest.mark.parametrize(("source", "target"), [("sqlite", "postgres"), ("postgres", "sqlite")])
def test_moving_a_store_moves_its_users(
    settings_for, tmp_path: Path, source: str, target: str
) -> None:
    """Keys (as hashes), their revocations, calendar tokens and the workspace's own draft
    templates travel with the log: the same key works on the new store and sees the same
    cases and drafts; a revoked key stays revoked."""
    path = tmp_path / "log.jsonl"
    old = settings_for(source)
    setup = ReclaimApplication(old)
    alice, _ = setup.keys.create("alice", "home", "member")
    carol, _ = setup.keys.create("carol", "home", "auditor")
    gone, gone_info = setup.keys.create("gina", "home", "member")
    setup.keys.revoke(gone_info.key_id)
    calendar = setup.keys.rotate_calendar_token("alice", "home", "member")
    setup.templates.put(
        "home",
        "submit.credit.temu.expired.j2",
        "{% block subject %}Our house subject{% endblock %}"
        "{% block body %}Our house words for {{ amount }}.{% endblock %}",
        "alice",
    )
    setup.close()
    with live_server(old) as base, Client(base, alice) as client:
        opened = client.post("/v1/credits", json=credit_body())
        assert opened.status_code == 201
        cases_before = client.get("/v1/cases").json()
        drafts_before = client.get(f"/v1/cases/{opened.json()['id']}/drafts").json()
    assert "Our house words for 25.00 USD." in json.dumps(drafts_before)
    origin = ReclaimApplication(old)
    try:
        with path.open("w") as out:
            export_log(origin, out)
    finally:
        origin.close()
    text = path.read_text()
    assert alice not in text and calendar not in text, "keys travel as hashes only"

    destination = ReclaimApplication(settings_for(target))
    new = destination.settings
    try:
        result = import_log(destination, path)
        assert result.events == 1 and result.rows == {
            "reclaim_api_keys": 4,
            "reclaim_draft_templates": 1,
            "reclaim_data_keys": 1,  # (the case's owner's, wrapped by the master key)
        }
        Projector(destination).catch_up()
    finally:
        destination.close()
    with live_server(new) as base:
        with Client(base, alice) as client:
            assert client.get("/v1/cases").json() == cases_before
            drafts = client.get(f"/v1/cases/{opened.json()['id']}/drafts").json()
            assert drafts == drafts_before
        with Client(base, carol) as auditor:
            assert [c["id"] for c in auditor.get("/v1/cases").json()["items"]] == [
                opened.json()["id"]
            ]
        with Client(base, gone) as revoked:
            assert revoked.get("/v1/cases").status_code == 401
        with Client(base, None) as anonymous:
            feed = anonymous.get("/v1/calendar.ics", params={"token": calendar})
            assert feed.status_code == 200 and "BEGIN:VCALENDAR" in feed.text
