"""``reclaim webhooks list|add|remove|deliveries`` and ``reclaim events [--follow]``: the
log's followers from the store's own machine (as ``reclaim keys``: whoever runs them
holds the store)."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer

from api.cli.support import fail, open_app

webhooks_cli = typer.Typer(help="A workspace's webhook endpoints.", no_args_is_help=True)

Workspace = Annotated[str, typer.Option(help="The workspace")]


@webhooks_cli.command("list")
def webhooks_list(workspace: Workspace) -> None:
    """The workspace's endpoints, disabled ones included (never their secrets)."""
    with open_app() as app:
        rows = app.webhooks.list(workspace)
    typer.echo(f"{'id':<38}{'status':<10}{'types':<24}url")
    for r in rows:
        types = ",".join(r["event_types"]) or "all"
        typer.echo(f"{r['id']:<38}{r['status']:<10}{types:<24}{r['url']}")


@webhooks_cli.command("add")
def webhooks_add(
    workspace: Workspace,
    url: Annotated[str, typer.Option(help="Where to POST (http or https)")],
    event_type: Annotated[
        list[str] | None, typer.Option("--type", help="An event type wanted (repeat; none: all)")
    ] = None,
    description: Annotated[str, typer.Option(help="What it is for")] = "",
    by: Annotated[str, typer.Option(help="Who registers it")] = "cli",
) -> None:
    """Register an endpoint; its signing secret is printed alone on the last line, once."""
    from infrastructure.read import feed
    from infrastructure.webhooks import safety

    types = list(event_type or [])
    unknown = sorted(set(types) - set(feed.EVENT_TYPES))
    if unknown:
        fail(f"unknown event types: {', '.join(unknown)} (known: {', '.join(feed.EVENT_TYPES)})")
    with open_app() as app:
        try:
            safety.check_url(url, allow_private=app.settings.webhooks_allow_private)
        except safety.UnsafeURL as exc:
            fail(f"the URL {exc}")
        endpoint, secret = app.webhooks.add(
            workspace,
            url,
            types,
            description,
            by=by,
            after_position=feed.last_position(app.database),
        )
    typer.echo(f"added webhook {endpoint['id']} for {workspace}; its signing secret, shown once:")
    typer.echo(secret)


@webhooks_cli.command("remove")
def webhooks_remove(
    workspace: Workspace, endpoint_id: Annotated[str, typer.Argument(help="Its id")]
) -> None:
    """Disable an endpoint: nothing more is sent to it; its deliveries are kept."""
    with open_app() as app:
        if not app.webhooks.disable(workspace, endpoint_id, "removed from the command line"):
            fail(f"no webhook {endpoint_id} in {workspace}")
    typer.echo(f"disabled {endpoint_id}")


@webhooks_cli.command("deliveries")
def webhooks_deliveries(
    workspace: Workspace,
    endpoint_id: Annotated[str, typer.Argument(help="Its id")],
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
) -> None:
    """The endpoint's delivery log, newest first, as JSON lines."""
    with open_app() as app:
        if app.webhooks.get(workspace, endpoint_id) is None:
            fail(f"no webhook {endpoint_id} in {workspace}")
        rows = app.webhooks.deliveries(workspace, endpoint_id, limit=limit)
    for r in rows:
        r.pop("payload", None)
        typer.echo(json.dumps(r, default=str, sort_keys=True))


def events(
    workspace: Workspace,
    owner: Annotated[str | None, typer.Option(help="Only this person's cases")] = None,
    after: Annotated[int, typer.Option(min=0, help="Start after this log position")] = 0,
    follow: Annotated[bool, typer.Option("--follow", help="Keep printing new events")] = False,
    poll: Annotated[float, typer.Option(min=0.05, help="Seconds between looks")] = 0.5,
) -> None:
    """The workspace's events in log order as JSON lines (the feed's items); with
    --follow, new ones as they are recorded, until interrupted."""
    from infrastructure.read import feed

    with open_app() as app:
        while True:
            items = feed.events_after(app.database, workspace, owner, after=after, limit=500)
            for item in items:
                typer.echo(json.dumps(item, sort_keys=True))
                after = item["position"]
            if len(items) == 500:
                continue
            if not follow:
                return
            time.sleep(poll)


def register(cli: typer.Typer) -> None:
    cli.add_typer(webhooks_cli, name="webhooks")
    cli.command("events")(events)
