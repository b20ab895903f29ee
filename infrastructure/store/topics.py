"""Event topics that must keep resolving after code moves.

The library stores each event's class path (its "topic", e.g.
``domain.cases:Case.Submitted``) with the event. Logs written before a class was
moved or renamed name the old path, so every move adds a line here mapping the
old topic to the class; ``tests/integration/test_golden_log.py`` loads a log recorded by an
earlier version (``tests/data/golden-log.json``) to prove old logs still replay.
Keep one import name per module: ``domain.cases``, never ``reclaim.domain.cases``.
"""

from __future__ import annotations

from eventsourcing.utils import register_topic

#: old topic -> the object it names now
LEGACY_TOPICS: dict[str, object] = {}


def register_legacy_topics() -> None:
    for old, obj in LEGACY_TOPICS.items():
        register_topic(old, obj)


register_legacy_topics()
