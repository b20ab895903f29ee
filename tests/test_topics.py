"""Old logs keep replaying: topics recorded by earlier versions still resolve."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic, resolve_topic

from domain.cases import Case, Credit
from infrastructure import topics
from infrastructure.application import ReclaimApplication

GOLDEN = Path(__file__).parent / "data" / "golden-log.json"


def test_a_log_recorded_by_an_earlier_version_still_loads(app: ReclaimApplication) -> None:
    events = json.loads(GOLDEN.read_text())["events"]
    app.recorder.insert_events(
        [
            StoredEvent(
                originator_id=UUID(e["originator_id"]),
                originator_version=e["originator_version"],
                topic=e["topic"],
                state=e["state"].encode(),
            )
            for e in events
        ]
    )
    credit = app.get_case(UUID(events[0]["originator_id"]))
    assert credit.state == "resolved"
    assert credit.escalations == ["supervisor"]
    assert credit.earned_on.isoformat() == "2026-01-10"
    dispute = app.get_case(UUID(events[-1]["originator_id"]))
    assert dispute.kind == "dispute" and len(dispute.evidence) == 1


def test_topics_have_one_import_name() -> None:
    assert get_topic(Credit) == "domain.cases:Credit"
    assert get_topic(Case.Submitted) == "domain.cases:Case.Submitted"


def test_a_moved_class_is_found_under_its_old_topic(monkeypatch) -> None:
    monkeypatch.setitem(topics.LEGACY_TOPICS, "reclaim.old_module:Credit", Credit)
    topics.register_legacy_topics()
    assert resolve_topic("reclaim.old_module:Credit") is Credit
