"""The master key and the data keys it wraps (issue 27): where the master key comes from,
a missing or wrong one stopping the store before it serves anything, rotation, and what
a sealed event looks like in the store."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from infrastructure.settings import Settings
from infrastructure.store.application import ReclaimApplication
from infrastructure.store.personal import MASTER_KEY_FILE, MasterKeyError, SealBroken
from tests.support.commands import as_users
from tests.support.factories import credit_facts
from tests.support.projection_support import cli_env, events_table

RECLAIM = str(Path(sys.executable).with_name("reclaim"))


def _states(app: ReclaimApplication) -> list[bytes]:
    rows = app.database.fetchall(f"SELECT state FROM {events_table(app)} ORDER BY 1")
    return [bytes(r["state"]) for r in rows]


def _run(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RECLAIM, *args],
        env={**cli_env(settings), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_embedded_default_makes_its_master_key_file_once(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("RECLAIM_MASTER_KEY", raising=False)
    settings = Settings(data_dir=tmp_path / "data", database_url=None)
    app = ReclaimApplication(settings)
    try:
        case = as_users(app).open_credit(**credit_facts(account_reference="acct-secret-1")).case
        state = _states(app)[0]
        assert b"acct-secret-1" not in state and b'"_personal"' in state
    finally:
        app.close()
    key_file = settings.data_dir / MASTER_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    written = key_file.read_text()
    again = ReclaimApplication(settings)
    try:
        assert again.get_case(case.id).account_reference == "acct-secret-1"
    finally:
        again.close()
    assert key_file.read_text() == written


def test_a_wrong_master_key_stops_the_store_before_it_serves(settings) -> None:
    app = ReclaimApplication(settings)
    app.close()
    wrong = settings.model_copy(update={"master_key": "00" * 32})
    with pytest.raises(MasterKeyError, match="not the master key"):
        ReclaimApplication(wrong)
    for args in (["keys", "list"], ["serve", "--port", "8799"]):
        answer = _run(settings, *args, RECLAIM_MASTER_KEY="00" * 32)
        assert answer.returncode != 0
        assert "RECLAIM_MASTER_KEY is not the master key" in answer.stderr
        assert "Traceback" not in answer.stderr
    malformed = _run(settings, "keys", "list", RECLAIM_MASTER_KEY="not-a-key")
    assert malformed.returncode != 0 and "64 hex digits" in malformed.stderr


@pytest.mark.parametrize("store", ["postgres"])
def test_postgresql_needs_the_master_key_given(settings) -> None:
    unset = settings.model_copy(update={"master_key": None})
    os.environ.pop("RECLAIM_MASTER_KEY_UNUSED", None)
    with pytest.raises(MasterKeyError, match="RECLAIM_MASTER_KEY is not set"):
        ReclaimApplication(unset)


def test_rotating_the_master_key_rewraps_the_data_keys_and_touches_no_event(
    settings, tmp_path
) -> None:
    app = ReclaimApplication(settings)
    try:
        case = as_users(app).open_credit(**credit_facts(account_reference="acct-secret-2")).case
        endpoint, secret = app.webhooks.add(
            "ws-1", "https://example.org/hook", [], "", by="admin", after_position=0
        )
        before = _states(app)
    finally:
        app.close()
    new_key = "7a" * 32
    key_file = tmp_path / "new.key"
    key_file.write_text(new_key + "\n")
    rotated = _run(settings, "master-key", "rotate", "--new-key-file", str(key_file))
    assert rotated.returncode == 0, rotated.stderr
    assert "re-wrapped 1 data keys" in rotated.stdout
    old = _run(settings, "keys", "list")
    assert old.returncode != 0 and "not the master key" in old.stderr
    after = ReclaimApplication(settings.model_copy(update={"master_key": new_key}))
    try:
        assert _states(after) == before, "rotation leaves every event as it was"
        assert after.get_case(case.id).account_reference == "acct-secret-2"
        kept = after.webhooks.get("ws-1", endpoint["id"])
        assert after.webhooks.secret_of(kept) == secret, "webhook secrets are re-sealed too"
    finally:
        after.close()


def test_a_sealed_field_moved_to_another_event_does_not_open(app) -> None:
    import json

    users = as_users(app)
    first = users.open_credit(**credit_facts(account_reference="acct-a")).case
    users.open_credit(**credit_facts(account_reference="acct-b"))
    table, position = events_table(app), "notification_id" if app.database.is_postgres else "rowid"
    rows = app.database.fetchall(f"SELECT {position} AS id, state FROM {table} ORDER BY 1")
    a, b = (json.loads(bytes(r["state"])) for r in rows)
    a["_personal"] = b["_personal"]
    app.database.execute(
        f"UPDATE {table} SET state = %s WHERE {position} = %s",
        (json.dumps(a).encode(), rows[0]["id"]),
    )
    app.forget(first.id)
    with pytest.raises(SealBroken, match="altered or moved"):
        app.events.get(first.id).__next__()
