"""The projection commands as a user runs them: reclaim project, replay, verify, export,
import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.history import generate
from infrastructure.projections.projector import Projector
from infrastructure.projections.verify import verify
from tests.support.projection_support import cli_env, delete_events, dump, forget_projection

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


def test_reclaim_project_builds_only_what_is_behind(app, settings) -> None:
    total = generate(app, cases_=40, seed=52)
    idle = reclaim(settings, "project")
    assert idle.returncode == 0 and "up to date" in idle.stdout
    live = dump(app)
    forget_projection(app, "timeline")
    built = reclaim(settings, "project")
    assert built.returncode == 0, built.stderr
    assert f"built timeline from {total} events" in built.stdout
    assert dump(app) == live
    assert verify(app).ok


def test_while_a_rebuild_runs_a_second_one_is_refused_plainly(app, settings) -> None:
    generate(app, cases_=20, seed=53)
    projector = Projector(app)
    with projector._locked(timeout=5):
        _plain_failure(reclaim(settings, "replay"), "a rebuild is running")
    assert reclaim(settings, "replay").returncode == 0
    assert verify(app).ok
