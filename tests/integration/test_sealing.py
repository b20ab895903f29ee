"""A log written before personal data was encrypted: read as it is, sealed once by
``reclaim seal-log``, and erasable only after that (issue 27)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from infrastructure.projections.projector import Projector
from infrastructure.projections.verify import verify
from infrastructure.service import erasure
from infrastructure.store.application import ReclaimApplication
from tests.support import DATA
from tests.support.projection_support import cli_env, events_table

GOLDEN = DATA / "golden-log.json"
RECLAIM = str(Path(sys.executable).with_name("reclaim"))


def _events_text(app: ReclaimApplication) -> str:
    rows = app.database.fetchall(f"SELECT state FROM {events_table(app)}")
    return "\n".join(bytes(r["state"]).decode() for r in rows)


def _load_golden(app: ReclaimApplication) -> list[dict]:
    events = json.loads(GOLDEN.read_text())["events"]
    app.recorder.insert_events(
        [
            StoredEvent(
                UUID(e["originator_id"]), e["originator_version"], e["topic"], e["state"].encode()
            )
            for e in events
        ]
    )
    Projector(app).catch_up()
    return events


def test_an_old_log_is_read_as_it_is_then_sealed_once_and_then_erasable(app, settings) -> None:
    events = _load_golden(app)
    credit_id = UUID(events[0]["originator_id"])
    before = dict(vars(app.get_case(credit_id)))
    assert "temu-account-4411" in _events_text(app)
    with pytest.raises(erasure.Unsealed):
        erasure.begin(app, "ws-1", "user-1", by="admin")
    assert app.data_keys.erasures() == [], "a refused erasure destroys no key"
    app.close()

    sealed = subprocess.run(
        [RECLAIM, "seal-log"], env=cli_env(settings), capture_output=True, text=True, timeout=300
    )
    assert sealed.returncode == 0, sealed.stderr
    assert "sealed" in sealed.stdout
    again = subprocess.run(
        [RECLAIM, "seal-log"], env=cli_env(settings), capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0 and "nothing to seal" in again.stdout

    store = ReclaimApplication(settings)
    try:
        text = _events_text(store)
        for secret in ("temu-account-4411", "Please help", "Any news?", "T-1001"):
            assert secret not in text, f"{secret} is still in clear in the log"
        after = dict(vars(store.get_case(credit_id)))
        assert after == before, "a sealed log reads as the old one did"
        assert verify(store).ok
        done = erasure.erase(store, "ws-1", "user-1", by="admin", request_id="erase")
        assert done.cases == 2
        assert store.get_case(credit_id).account_reference == "[erased]"
        assert verify(store).ok
    finally:
        store.close()
