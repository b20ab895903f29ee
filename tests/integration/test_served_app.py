"""The app as ``reclaim serve`` runs it (``create_served_app``): its workers tune the
garbage collector once their services are up; an app made by ``create_app`` (tests,
another ASGI server) leaves the process's collector alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROBE = """
import asyncio, gc, json, sys
from pathlib import Path
from infrastructure.settings import Settings
import api.http.app as module

async def main(factory):
    before = gc.get_threshold()
    app = factory() if factory is module.create_served_app else factory(
        Settings(data_dir=Path(sys.argv[2])))
    async with app.router.lifespan_context(app):
        print(json.dumps({"before": before, "during": gc.get_threshold(),
                          "frozen": gc.get_freeze_count()}))

asyncio.run(main(getattr(module, sys.argv[1])))
"""


def _probe(factory: str, data_dir: Path) -> dict[str, list[int] | int]:
    env = {"RECLAIM_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, factory, str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_served_worker_tunes_its_collector_and_create_app_does_not(tmp_path) -> None:
    from api.http.app import GC_GEN0_THRESHOLD

    served = _probe("create_served_app", tmp_path / "served")
    assert served["during"][0] == GC_GEN0_THRESHOLD != served["before"][0]
    assert served["frozen"] > 10_000  # the modules, routes and services, out of every scan
    plain = _probe("create_app", tmp_path / "plain")
    assert plain["during"] == plain["before"] and plain["frozen"] == 0
