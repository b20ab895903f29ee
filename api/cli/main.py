"""The ``reclaim`` command line. Errors are one plain line and a non-zero exit."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated
from uuid import UUID

import typer

from api.cli.support import fail, load_settings, open_app, open_services
from api.logs import configure_logging

cli = typer.Typer(
    name="reclaim",
    help="Reclaim: an event-sourced case workflow for getting platform credits and refunds back.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
keys_cli = typer.Typer(
    help="Manage API keys (shown once, stored only as a hash).", no_args_is_help=True
)
cli.add_typer(keys_cli, name="keys")
blobs_cli = typer.Typer(help="Evidence files, kept in the store.", no_args_is_help=True)
cli.add_typer(blobs_cli, name="blobs")
audit_cli = typer.Typer(
    help="The audit log's public key and signed tree head.", no_args_is_help=True
)
cli.add_typer(audit_cli, name="audit")
master_cli = typer.Typer(
    help="The master key that wraps each person's data key.", no_args_is_help=True
)
cli.add_typer(master_cli, name="master-key")


@cli.command("erase")
def erase(
    workspace: Annotated[str, typer.Option(help="The person's workspace")],
    user: Annotated[str, typer.Option(help="The person's user id")],
) -> None:
    """Erase a person (GDPR Art. 17): destroy their data key, so that everything personal
    of theirs in the log and its files reads as erased; revoke their keys and sessions;
    rewrite the read rows of their cases. Reports' counts and the audit chain stay."""
    import secrets

    from infrastructure.service import erasure

    with open_app() as app:
        try:
            done = erasure.erase(
                app, workspace, user, by="reclaim erase", request_id="cli-" + secrets.token_hex(6)
            )
        except (erasure.UnknownPerson, erasure.Unsealed) as exc:
            fail(str(exc))
    typer.echo(
        f"erased {user} in {workspace}: {done.cases} cases, {done.keys_revoked} keys revoked, "
        f"{done.files_removed} files removed"
    )


@audit_cli.command("key")
def audit_key() -> None:
    """Print the public key the audit heads are signed with (PEM), after its key id."""
    from infrastructure.projections.audit import key_id, public_pem

    with open_app() as app:
        key = app.projections.context.signing_key
    typer.echo(f"# Ed25519 key id {key_id(key)}")
    typer.echo(public_pem(key).rstrip())


@audit_cli.command("head")
def audit_head() -> None:
    """Print the audit log's signed tree head as JSON (one line, as a witness file keeps it)."""
    import json

    from infrastructure.read.queries import audit_head as read_head
    from infrastructure.store.witness import FIELDS

    with open_app() as app:
        head = read_head(app.database)
    if head is None:
        fail("the log holds no event yet: there is no head")
    typer.echo(json.dumps({k: head[k] for k in FIELDS}, sort_keys=True))


@cli.command("verify-dossier")
def verify_dossier(
    file: Annotated[Path, typer.Argument(help="A case dossier (ZIP)")],
) -> None:
    """Check a dossier with no server and no database: every event in it is in the log its
    signed head covers (RFC 9162 proofs, Ed25519), and its timeline and files match those
    events. Exit 1 naming each problem; 2 for a file that is not a dossier. The dossier
    carries the same checker as proof/verify_dossier.py."""
    from infrastructure.projections.verify_dossier import main as check

    code = check([str(file)])
    if code:
        raise typer.Exit(code)


@cli.command("seal-log")
def seal_log() -> None:
    """Encrypt the personal data of a log written before Reclaim encrypted it (once, after
    the upgrade, with every server stopped): its events are sealed in place, its files
    stored sealed, and every projection rebuilt, the audit chain linked again over the
    sealed events. Until then nobody with older events can be erased."""
    from infrastructure.store.sealing import Unsealed
    from infrastructure.store.sealing import seal_log as seal

    with open_app() as app:
        try:
            done = seal(app)
        except Unsealed as exc:
            fail(str(exc))
    if not done.rebuilt:
        typer.echo("nothing to seal: every event with personal data is sealed")
        return
    typer.echo(
        f"sealed {done.events} events and {done.files} files; projections rebuilt "
        "(the audit chain now covers the sealed events)"
    )


@master_cli.command("new")
def master_key_new() -> None:
    """Print a new random master key (64 hex digits) to set as RECLAIM_MASTER_KEY."""
    from infrastructure.store.personal import new_master_key

    typer.echo(new_master_key())


@master_cli.command("rotate")
def master_key_rotate(
    new_key_file: Annotated[
        Path,
        typer.Option(
            "--new-key-file",
            help="A file holding the new master key (64 hex digits): never on the command line",
        ),
    ],
) -> None:
    """Re-wrap every data key under a new master key (the events are not touched). Run it
    with the current key set as usual, with every server stopped; start them again with
    RECLAIM_MASTER_KEY set to the new key (on the embedded default, the new key replaces
    the data directory's master.key)."""
    from infrastructure.store.personal import (
        MASTER_KEY_FILE,
        MasterKeyError,
        master_id,
        parse_master_key,
    )

    try:
        new = parse_master_key(new_key_file.read_text())
    except OSError as exc:
        fail(f"cannot read {new_key_file}: {exc.strerror or exc}")
    except MasterKeyError as exc:
        fail(f"{new_key_file}: {exc}")
    with open_app() as app:
        count = app.data_keys.rotate(new, also=[app.webhooks.rewrap])
        key_file = app.settings.data_dir / MASTER_KEY_FILE
        if not app.settings.master_key and key_file.exists():
            key_file.write_text(new.hex() + "\n")
            where = f"{key_file} now holds the new key"
        else:
            where = "set RECLAIM_MASTER_KEY to the new key on every node"
    typer.echo(f"re-wrapped {count} data keys under master key {master_id(new)}; {where}")


@cli.command("init")
def init() -> None:
    """Create the store's tables (run once before workers that start with table creation off)."""
    with open_app(create_tables=True):
        pass
    typer.echo("tables ready")


@cli.command("workflow")
def workflow() -> None:
    """Print the case lifecycle as a Mermaid diagram."""
    from domain.lifecycle import mermaid_diagram

    typer.echo(mermaid_diagram())


@cli.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes", min=1, max=64)] = 1,
) -> None:
    """Serve the HTTP API (uvicorn). On a first start with no keys, print a new admin key once."""
    import uvicorn

    from infrastructure.store.personal import MASTER_KEY_FILE

    settings = load_settings()
    key_file = settings.data_dir / MASTER_KEY_FILE
    made_key = not settings.master_key and not settings.uses_postgres and not key_file.exists()
    with open_app() as app:
        if made_key and key_file.exists():
            typer.echo(
                f"Made a master key in {key_file}: it opens every person's personal data. "
                "Back it up apart from the database (or set RECLAIM_MASTER_KEY)."
            )
        if app.keys.count_active() == 0:
            key, info = app.keys.create("admin", "default", "admin")
            typer.echo(
                "No API keys yet: created an admin key for user 'admin' in workspace "
                "'default'. It is shown only this once:"
            )
            typer.echo(key)
        store = (
            "PostgreSQL" if app.settings.uses_postgres else f"SQLite ({app.settings.sqlite_path})"
        )
    typer.echo(f"Reclaim on http://{host}:{port} with {store}", err=True)
    # the tables are made (above, unless turned off): the workers must not make them
    # again, all at once (on PostgreSQL concurrent CREATE ... IF NOT EXISTS fails with
    # "tuple concurrently updated" and uvicorn stops the whole server)
    os.environ["RECLAIM_CREATE_TABLES"] = "false"
    uvicorn.run(
        "api.http.app:create_served_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        # Reclaim logs each request itself, by path only: uvicorn's own access log
        # would print query strings, and a calendar token travels in one
        access_log=False,
        proxy_headers=True,
    )


@keys_cli.command("create")
def keys_create(
    user: Annotated[str, typer.Option(help="User id the key acts as")],
    workspace: Annotated[str, typer.Option(help="Workspace the user belongs to")],
    role: Annotated[str, typer.Option(help="member, auditor or admin")] = "member",
) -> None:
    """Create a key; it is printed alone on the last line, and never again."""
    from infrastructure.store.keys import InvalidKeyRequest

    with open_app() as app:
        try:
            key, info = app.keys.create(user, workspace, role)
        except InvalidKeyRequest as exc:
            fail(str(exc))
    typer.echo(f"created key {info.key_id} for {user} in {workspace} as {role}; store it now:")
    typer.echo(key)


@keys_cli.command("list")
def keys_list() -> None:
    """List keys (ids, users, roles; never the keys themselves)."""
    with open_app() as app:
        rows = app.keys.list()
    typer.echo(
        f"{'id':<14}{'kind':<10}{'user':<20}{'workspace':<20}{'role':<9}{'created':<27}revoked"
    )
    for r in rows:
        typer.echo(
            f"{r.key_id:<14}{r.kind:<10}{r.user_id:<20}{r.workspace:<20}{r.role:<9}"
            f"{r.created_at:<27}{r.revoked_at or '-'}"
        )


@keys_cli.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id from 'keys list'")],
) -> None:
    """Revoke a key by its id; requests with it are answered 401 from then on, and the
    browser sessions signed in with it end."""
    with open_app() as app:
        if not app.revoke_key(key_id):
            fail(f"no active key with id {key_id}")
    typer.echo(f"revoked {key_id}")


@keys_cli.command("calendar-token")
def keys_calendar_token(
    user: Annotated[str, typer.Option(help="User id the calendar shows deadlines for")],
    workspace: Annotated[str, typer.Option(help="Workspace the user belongs to")],
    role: Annotated[
        str | None, typer.Option(help="Scope of the feed; default: the user's newest API key's")
    ] = None,
    revoke: Annotated[bool, typer.Option("--revoke", help="Only revoke the user's tokens")] = False,
) -> None:
    """Issue a new calendar token (revoking the user's old ones), printed alone on the last
    line; calendar apps subscribe to /v1/calendar.ics?token=<it>. --revoke ends them all."""
    from infrastructure.store.keys import InvalidKeyRequest

    with open_app() as app:
        if revoke:
            count = app.keys.revoke_calendar_tokens(user, workspace)
            typer.echo(f"revoked {count} calendar token(s) of {user} in {workspace}")
            return
        if role is None:
            held = [
                k
                for k in app.keys.list(kind="api")
                if k.user_id == user and k.workspace == workspace and k.revoked_at is None
            ]
            if not held:
                fail(f"{user} has no active API key in {workspace}: create one or pass --role")
            role = held[-1].role
        try:
            token = app.keys.rotate_calendar_token(user, workspace, role)
        except InvalidKeyRequest as exc:
            fail(str(exc))
    typer.echo(f"calendar token for {user} in {workspace} ({role}); any earlier one is revoked.")
    typer.echo("Subscribe to /v1/calendar.ics?token=<the token below>; store it now:")
    typer.echo(token)


@blobs_cli.command("migrate")
def blobs_migrate() -> None:
    """Move the evidence files an older Reclaim kept in RECLAIM_DATA_DIR/evidence into the
    store: each checked against its name's SHA-256, stored, then removed. Every start
    does the same (this is a start that does nothing else and says what it moved); a
    file that does not match its name is left where it is, and the exit code is 1."""
    with open_services() as services:
        done = services.moved_files
        directory = services.settings.evidence_dir
    typer.echo(f"moved {done.moved} evidence files from {directory} into the store")
    if done.left:
        typer.echo(f"left {len(done.left)} files where they are:")
        for path, why in done.left:
            typer.echo(f"  {path}: {why}")
        raise typer.Exit(1)


def _case_id(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        fail(f"{text!r} is not a case id")


@cli.command("dossier")
def dossier(
    case_id: Annotated[str, typer.Argument(help="The case's id")],
    output: Annotated[
        Path | None, typer.Option(help="Where to write the ZIP (default: reclaim-case-ID.zip)")
    ] = None,
) -> None:
    """Write a case's dossier: a ZIP with the PDF case report, the evidence and a manifest."""
    from api.http.presenters import present_case
    from api.render.dossier import dossier_filename, write_dossier
    from infrastructure.read.report_sources import load_dossier_input
    from infrastructure.store.application import CaseNotFound

    uuid = _case_id(case_id)
    with open_app() as app:
        try:
            case = app.get_case(uuid)
        except CaseNotFound:
            fail(f"no case {case_id}")
        facts = present_case(case, app.settings).model_dump(mode="json")
        data = load_dossier_input(app, case, facts, None)
        target = output or Path(dossier_filename(case.id))
        with open(target, "wb") as file:
            write_dossier(data, file)
    typer.echo(f"wrote {target}")


@cli.command("email")
def email(
    case_id: Annotated[str, typer.Argument(help="The case's id")],
    file: Annotated[Path, typer.Argument(help="The message as saved from a mail client (.eml)")],
    direction: Annotated[
        str | None,
        typer.Option(help="from_platform or to_platform (default: guessed from the addresses)"),
    ] = None,
    user_address: Annotated[
        str | None, typer.Option(help="Your own address, to tell your mail from theirs")
    ] = None,
    action: Annotated[
        str | None, typer.Option(help="For your own mail: submit, follow_up, appeal or add_note")
    ] = None,
) -> None:
    """Record a saved e-mail on a case at its Date, keeping it and its attachments as evidence."""
    from uuid import uuid4

    from domain.errors import DomainError
    from infrastructure.service.access import acting_as_owner
    from infrastructure.service.commands import Call
    from infrastructure.service.mail import MailError, record_mail
    from infrastructure.store.application import CaseNotFound

    uuid = _case_id(case_id)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")
    with open_services() as services:
        try:
            case = services.store.get_case(uuid)
            outcome = record_mail(
                services.commands,
                uuid,
                raw,
                Call(by=acting_as_owner(case), request_id=f"cli-{uuid4().hex[:12]}"),
                direction=direction,
                user_address=user_address,
                action=action,
            )
        except CaseNotFound:
            fail(f"no case {case_id}")
        except (MailError, DomainError) as exc:
            fail(f"{exc}; nothing was recorded")
    typer.echo(outcome.detail)
    for evidence_id in outcome.evidence_ids:
        typer.echo(f"kept {evidence_id}")


@cli.command("report")
def report(
    workspace: Annotated[str, typer.Option(help="The workspace to report on")],
    user: Annotated[
        str | None, typer.Option(help="Only this user's cases (default: the whole workspace)")
    ] = None,
    output: Annotated[Path, typer.Option(help="The HTML file to write")] = Path(
        "reclaim-report.html"
    ),
) -> None:
    """Write the reports page as one self-contained HTML file, to send by mail."""
    from api.render.pages import render_reports_page
    from infrastructure.read.report_sources import load_report_data

    with open_app() as app:
        html = render_reports_page(load_report_data(app, workspace, user))
    output.write_text(html, encoding="utf-8")
    typer.echo(f"wrote {output}")


from api.cli.followers import register as register_follower_commands  # noqa: E402
from api.cli.projections import register as register_projection_commands  # noqa: E402

register_projection_commands(cli)
register_follower_commands(cli)


def main() -> None:
    configure_logging()
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)
