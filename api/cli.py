"""The ``reclaim`` command line."""

from __future__ import annotations

import typer

cli = typer.Typer(
    name="reclaim",
    help="Reclaim: an event-sourced case workflow for getting platform credits and refunds back.",
    no_args_is_help=True,
    add_completion=False,
)


@cli.command("init")
def init() -> None:
    """Create the store's tables (run once before workers that start with table creation off)."""
    from infrastructure.application import ReclaimApplication
    from infrastructure.settings import Settings

    settings = Settings().model_copy(update={"create_tables": True})
    app = ReclaimApplication(settings)
    app.close()
    typer.echo("tables ready")


@cli.command("workflow")
def workflow() -> None:
    """Print the case lifecycle as a Mermaid diagram."""
    from domain.lifecycle import mermaid_diagram

    typer.echo(mermaid_diagram())


def main() -> None:
    cli()
