"""Event topics that must keep resolving after code moves.

The library stores each event's class path (its "topic", e.g.
``domain.cases:Case.Submitted``) with the event. Logs written before a class was
moved or renamed name the old path, so every move adds a line here mapping the
old topic to the class; ``tests/integration/test_golden_log.py`` loads a log recorded by an
earlier version (``tests/data/golden-log.json``) to prove old logs still replay.
Keep one import name per module: ``domain.cases``, never ``reclaim.domain.cases``.
"""

from __future__ import annotations

from eventsourcing.utils import register_topic, resolve_topic

#: old topic -> the object it names now, or that object's topic now (resolved when
#: registered, so this module imports none of them). The recorder classes are named by
#: topic in the library's settings (``APPLICATION_RECORDER_TOPIC``), which a deployment
#: may have copied; they moved to ``infrastructure.store`` on 2026-12-01.
LEGACY_TOPICS: dict[str, object] = {
    "infrastructure.recorders:SQLiteReclaimRecorder": (
        "infrastructure.store.recorders:SQLiteReclaimRecorder"
    ),
    "infrastructure.recorders:PostgresReclaimRecorder": (
        "infrastructure.store.recorders:PostgresReclaimRecorder"
    ),
    "infrastructure.pg_pool:SteadyPostgresRecorder": (
        "infrastructure.store.pg_pool:SteadyPostgresRecorder"
    ),
    "infrastructure.application:ReclaimApplication": (
        "infrastructure.store.application:ReclaimApplication"
    ),
}


def register_legacy_topics() -> None:
    for old, obj in LEGACY_TOPICS.items():
        register_topic(old, resolve_topic(obj) if isinstance(obj, str) else obj)
