"""The application service: one ``eventsourcing`` Application per process.

It keeps the events and everything saved beside them (keys, idempotency records,
sessions, templates, blobs, the inline projections). The commands themselves, with
their access checks, versions and retries, are the service layer's
(``infrastructure.service.commands``).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import (
    IntegrityError,
    Mapper,
    Notification,
    Recording,
    Transcoder,
    Transcoding,
)

from domain.cases import Case, Credit, Dispute
from infrastructure.mail.inbox import Inbox
from infrastructure.mail.store import MailStore
from infrastructure.projections.feed import public_facts
from infrastructure.projections.inline import (
    InlineProjections,
    InlineSave,
    create_projection_tables,
    lag_behind,
    projection_context,
)
from infrastructure.settings import Settings, get_settings
from infrastructure.store import shared_keys
from infrastructure.store.blobs import BlobStore
from infrastructure.store.database import Database
from infrastructure.store.forward import Forwarder, Registry, decode_save, encode_save
from infrastructure.store.group_commit import GroupCommitter
from infrastructure.store.idempotency import IdempotencyRecord, IdempotencyStore
from infrastructure.store.keys import KeyStore
from infrastructure.store.personal import DataKeys, PersonalMapper, master_key_from
from infrastructure.store.sessions import SessionStore
from infrastructure.store.templates import TemplateStore
from infrastructure.store.topics import register_legacy_topics
from infrastructure.store.witness import Witness
from infrastructure.webhooks.store import WebhookStore


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class CaseNotFound(Exception):
    def __init__(self, case_id: object) -> None:
        super().__init__(f"case {case_id} not found")
        self.case_id = case_id


class VersionMismatch(Exception):
    """``If-Match`` named a version the case has moved on from."""

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(f"the case is at version {actual}, not {expected}")
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True)
class CommandResult:
    case: Case
    #: the notification log position of the last event this command recorded
    position: int | None


class ReclaimApplication(Application[UUID]):
    name = "Reclaim"

    def __init__(self, settings: Settings | None = None) -> None:
        register_legacy_topics()
        self.settings = settings or get_settings()
        interval = self.settings.snapshot_interval
        self.snapshotting_intervals = {Credit: interval, Dispute: interval} if interval else {}
        super().__init__(env=self.settings.eventsourcing_env())
        self.database = Database(
            self.recorder.datastore,  # type: ignore[attr-defined]
            "postgres" if self.settings.uses_postgres else "sqlite",
        )
        self.keys = KeyStore(self.database, cache_seconds=self.settings.key_cache_seconds)
        self.idempotency = IdempotencyStore(self.database)
        #: the case book's and reports page's sign-ins
        self.sessions = SessionStore(self.database)
        #: workspaces' own draft templates
        self.templates = TemplateStore(self.database)
        self.blobs = BlobStore(self.database, self.settings.data_dir / "tmp")
        #: each person's data key (``personal.py``), unwrapped by the master key
        self.data_keys = DataKeys(
            self.database,
            master_key_from(
                self.settings.master_key,
                self.settings.data_dir,
                file_allowed=not self.settings.uses_postgres,
            ),
            recheck_seconds=self.settings.key_cache_seconds,
        )
        self.data_keys.on_erased = self._forget_erased
        #: webhook endpoints and deliveries (their secrets sealed by the master key)
        self.webhooks = WebhookStore(self.database, self.data_keys.master)
        #: each person's mail settings (their address sealed) and each mail sent
        self.mail = MailStore(self.database, self.data_keys)
        #: what became of each message read from the mailbox (unmatched mail sealed)
        self.inbox = Inbox(self.database, self.data_keys)
        if self.settings.personal_data_encryption:
            self.mapper.keys = self.data_keys
        #: who the store's writer is (``forward.py``)
        self.registry = Registry(self.database)
        #: set while this process is a follower: its saves go to the writer
        self.forwarder: Forwarder | None = None
        if self.settings.create_tables:
            shared_keys.create_tables(self.database)  # (the audit head's key is one)
            self.data_keys.create_tables()
        self.data_keys.check_master()
        #: where each committed audit head is sent, out of the store (``witness.py``)
        self.witness = Witness(self.settings.audit_witness, self.settings.audit_witness_url)
        #: every projection, written in the transaction of the events it reads
        context = projection_context(self.settings, self.database)
        self.projections = InlineProjections(self.database, context)
        self.recorder.inline = self.projections  # type: ignore[attr-defined]
        self.committer = (
            GroupCommitter(self._save_batch, max_batch=self.settings.group_commit_max)
            if self.settings.group_commit
            else None
        )
        if self.settings.create_tables:
            self.create_tables()

    def close(self) -> None:
        self.witness.close()
        super().close()

    def create_tables(self) -> None:
        """Reclaim's own tables beside the library's (which the library creates itself)."""
        self.keys.create_tables()
        self.idempotency.create_tables()
        self.sessions.create_tables()
        self.templates.create_tables()
        self.registry.create_tables()
        self.blobs.create_tables()
        self.webhooks.create_tables()
        self.mail.create_tables()
        self.inbox.create_tables()
        create_projection_tables(self.database, self.projections.projections.values())

    mapper: PersonalMapper

    def construct_mapper(self) -> Mapper[UUID]:
        """The library's mapper, sealing each event's personal fields under its case
        owner's data key (given to it once the store is open)."""
        return PersonalMapper(self.construct_transcoder(), None)

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        """The library's save (``EventStore.put``), with the projections' rows in the
        events' transaction, and each event encoded with its case (whose data key seals
        its personal fields)."""
        events = processing_event.events
        aggregates = processing_event.aggregates
        processing_event.saved_kwargs["inline"] = InlineSave(
            events, aggregates, self._facts_after(events)
        )
        encode = self.mapper.encode
        stored = [encode(e, aggregates.get(e.originator_id)) for e in events]
        ids = self.recorder.insert_events(
            stored, tracking=processing_event.tracking, **processing_event.saved_kwargs
        )
        recordings = [
            Recording(
                d,
                Notification(
                    originator_id=s.originator_id,
                    originator_version=s.originator_version,
                    topic=s.topic,
                    state=s.state,
                    id=i,
                ),
            )
            for d, s, i in zip(events, stored, ids or (), strict=False)
        ]
        cache = self.repository.cache
        if cache and not self.repository.fastforward:
            for aggregate_id, aggregate in aggregates.items():
                cache.put(aggregate_id, aggregate)
        if self.witness.on:  # (the head the save signed has committed with it)
            self.witness.offer(getattr(self.projections.projections.get("audit"), "written", None))
        return recordings

    def _facts_after(self, events: Sequence[Any]) -> list[dict[str, Any] | None] | None:
        """Where a save holds several events of one case (an import, a generated log), the
        case's public fields just after each of them, folded from the case as it stood
        before the save, as a rebuild's fold gives them (``projections/feed.py``)."""
        counts = Counter(e.originator_id for e in events)
        if all(n == 1 for n in counts.values()):
            return None
        folded: dict[Any, Any] = {}
        facts: list[dict[str, Any] | None] = []
        for event in events:
            case_id = event.originator_id
            if counts[case_id] == 1:
                facts.append(None)
                continue
            if case_id not in folded:
                first = event.originator_version
                folded[case_id] = (
                    None if first == 1 else self.repository.get(case_id, version=first - 1)
                )
            folded[case_id] = event.mutate(folded[case_id])
            facts.append(public_facts(folded[case_id]))
        return facts

    def _forget_erased(self, keys: Sequence[Any]) -> None:
        """Another node erased these people: drop this process's copies of their cases,
        which still hold what was decrypted before (read again, they read as erased)."""
        if self.repository.cache is None:
            return
        for key in keys:
            for case_id in self.case_ids_of(key.workspace, key.user_id):
                self.forget(case_id)

    def case_ids_of(self, workspace: str, owner: str) -> list[UUID]:
        """Every case the person owns (from the case list, written with the events)."""
        rows = self.database.fetchall(
            "SELECT case_id FROM reclaim_case_list WHERE workspace = %s AND owner = %s "
            "ORDER BY opened_position",
            (workspace, owner),
        )
        return [UUID(r["case_id"]) for r in rows]

    def projection_lag(self) -> dict[str, int]:
        """How many positions each projection is behind the end of the log: 0 for every
        projection written inline, more only for one being caught up or rebuilt."""
        return lag_behind(self.projections.positions(), self.recorder.max_notification_id())

    def files_of(self, case: Case) -> BlobStore:
        """The evidence store as the case's owner has it: files sealed under their key."""
        if self.mapper.keys is None:
            return self.blobs
        return self.blobs.for_key(self.data_keys.for_subject(case.workspace, case.owner))

    def revoke_key(self, key_id: str) -> bool:
        """Revoke an API key and end every browser session signed in with it."""
        revoked = self.keys.revoke(key_id)
        self.sessions.end_for_key(key_id)
        return revoked

    def register_transcodings(self, transcoder: Transcoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    # --- queries ---------------------------------------------------------------------------
    def get_case(
        self,
        case_id: UUID,
        *,
        version: int | None = None,
        as_of: datetime | None = None,
    ) -> Case:
        """The case now, at a past ``version``, or as Reclaim knew it at ``as_of``."""
        try:
            if as_of is not None:
                return self._case_as_of(case_id, as_of)
            case = self.repository.get(case_id, version=version)
            cache = self.repository.cache
            if version is None and cache is not None and not self.repository.fastforward:
                # the cache is not fast-forwarded for commands (a stale copy only costs a
                # conflict and a retry); a read catches up with what other processes wrote
                for newer in self.events.get(case_id, gt=case.version):
                    case = newer.mutate(case)
        except AggregateNotFoundError:
            raise CaseNotFound(case_id) from None
        if not isinstance(case, Case):
            raise CaseNotFound(case_id)
        return case

    def case_for_command(self, case_id: UUID) -> Case:
        """The case to act on: from the cache when there is one. On the writer the cached
        copy is taken as it is (a copy made stale by another process, such as the command
        line's import, costs a conflict and a retry at the save, and a refusal is checked
        against the store before it is given, ``CaseCommands.change``); on a follower it is
        first brought up to date from the store (``follow``)."""
        try:
            case = self.repository.get(case_id)
        except AggregateNotFoundError:
            raise CaseNotFound(case_id) from None
        if not isinstance(case, Case):
            raise CaseNotFound(case_id)
        return case

    def is_stale(self, case: Case) -> bool:
        """Whether the store holds events of ``case`` newer than this copy of it (written
        by another process since this one cached it): one indexed read."""
        return self.stored_versions([case.id]).get(case.id, 0) > case.version

    def stored_versions(self, case_ids: Sequence[UUID]) -> dict[UUID, int]:
        """Each case's last version in the store (none for a case it does not hold): one
        read through the events' key."""
        ids = list(dict.fromkeys(case_ids))
        if not ids:
            return {}
        keys: list[Any] = ids if self.database.is_postgres else [i.hex for i in ids]
        marks = ", ".join(["%s"] * len(keys))
        table = self.recorder.events_table_name  # type: ignore[attr-defined]
        rows = self.database.fetchall(
            f"SELECT originator_id, MAX(originator_version) AS version FROM {table} "
            f"WHERE originator_id IN ({marks}) GROUP BY originator_id",
            keys,
        )
        # (SQLite keeps each id as its hex digits)
        return {UUID(str(r["originator_id"])): r["version"] for r in rows}

    def follow(self, forwarder: Forwarder | None) -> None:
        """Become a follower (``forwarder``: where its saves go) or, with None, the writer.
        A follower's cached cases are brought up to date from the store each time they
        are read (the library's fast-forward); the writer's are taken as they are, so a
        new writer starts with an empty cache."""
        self.forwarder = forwarder
        self.repository.fastforward = forwarder is not None
        if forwarder is None and self.repository.cache is not None:
            self.repository.cache = type(self.repository.cache)(self.settings.aggregate_cache_size)

    def forget(self, case_id: UUID) -> None:
        """Drop a cached copy that lost a race, so the retry reads the store."""
        if self.repository.cache is not None:
            with contextlib.suppress(KeyError):
                self.repository.cache.get(case_id, evict=True)

    def _case_as_of(self, case_id: UUID, as_of: datetime) -> Case:
        case: Any = None
        for domain_event in self.events.get(case_id):
            if domain_event.timestamp > as_of:
                break
            case = domain_event.mutate(case)
        if case is None:
            raise AggregateNotFoundError(case_id)
        return case

    def case_events(self, case_id: UUID) -> Iterator[Any]:
        return self.events.get(case_id)

    # --- saving -------------------------------------------------------------------------
    def save_case(
        self, case: Case, *, idempotency: IdempotencyRecord | None = None
    ) -> CommandResult:
        """Save the case's new events, and the command's idempotency record, in one
        transaction: with other commands' through group commit when it is on."""
        forwarder = self.forwarder
        if forwarder is not None:
            stored = [self.mapper.encode(e, case) for e in case.collect_events()]
            return CommandResult(case, forwarder.save(encode_save(case.id, stored, idempotency)))
        extra: dict[str, Any] = {} if idempotency is None else {"idempotency": idempotency}
        if self.committer is not None:
            return CommandResult(case, self.committer.save(case, extra))
        recordings = self._save_batch([case], {k: [v] for k, v in extra.items()})
        return CommandResult(case, recordings[-1].notification.id if recordings else None)

    def save_forwarded(self, message: dict[str, Any]) -> int | None:
        """(On the writer) a follower's save: its events folded onto this process's copy
        of the case, which must be the version they follow (else IntegrityError: the
        follower's command retries on the case as it is now), and saved as a command of
        its own would be."""
        case_id, stored, idempotency = decode_save(message)
        events = [self.mapper.to_domain_event(item) for item in stored]
        first = events[0].originator_version
        case: Any = None
        if first > 1:
            case = self.case_for_command(case_id)
            if case.version != first - 1:
                self.forget(case_id)
                stale = f"case {case_id} is at version {case.version}, not {first - 1}"
                raise IntegrityError(stale)
        for event in events:
            case = event.mutate(case)
        case._pending_events.extend(events)  # noqa: SLF001 - as if its command had run here
        return self.save_case(case, idempotency=idempotency).position

    def _save_batch(self, cases: Sequence[Case], extra: dict[str, Any]) -> list[Any]:
        """Save cases in one transaction, with their commands' extra rows: the library's
        ``save``, but the pending events collected from the cases directly. ``save``
        asks of every object it is given whether it is a domain event, and then whether
        it has events to collect, against the library's runtime-checkable protocols;
        on Python 3.11 each such ``isinstance`` walks the protocol's classes again (about
        2 % of the server's CPU at 16 clients, sampled with py-spy)."""
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for case in cases:
            processing_event.events.extend(case.collect_events())
            processing_event.aggregates[case.id] = case
        processing_event.saved_kwargs.update(extra)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        self.notify(processing_event.events)  # (the library's deprecated hook, as in save)
        return recordings

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """A snapshot of each case whose save reached a multiple of its snapshot interval,
        taken of the case just saved. The library's ``take_snapshot`` reads the case
        back from the store first, its last snapshot and every event since (up to an
        interval's worth, decoded): the same state, which the saving command holds."""
        if self.snapshots is None:
            return
        due: dict[UUID, Case] = {}
        for event in processing_event.events:
            case = processing_event.aggregates.get(event.originator_id)
            if not isinstance(case, Case):
                continue
            interval = self.snapshotting_intervals.get(type(case))
            if interval and event.originator_version % interval == 0:
                due[case.id] = case
        if due:
            self.snapshots.put([type(case).Snapshot.take(case) for case in due.values()])
