"""Browser sessions in the store: server-side, stored hashed, ended by sign-out, expiry and
key revocation. On both stores. Over HTTP (one sign-in for the pages, never for /v1):
tests/e2e/test_sessions_http.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from infrastructure.store.sessions import TABLE, SessionStore, hash_session_id


@pytest.fixture
def sessions(app) -> SessionStore:
    store = SessionStore(app.database)
    store.create_tables()
    return store


def _principal(app, user: str = "alice", role: str = "member"):
    key, _ = app.keys.create(user, "home", role)
    return key, app.keys.authenticate(key)


def test_a_session_is_found_by_its_id_and_stored_only_as_a_hash(app, sessions) -> None:
    _, alice = _principal(app)
    started = sessions.start(alice)
    found = sessions.find(started.session_id)
    assert found is not None and found.principal == alice
    assert found.csrf_ok(started.session.csrf_token) and not found.csrf_ok("guess")
    assert not found.csrf_ok(None)
    (row,) = app.database.fetchall(f"SELECT * FROM {TABLE}")
    assert row["session_hash"] == hash_session_id(started.session_id)
    assert started.session_id not in str(row.values())
    assert row["key_id"] == alice.key_id
    assert datetime.fromisoformat(row["expires_at"]) > datetime.now(UTC) + timedelta(hours=11)


def test_unknown_forged_or_empty_ids_are_nobody(app, sessions) -> None:
    _, alice = _principal(app)
    started = sessions.start(alice)
    assert sessions.find(started.session_id[:-1] + "x") is None
    assert sessions.find(hash_session_id(started.session_id)) is None  # the stored hash
    assert sessions.find("") is None
    assert sessions.find(None) is None
    assert sessions.find("x" * 500) is None


def test_signing_out_deletes_the_session(app, sessions) -> None:
    _, alice = _principal(app)
    started = sessions.start(alice)
    other = sessions.start(alice)
    assert sessions.end(started.session_id) is True
    assert sessions.find(started.session_id) is None
    assert sessions.end(started.session_id) is False
    assert sessions.find(other.session_id) is not None  # another browser stays signed in


def test_a_session_ends_when_it_expires(app, sessions) -> None:
    _, alice = _principal(app)
    started = sessions.start(alice, now=datetime.now(UTC) - timedelta(hours=13))
    assert sessions.find(started.session_id) is None
    assert sessions.count() == 0  # and is deleted
    short = SessionStore(app.database, max_age=60)
    live = short.start(alice)
    assert short.find(live.session_id, now=datetime.now(UTC) + timedelta(seconds=59))
    assert short.find(live.session_id, now=datetime.now(UTC) + timedelta(seconds=61)) is None


def test_revoking_a_key_ends_every_session_it_opened(app, sessions) -> None:
    _, alice = _principal(app)
    _, bob = _principal(app, "bob")
    first, second = sessions.start(alice), sessions.start(alice)
    bobs = sessions.start(bob)
    app.keys.revoke(alice.key_id)
    assert sessions.find(first.session_id) is None
    assert sessions.count(alice.key_id) == 0  # the second is gone too, unused
    assert sessions.find(second.session_id) is None
    assert sessions.find(bobs.session_id) is not None
    assert sessions.end_for_key(bob.key_id) == 1


def test_a_sign_in_sweeps_sessions_of_revoked_keys_never_used_again(app, sessions) -> None:
    _, alice = _principal(app)
    _, bob = _principal(app, "bob")
    sessions.start(alice)
    sessions.start(alice, now=datetime.now(UTC) - timedelta(days=1))  # expired
    app.keys.revoke(alice.key_id)
    assert sessions.count(alice.key_id) == 2  # nobody has used them since
    sessions.start(bob)
    assert sessions.count(alice.key_id) == 0
    assert sessions.count() == 1


def test_bad_setup_is_refused(app) -> None:
    with pytest.raises(ValueError, match="max_age"):
        SessionStore(app.database, max_age=0)
