"""A fault on a real process: ``reclaim replay`` killed mid-way leaves the live tables whole,
and the next replay finishes. Bounded in time."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.support.processes import RECLAIM
from tests.support.projection_support import cli_env, dump, table_names

pytestmark = pytest.mark.slow


def _rebuild_tables(app) -> list[str]:
    return sorted(name for name in table_names(app) if "__r" in name)


def test_a_replay_killed_mid_way_leaves_the_live_tables_whole(app, settings) -> None:
    """kill -9 of `reclaim replay` while it builds: readers kept the old tables all along,
    and the next replay drops what the killed one left and finishes."""
    from bench.history import generate

    generate(app, cases_=150, seed=7)
    expected = dump(app)
    replay = subprocess.Popen(
        [RECLAIM, "replay", "--batch-size", "5"],
        env=cli_env(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and replay.poll() is None:  # until it is building
        building = _rebuild_tables(app)
        if building:
            counts = [
                app.database.fetchone(f"SELECT COUNT(*) AS n FROM {name}") for name in building
            ]
            if any(c and c["n"] > 0 for c in counts):
                break
        time.sleep(0.005)
    replay.kill()
    replay.wait(10)
    assert _rebuild_tables(app), "the replay finished before the kill"
    assert dump(app) == expected  # nobody saw a half-built projection

    again = subprocess.run(
        [RECLAIM, "replay"], env=cli_env(settings), capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr
    assert dump(app) == expected
    assert _rebuild_tables(app) == []
