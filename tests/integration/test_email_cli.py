"""``reclaim email`` records a saved mail on a case from the command line, on both stores."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from tests.support.commands import as_users
from tests.support.mail import MAIL
from tests.support.projection_support import cli_env


# --- the command line --------------------------------------------------------------------------
def test_reclaim_email_records_a_message_from_the_command_line(settings) -> None:
    from infrastructure.store.application import ReclaimApplication

    app = ReclaimApplication(settings)
    try:
        opened = as_users(app).open_credit(
            owner="alice",
            workspace="home",
            platform="temu",
            account_reference="temu-4411",
            credit_type="store",
            amount="25.00",
            currency="USD",
            problem="expired",
            remedy="reinstate",
            occurred_at=datetime(2026, 3, 12, tzinfo=UTC),
            actor="alice",
            request_id="t",
        )
        cid = str(opened.case.id)
        as_users(app).submit(
            opened.case.id,
            channel="email",
            reference="T-1",
            message="x",
            occurred_at=datetime(2026, 3, 13, tzinfo=UTC),
            actor="alice",
            request_id="t",
        )
    finally:
        app.close()
    reclaim = str(Path(sys.executable).parent / "reclaim")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [reclaim, *args], env=cli_env(settings), capture_output=True, text=True, timeout=120
        )

    done = run("email", cid, str(MAIL / "temu_reply_alternative_pdf.eml"))
    assert done.returncode == 0, done.stderr
    assert "recorded as record response at 2026-03-17T10:12:04+00:00" in done.stdout
    assert done.stdout.count("kept ev_") == 2
    again = run("email", cid, str(MAIL / "temu_reply_alternative_pdf.eml"))
    assert again.returncode == 0 and "nothing new recorded" in again.stdout
    bad = run("email", cid, str(MAIL / "missing_date.eml"))
    assert bad.returncode != 0 and "no Date header" in bad.stderr
    assert "Traceback" not in bad.stderr
