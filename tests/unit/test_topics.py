"""Topics: one import name per class, and a moved class still found under its old topic.
(A log recorded by an earlier version, replayed on each store:
tests/integration/test_golden_log.py.)"""

from __future__ import annotations

from eventsourcing.utils import get_topic, resolve_topic

from domain.cases import Case, Credit
from infrastructure.store import topics


def test_topics_have_one_import_name() -> None:
    assert get_topic(Credit) == "domain.cases:Credit"
    assert get_topic(Case.Submitted) == "domain.cases:Case.Submitted"


def test_a_moved_class_is_found_under_its_old_topic(monkeypatch) -> None:
    monkeypatch.setitem(topics.LEGACY_TOPICS, "reclaim.old_module:Credit", Credit)
    topics.register_legacy_topics()
    assert resolve_topic("reclaim.old_module:Credit") is Credit


def test_the_recorders_and_application_are_found_under_their_old_topics() -> None:
    from infrastructure.store.application import ReclaimApplication
    from infrastructure.store.pg_pool import SteadyPostgresRecorder
    from infrastructure.store.recorders import SQLiteReclaimRecorder

    topics.register_legacy_topics()
    assert resolve_topic("infrastructure.recorders:SQLiteReclaimRecorder") is SQLiteReclaimRecorder
    assert resolve_topic("infrastructure.pg_pool:SteadyPostgresRecorder") is SteadyPostgresRecorder
    assert resolve_topic("infrastructure.application:ReclaimApplication") is ReclaimApplication
