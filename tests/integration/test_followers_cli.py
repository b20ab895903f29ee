"""``reclaim webhooks list|add|remove|deliveries`` and ``reclaim events --follow`` as real
processes on both stores (this tree's code, whichever tree the PYTHONPATH names)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.commands import as_users
from tests.support.factories import action_args, credit_facts
from tests.support.projection_support import cli_env

COMMAND = [sys.executable, "-c", "from api.cli.main import main; main()"]


def reclaim(settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args],
        env={**cli_env(settings), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_webhooks_from_the_command_line(app, settings) -> None:
    refused = reclaim(
        settings, "webhooks", "add", "--workspace", "home", "--url", "http://10.0.0.7/"
    )
    assert refused.returncode != 0 and "private" in refused.stderr + refused.stdout
    added = reclaim(
        settings,
        "webhooks",
        "add",
        "--workspace",
        "home",
        "--url",
        "http://127.0.0.1:9/hook",
        "--type",
        "denied",
        RECLAIM_WEBHOOKS_ALLOW_PRIVATE="true",
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip().splitlines()[-1].startswith("whsec_")
    listed = reclaim(settings, "webhooks", "list", "--workspace", "home")
    assert "http://127.0.0.1:9/hook" in listed.stdout and "denied" in listed.stdout
    endpoint_id = app.webhooks.list("home")[0]["id"]
    assert reclaim(settings, "webhooks", "list", "--workspace", "agency").stdout.count("\n") == 1
    shown = reclaim(settings, "webhooks", "deliveries", "--workspace", "home", endpoint_id)
    assert shown.returncode == 0 and shown.stdout == ""
    foreign = reclaim(settings, "webhooks", "deliveries", "--workspace", "agency", endpoint_id)
    assert foreign.returncode != 0
    removed = reclaim(settings, "webhooks", "remove", "--workspace", "home", endpoint_id)
    assert removed.returncode == 0, removed.stderr
    assert app.webhooks.get("home", endpoint_id)["status"] == "disabled"


def test_events_follow_prints_json_lines(app, settings) -> None:
    users = as_users(app)
    case = users.open_credit(**credit_facts()).case
    users.open_credit(**credit_facts(workspace="agency", owner="erin", actor="erin"))
    printed = reclaim(settings, "events", "--workspace", case.workspace)
    lines = [json.loads(line) for line in printed.stdout.splitlines()]
    assert [(e["case_id"], e["type"]) for e in lines] == [(str(case.id), "opened")]
    with subprocess.Popen(
        [*COMMAND, "events", "--workspace", case.workspace, "--follow", "--poll", "0.05"],
        env=cli_env(settings),
        stdout=subprocess.PIPE,
        text=True,
    ) as follower:
        try:
            assert follower.stdout is not None
            assert json.loads(follower.stdout.readline())["type"] == "opened"
            users.submit(case.id, **action_args("submit"))
            followed = json.loads(follower.stdout.readline())
            assert (followed["type"], followed["version"]) == ("submitted", 2)
            assert followed["case"]["state"] == "submitted"
        finally:
            follower.kill()
