"""The projection commands of the ``reclaim`` command line: project, replay, verify,
export and import. ``api/cli/main.py`` registers them with ``register(cli)``.

Every failure is one plain line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli.support import fail, open_app

BatchOption = Annotated[
    int, typer.Option("--batch-size", min=1, max=10_000, help="Events per transaction")
]


class _Bar:
    """What the commands see of a progress bar: count events, set the total."""

    def __init__(self, bar: Any, task: Any) -> None:
        self.bar, self.task = bar, task

    def advance(self, events: int) -> None:
        self.bar.advance(self.task, events)

    def total(self, events: int) -> None:
        self.bar.update(self.task, total=events)


@contextlib.contextmanager
def _events_bar(description: str, total: int | None) -> Iterator[_Bar]:
    """A progress bar counting events, with the rate in events per second."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.0f} events/s" if speed else "- events/s")

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, Rate(), TimeElapsedColumn()) as progress:
        yield _Bar(progress, progress.add_task(description, total=total))


def project(batch_size: BatchOption = 2000) -> None:
    """Catch up the projections that are behind the log (one added by an upgrade, or
    tables that were emptied); the others are written with every command already."""
    from infrastructure.projections.locks import ProjectorBusy
    from infrastructure.projections.projector import Projector

    with open_app() as app:
        projector = Projector(app, batch_size=batch_size)
        behind = {name: lag for name, lag in projector.lag().items() if lag}
        if not behind:
            typer.echo("every projection is up to date (they are written with the events)")
            return
        started = time.monotonic()
        names = ", ".join(behind)
        with _events_bar(f"building {names}", max(behind.values())) as bar:
            try:
                read = projector.catch_up(timeout=3, progress=bar.advance)
            except ProjectorBusy:
                fail("a rebuild is running (reclaim replay or project): let it finish first")
    seconds = time.monotonic() - started
    typer.echo(f"built {names} from {read} events in {seconds:.1f}s")


def replay(batch_size: BatchOption = 2000) -> None:
    """Rebuild every projection from position zero into new tables, with a progress bar;
    readers keep the old tables until the new ones are swapped in, in one transaction."""
    from infrastructure.projections.locks import ProjectorBusy
    from infrastructure.projections.projector import NAMES, Projector, count_events

    with open_app() as app:
        started = time.monotonic()
        with _events_bar("replaying", count_events(app)) as bar:
            try:
                replayed = Projector(app, batch_size=batch_size).rebuild(
                    timeout=3, progress=bar.advance
                )
            except ProjectorBusy:
                fail("a rebuild is running (reclaim replay or project): let it finish first")
    seconds = time.monotonic() - started
    typer.echo(
        f"replayed {replayed} events into {len(NAMES)} projections in {seconds:.1f}s "
        f"({replayed / max(seconds, 1e-9):,.0f} events/s)"
    )


def verify(
    witness: Annotated[
        Path | None,
        typer.Option(
            help="A witness file (RECLAIM_AUDIT_WITNESS): the log must still extend every "
            "signed head in it"
        ),
    ] = None,
) -> None:
    """Check the audit chain, tree and signed head, and every projection; exit 1 naming
    the first problem.

    The chain and the tree are recomputed from the stored events, and each projection
    compared row for row with a replay of the log. With --witness, a log cut short or
    rolled back to an older head fails, naming the head it no longer extends."""
    from infrastructure.projections.verify import verify as verify_log
    from infrastructure.store.witness import WitnessError, read_witness

    witnessed: list = []
    if witness is not None:
        try:
            witnessed = read_witness(witness)
        except WitnessError as exc:
            fail(str(exc))
    with open_app() as app:
        report = verify_log(app, witnessed=witnessed)
    if report.ok:
        seen = f"; it extends all {len(witnessed)} witnessed heads" if witness else ""
        typer.echo(
            f"ok: {report.events_checked} events checked; the chain and the tree reach their "
            f"signed head (position {report.head_position}) and every projection matches a "
            f"replay{seen}"
        )
        return
    first = report.first_problem
    more = len(report.problems) - 1
    typer.echo(f"verify failed: {first}" + (f" (and {more} more problems)" if more else ""))
    raise typer.Exit(1)


def export(
    file: Annotated[Path, typer.Argument(help="Where to write the log (JSON lines)")],
    force: Annotated[bool, typer.Option(help="Overwrite the file if it exists")] = False,
) -> None:
    """Write the whole event log to FILE as JSON lines."""
    from infrastructure.projections.projector import count_events
    from infrastructure.store.transfer import export_log

    if file.exists() and not force:
        fail(f"{file} exists (use --force to overwrite it)")
    partial = file.with_name(file.name + ".partial")
    with open_app() as app:
        try:
            with (
                _events_bar("exporting", count_events(app)) as bar,
                partial.open("w", encoding="utf-8") as out,
            ):
                written = export_log(app, out, bar.advance)
            partial.replace(file)
        except OSError as error:
            partial.unlink(missing_ok=True)
            fail(f"cannot write {file}: {error.strerror or error}")
    typer.echo(f"exported {written} events to {file}")


def import_(
    file: Annotated[Path, typer.Argument(help="A log written by 'reclaim export'")],
) -> None:
    """Load FILE into this store, which must be empty, then build the projections."""
    from infrastructure.projections.locks import ProjectorBusy
    from infrastructure.projections.projector import Projector
    from infrastructure.store.transfer import TransferError, import_log

    if not file.is_file():
        fail(f"{file}: no such file")
    with open_app() as app:
        with _events_bar("importing", None) as bar:
            try:
                result = import_log(app, file, bar.advance, on_checked=bar.total)
            except TransferError as error:
                fail(f"cannot import {file}: {error}")
        typer.echo(f"imported {result.events} events from {file}")
        typer.echo(f"carried {result.files} evidence files")
        for table, count in result.rows.items():
            typer.echo(f"carried {count} rows of {table}")
        typer.echo("idempotency records stay behind: a retried request is new to this store")
        try:
            with _events_bar("projecting", result.events) as bar:
                Projector(app).catch_up(progress=bar.advance)
        except ProjectorBusy:
            typer.echo("a rebuild is running: it will bring the projections up to date")


def register(cli: typer.Typer) -> None:
    cli.command("project")(project)
    cli.command("replay")(replay)
    cli.command("verify")(verify)
    cli.command("export")(export)
    cli.command("import")(import_)
