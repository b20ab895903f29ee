"""PostgreSQL connections killed under a real server process: the next request over HTTP
succeeds within a blip's time. (The application on its own:
tests/integration/test_pg_restart.py.)"""

from __future__ import annotations

import time

import httpx

from infrastructure.store.application import ReclaimApplication
from tests.support.api_data import credit_body
from tests.support.pg_faults import BLIP_SECONDS, kill_connections, timed
from tests.support.processes import ServerProcess


def test_the_next_request_over_http_after_every_connection_is_killed_succeeds(
    settings_for,
) -> None:
    settings = settings_for("postgres")
    setup = ReclaimApplication(settings)
    try:
        key = setup.keys.create("alice", "home", "member")[0]
    finally:
        setup.close()
    server = ServerProcess(settings).start()
    try:
        with httpx.Client(
            base_url=server.url, timeout=15, headers={"Authorization": f"Bearer {key}"}
        ) as client:
            case_id = client.post("/v1/credits", json=credit_body()).json()["id"]
            for n in range(4):
                assert client.post(f"/v1/cases/{case_id}/notes", json={"text": f"{n}"}).is_success
            assert kill_connections(str(settings.database_url)) >= 1
            time.sleep(0.2)
            response, took = timed(
                client.post, f"/v1/cases/{case_id}/notes", json={"text": "after the blip"}
            )
            assert response.status_code == 200, response.text
            assert took < BLIP_SECONDS + 0.5, took
            assert client.get(f"/v1/cases/{case_id}").status_code == 200
    finally:
        server.stop()
