"""reclaim keys calendar-token, reclaim dossier and reclaim report, run as a user runs them."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

from api.render.dossier import MANIFEST_NAME
from tests.support.commands import as_users
from tests.support.factories import NOW, action_args, at, credit_facts
from tests.support.pages import read
from tests.support.projection_support import cli_env

RECLAIM = str(Path(sys.executable).parent / "reclaim")


def reclaim(settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RECLAIM, *args], env=cli_env(settings), capture_output=True, text=True, timeout=120
    )


def _plain_failure(result: subprocess.CompletedProcess[str], words: str) -> None:
    assert result.returncode != 0
    assert words in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_calendar_token_is_issued_rotated_and_revoked(app, settings) -> None:
    app.keys.create("alice", "home", "auditor")
    issued = reclaim(settings, "keys", "calendar-token", "--user", "alice", "--workspace", "home")
    assert issued.returncode == 0, issued.stderr
    first = issued.stdout.strip().splitlines()[-1]
    principal = app.keys.authenticate(first, kind="calendar")
    assert principal is not None and principal.role == "auditor"  # the API key's role
    assert app.keys.authenticate(first) is None  # not an API key

    again = reclaim(settings, "keys", "calendar-token", "--user", "alice", "--workspace", "home")
    second = again.stdout.strip().splitlines()[-1]
    assert app.keys.authenticate(first, kind="calendar") is None
    assert app.keys.authenticate(second, kind="calendar") is not None

    revoked = reclaim(
        settings, "keys", "calendar-token", "--user", "alice", "--workspace", "home", "--revoke"
    )
    assert revoked.returncode == 0 and "revoked 1 calendar token" in revoked.stdout
    assert app.keys.authenticate(second, kind="calendar") is None

    nobody = reclaim(settings, "keys", "calendar-token", "--user", "zed", "--workspace", "home")
    _plain_failure(nobody, "no active API key")


def _case_with_evidence(app) -> str:
    case = as_users(app).open_credit(**credit_facts(), now=NOW).case
    blob = app.blobs.put_bytes(b"receipt 42\n", "text/plain")
    evidence = action_args("attach_evidence", sha256=blob.sha256, size=blob.size)
    as_users(app).attach_evidence(case.id, **{**evidence, "media_type": "text/plain"})
    as_users(app).submit(case.id, **action_args("submit", at(61)))
    return str(case.id)


def test_dossier_writes_a_zip_whose_files_match_their_hashes(app, settings, tmp_path) -> None:
    case_id = _case_with_evidence(app)
    target = tmp_path / "out.zip"
    written = reclaim(settings, "dossier", case_id, "--output", str(target))
    assert written.returncode == 0, written.stderr
    archive = zipfile.ZipFile(target)
    manifest = json.loads(archive.read(MANIFEST_NAME))
    paths = [entry["path"] for entry in manifest["files"]]
    # the report, the receipt, and what proves them offline (issue 28)
    assert [p for p in paths if not p.startswith("proof/")][:1] == ["case-report.pdf"]
    assert sum(p.startswith("evidence/") for p in paths) == 1 and "timeline.json" in paths
    assert {"proof/events.jsonl", "proof/head.json", "proof/public-key.pem"} <= set(paths)
    for entry in manifest["files"]:
        assert hashlib.sha256(archive.read(entry["path"])).hexdigest() == entry["sha256"]
    assert manifest["signed_head"]["position"] >= 3  # the projections were brought up to date

    _plain_failure(reclaim(settings, "dossier", "nope"), "is not a case id")
    _plain_failure(reclaim(settings, "dossier", "00000000-0000-4000-8000-000000000000"), "no case")


def test_report_writes_the_page_as_one_html_file(app, settings, tmp_path: Path) -> None:
    _case_with_evidence(app)
    target = tmp_path / "report.html"
    written = reclaim(settings, "report", "--workspace", "ws-1", "--output", str(target))
    assert written.returncode == 0, written.stderr
    page = read(target.read_text(encoding="utf-8"))
    states = {label: value for label, _, value in page.bars["chart-states"]}
    assert states["submitted"] == "1" and sum(map(int, states.values())) == 1
    assert page.urls == []  # no form, no link: it stands alone
    other = tmp_path / "other.html"
    assert (
        reclaim(settings, "report", "--workspace", "nobody", "--output", str(other)).returncode == 0
    )
    assert {v for _, _, v in read(other.read_text()).bars["chart-states"]} == {"0"}
