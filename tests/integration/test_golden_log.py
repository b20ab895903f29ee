"""Old logs keep replaying: topics recorded by earlier versions still resolve, on each store."""

from __future__ import annotations

import json
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from infrastructure.store.application import ReclaimApplication
from tests.support import DATA

GOLDEN = DATA / "golden-log.json"


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
