"""The projection commands as a user runs them: reclaim project, replay, verify, export,
import; and a projector process killed with SIGKILL in the middle of its work."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.history import generate
from infrastructure.application import ReclaimApplication
from infrastructure.projections import Projector
from infrastructure.projections.verify import verify
from tests.projection_support import cli_env, delete_events, dump

RECLAIM = str(Path(sys.executable).parent / "reclaim")


def reclaim(settings, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RECLAIM, *args], env=cli_env(settings), capture_output=True, text=True, timeout=timeout
    )


def _plain_failure(result: subprocess.CompletedProcess[str], words: str) -> None:
    assert result.returncode != 0
    assert words in result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout


def test_replay_verify_export_and_import_from_the_command_line(
    app, settings, settings_for, store: str, tmp_path: Path
) -> None:
    generate(app, cases_=30, seed=51)
    Projector(app).catch_up()
    live = dump(app)

    replayed = reclaim(settings, "replay")
    assert replayed.returncode == 0, replayed.stderr
    assert "events/s" in replayed.stdout
    assert dump(app) == live

    checked = reclaim(settings, "verify")
    assert checked.returncode == 0 and checked.stdout.startswith("ok: ")

    path = tmp_path / "log.jsonl"
    assert reclaim(settings, "export", str(path)).returncode == 0
    _plain_failure(reclaim(settings, "export", str(path)), "exists")
    _plain_failure(reclaim(settings, "import", str(path)), "not empty")

    target = settings_for(store)
    imported = reclaim(target, "import", str(path))
    assert imported.returncode == 0, imported.stderr
    assert reclaim(target, "verify").returncode == 0

    delete_events(app, 40)
    failed = reclaim(settings, "verify")
    assert failed.returncode == 1
    assert failed.stdout.startswith("verify failed: chain at position 40:")
    assert "Traceback" not in failed.stdout + failed.stderr


def test_bad_input_gets_one_plain_line_and_a_non_zero_exit(settings, tmp_path: Path) -> None:
    _plain_failure(reclaim(settings, "import", str(tmp_path / "nowhere.jsonl")), "no such file")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"position": 1}\n')
    _plain_failure(reclaim(settings, "import", str(bad)), "line 1: expected the fields")
    _plain_failure(reclaim(settings, "export", str(tmp_path / "no" / "dir.jsonl")), "cannot write")


def _positions_between(projector: Projector, low: int, high: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        positions = projector.positions()
        if low < min(positions.values()) and max(positions.values()) < high:
            return positions
        time.sleep(0.005)
    raise AssertionError(f"the projector never got between {low} and {high}")


def _start_projector(settings, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [RECLAIM, "project", "--batch-size", "20"],
            env=cli_env(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.mark.slow
def test_a_projector_killed_mid_batch_restarts_and_ends_equal_to_a_rebuild(
    settings, tmp_path: Path
) -> None:
    app = ReclaimApplication(settings)
    try:
        total = generate(app, cases_=600, seed=52)
        observer = Projector(app)
        log = tmp_path / "projector.log"

        process = _start_projector(settings, log)
        try:
            _positions_between(observer, 40, total - 1000, timeout=60)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        assert process.returncode == -signal.SIGKILL
        killed_at = observer.positions()
        assert max(killed_at.values()) < total  # it died with work left to do
        time.sleep(0.5)
        assert observer.positions() == killed_at

        process = _start_projector(settings, log)
        try:
            assert observer.wait_for(total, timeout=120), log.read_text()
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0, log.read_text()

        live = dump(app)
        assert len(live["reclaim_audit_log"]) == total
        Projector(app).rebuild()
        assert dump(app) == live
        assert verify(app).ok
    finally:
        app.close()


def test_while_reclaim_project_runs_no_other_runner_takes_its_projections(
    app, settings, tmp_path: Path
) -> None:
    from infrastructure.projections import ProjectorBusy

    total = generate(app, cases_=20, seed=53)
    log = tmp_path / "projector.log"
    process = _start_projector(settings, log)
    try:
        here = Projector(app)
        assert here.wait_for(total, timeout=60), log.read_text()
        with pytest.raises(ProjectorBusy):
            here.catch_up(timeout=0.5)
        _plain_failure(reclaim(settings, "replay"), "another projector is running")
        more = generate(app, cases_=5, seed=54)
        assert here.wait_for(total + more, timeout=30)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log.read_text()
    assert Projector(app).catch_up(timeout=5) == 0
    assert verify(app).ok
