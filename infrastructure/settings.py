"""All of Reclaim's configuration, read from the environment by one class."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.deadlines import (
    EXPIRY_WARNING_DAYS,
    FOLLOW_UP_DAYS,
    FOLLOW_UP_DAYS_DEFAULT,
    DeadlinePolicy,
)
from infrastructure.mail.prefs import ADDRESS


class Settings(BaseSettings):
    """Environment variables, each prefixed ``RECLAIM_``.

    Dict-valued settings are JSON, e.g. ``RECLAIM_FOLLOW_UP_DAYS='{"temu": 3}'``.
    """

    # (a refused value is not repeated in the error: a URL may hold a password)
    model_config = SettingsConfigDict(
        env_prefix="RECLAIM_", extra="ignore", hide_input_in_errors=True
    )

    data_dir: Path = Field(
        default=Path("./reclaim-data"),
        description="The SQLite file (when no database URL is set), uploads while they "
        "arrive, and the audit signing key when none is set. Evidence files are in the store.",
    )
    database_url: str | None = Field(
        default=None,
        description="A postgresql:// URL selects PostgreSQL; unset means the SQLite file.",
    )
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    max_json_bytes: int = Field(default=1024 * 1024, gt=0)
    follow_up_days: dict[str, int] = Field(default_factory=lambda: dict(FOLLOW_UP_DAYS))
    follow_up_days_default: int = Field(default=FOLLOW_UP_DAYS_DEFAULT, gt=0)
    appeal_window_days: dict[str, int] = Field(default_factory=dict)
    expiry_warning_days: list[int] = Field(default_factory=lambda: list(EXPIRY_WARNING_DAYS))
    audit_signing_key: str | None = Field(
        default=None,
        repr=False,
        description="The audit head's Ed25519 private key: 64 hex digits (its seed; any other "
        "text is hashed into one). Unset: one generated once and kept in the store.",
    )
    master_key: str | None = Field(
        default=None,
        repr=False,
        description="32 bytes (64 hex digits) that wrap each person's data key. Required "
        "on PostgreSQL, the same on every node; on SQLite, unset means the data directory's "
        "master.key, made on first start. Make one with `reclaim master-key new`.",
    )
    erasure_ledger: Path | None = Field(
        default=None,
        description="A file, outside the database, where every erasure is also written "
        "(default: erasures.jsonl in the data directory). At start each one the store does "
        "not hold (a restore from a backup made before it) is carried out again. With "
        "several nodes, give them all one path on storage backed up apart from the database.",
    )
    personal_data_encryption: bool = Field(
        default=True,
        description="Seal personal fields and files under their owner's data key. Off only "
        "to measure what sealing costs (python3 dev.py bench): what is written with it off "
        "is kept in clear and cannot be erased by destroying a key.",
    )
    audit_witness: Path | None = Field(
        default=None,
        description="A file outside the database to which each new signed audit head is "
        "appended (at most one a second), for `reclaim verify --witness`.",
    )
    audit_witness_url: str | None = Field(
        default=None,
        description="A URL each new signed audit head is also POSTed to (JSON).",
    )
    snapshot_interval: int = Field(
        default=50, ge=0, description="Snapshot a case every N events (0 turns snapshots off)."
    )
    create_tables: bool = Field(
        default=True,
        description="Create tables at start. Turn off on API workers and projectors that "
        "share a PostgreSQL server with an init step (docker-compose does).",
    )
    group_commit: bool = Field(
        default=True, description="Save concurrent commands together in one transaction."
    )
    group_commit_max: int = Field(default=100, gt=0, description="Most commands in one batch.")
    aggregate_cache_size: int = Field(
        default=10_000, ge=0, description="Cases kept in memory between commands (0: off)."
    )
    ready_max_lag: int = Field(
        default=1000,
        ge=0,
        description="/readyz fails when a projection is further behind (only one being "
        "caught up by `reclaim project` can be: the others are written with the events).",
    )
    key_cache_seconds: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="How long a verified API key is trusted without asking the store again "
        "(0: every request asks); a key revoked on another node stops working within it.",
    )
    sqlite_lock_timeout: int = Field(
        default=5, gt=0, description="Seconds to wait for a locked SQLite file."
    )
    node_host: str = Field(
        default="127.0.0.1",
        description="Where this process listens for the other processes' saves while it is "
        "the store's writer (0.0.0.0 to take them from other hosts).",
    )
    node_port: int = Field(
        default=0, ge=0, le=65535, description="Its port (0: any free one, published)."
    )
    node_advertise: str | None = Field(
        default=None,
        description="The host name other processes reach it by (default: node_host, or "
        "this host's name when that is 0.0.0.0).",
    )
    # --- the log's followers: the event stream and webhooks (issue 29) ---
    webhooks_allow_private: bool = Field(
        default=False,
        description="Let webhook endpoints be on loopback, private and link-local addresses "
        "(a private deployment; otherwise they are refused, at registration and at connect).",
    )
    webhooks_dispatch: bool = Field(
        default=True,
        description="Run the webhook dispatcher beside the store's writer (a process of its "
        "own, started once an endpoint is registered).",
    )
    webhook_nice: int = Field(
        default=19,
        ge=0,
        le=19,
        description="The dispatcher process's niceness: at 19 the commands have the cores "
        "first and deliveries catch up when the load eases; 0 shares the cores evenly.",
    )
    webhook_idle: bool = Field(
        default=True,
        description="Run the dispatcher process under Linux's SCHED_IDLE: it is given a core "
        "only when nothing else wants one, and gives it up the moment another process "
        "wakes (at nice 19 alone a waking command may wait out its time slice). Elsewhere "
        "the niceness alone applies.",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Longest a delivery may take, connecting included."
    )
    webhook_retry_seconds: list[float] = Field(
        default_factory=lambda: [5, 300, 1800, 7200, 18000, 36000, 36000],
        description="The wait before each retry after a failed attempt (each with jitter of "
        "up to a fifth); after the last, the delivery is failed. The default spans 27 hours.",
    )
    webhook_failing_after: int = Field(
        default=3, gt=0, description="Failed attempts in a row that mark an endpoint failing."
    )
    webhook_poll_seconds: float = Field(
        default=0.25, gt=0, description="How often the dispatcher and streams look for events."
    )
    events_stream_seconds: float = Field(
        default=300.0,
        gt=0,
        description="How long one event stream connection lasts; the client then resumes "
        "with Last-Event-ID (so a server can shut down without waiting on it).",
    )
    # --- mail: reminders by e-mail, drafts sent from the case, replies read (issue 30) ---
    smtp_url: str | None = Field(
        default=None,
        repr=False,
        description="Where mail is sent: smtp://user:password@host:587 (STARTTLS, required) "
        "or smtps://user:password@host:465 (TLS from the start). Unset: nothing is sent, and "
        "the case book says so. Its credentials are never logged or shown.",
    )
    mail_from: str | None = Field(
        default=None,
        description="The sender of every mail Reclaim sends (reclaim@example.org); its domain "
        "is the domain of each Message-ID. Required for sending.",
    )
    platform_mail: dict[str, str] = Field(
        default_factory=dict,
        description="Each platform's known e-mail address, by platform slug "
        '({"temu": "support@temu.com"}, JSON): where a draft sent from the case goes '
        "when the sender names no address.",
    )
    smtp_ca_file: Path | None = Field(
        default=None,
        description="A PEM file of the certificate authorities the SMTP server's certificate "
        "is checked against (default: the system's). For a private mail server.",
    )
    smtp_timeout_seconds: float = Field(
        default=20.0, gt=0, description="Longest one SMTP conversation may stall."
    )
    public_url: str = Field(
        default="http://localhost:8000",
        description="Where people reach this Reclaim: the links in mail (cases, unsubscribe).",
    )
    mail_poll_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How often the outbox plans digests (it looks for mail due every second).",
    )
    mail_retry_seconds: list[float] = Field(
        default_factory=lambda: [30, 120, 600, 1800, 3600, 7200],
        description="The wait before each retry of a mail the server did not take (the "
        "server down, slow, or refusing the login); after the last, that mail is failed.",
    )
    digest_within_days: int = Field(
        default=7, ge=0, le=366, description="How far ahead a daily digest looks."
    )
    imap_url: str | None = Field(
        default=None,
        repr=False,
        description="The mailbox replies are read from: imap://user:password@host:143/Folder "
        "(STARTTLS, required) or imaps://user:password@host:993/Folder (TLS from the start); "
        "the folder defaults to INBOX. Unset: no mail is read. Its credentials are never "
        "logged or shown.",
    )
    imap_workspace: str | None = Field(
        default=None,
        description="The workspace whose cases the mailbox's mail is filed into, and whose "
        "admins see its unmatched mail. Required for reading.",
    )
    imap_ca_file: Path | None = Field(
        default=None,
        description="A PEM file of the certificate authorities the IMAP server's certificate "
        "is checked against (default: the system's). For a private mail server.",
    )
    imap_poll_seconds: float = Field(
        default=60.0, gt=0, description="How often the mailbox is looked at for new mail."
    )
    imap_timeout_seconds: float = Field(
        default=20.0, gt=0, description="Longest one IMAP conversation may stall."
    )
    pool_size: int = Field(default=10, gt=0)
    pool_max_overflow: int = Field(default=10, ge=0)
    connect_timeout: int = Field(default=2, gt=0, description="Seconds to connect to PostgreSQL.")

    @model_validator(mode="after")
    def _check_deadline_policy(self) -> Settings:
        # bad day counts are refused at start, not on the first request that needs them
        self.deadline_policy()
        return self

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        scheme = urlsplit(value).scheme
        if scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
            raise ValueError("RECLAIM_DATABASE_URL must be a postgresql:// URL")
        return value

    @field_validator("smtp_url")
    @classmethod
    def _check_smtp_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if urlsplit(value).scheme not in ("smtp", "smtps") or not urlsplit(value).hostname:
            # (the value itself is not repeated: it may hold a password)
            raise ValueError("RECLAIM_SMTP_URL must be smtp://host[:port] or smtps://host[:port]")
        return value

    @field_validator("imap_url")
    @classmethod
    def _check_imap_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if urlsplit(value).scheme not in ("imap", "imaps") or not urlsplit(value).hostname:
            # (the value itself is not repeated: it may hold a password)
            raise ValueError(
                "RECLAIM_IMAP_URL must be imap://user:password@host[:port][/folder] or imaps://…"
            )
        try:
            _ = urlsplit(value).port
        except ValueError:
            raise ValueError(
                "RECLAIM_IMAP_URL's port is not a number: percent-encode ':', '/' and '@' in "
                "its user and password"
            ) from None
        return value

    @property
    def imap_configured(self) -> bool:
        """Whether a mailbox is read: a server and the workspace it files into."""
        return bool(self.imap_url and self.imap_workspace)

    @field_validator("platform_mail")
    @classmethod
    def _check_platform_mail(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [slug for slug, address in value.items() if not ADDRESS.fullmatch(address)]
        if bad:
            raise ValueError(
                "RECLAIM_PLATFORM_MAIL must map each platform to one plain e-mail address; "
                f"not one: {', '.join(sorted(bad))}"
            )
        return {slug.lower(): address for slug, address in value.items()}

    @property
    def mail_configured(self) -> bool:
        """Whether mail can be sent: a server and a sender."""
        return bool(self.smtp_url and self.mail_from)

    @property
    def uses_postgres(self) -> bool:
        return self.database_url is not None

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "reclaim.sqlite3"

    @property
    def evidence_dir(self) -> Path:
        """Where Reclaim kept evidence files before they moved into the store: any still
        there are moved in at start (``BlobStore.move_files_in``)."""
        return self.data_dir / "evidence"

    def deadline_policy(self) -> DeadlinePolicy:
        """The deadline settings as the domain's policy object (it checks the numbers):
        the same object for the same settings, with what it has worked out."""
        return _policy(
            tuple(sorted(self.follow_up_days.items())),
            self.follow_up_days_default,
            tuple(sorted(self.appeal_window_days.items())),
            tuple(self.expiry_warning_days),
        )

    def postgres_parts(self) -> dict[str, str]:
        """The database URL split into the parts the library's POSTGRES_* settings take."""
        assert self.database_url is not None
        url = urlsplit(self.database_url)
        return {
            "host": url.hostname or "localhost",
            "port": str(url.port or 5432),
            "user": unquote(url.username or "postgres"),
            "password": unquote(url.password or ""),
            "dbname": (url.path or "/").lstrip("/") or "postgres",
        }

    def eventsourcing_env(self) -> dict[str, str]:
        """This configuration translated into the ``eventsourcing`` library's settings."""
        env = {
            "PERSISTENCE_MODULE": "",
            "CREATE_TABLE": "y" if self.create_tables else "n",
            "IS_SNAPSHOTTING_ENABLED": "y" if self.snapshot_interval else "n",
            # Commands take the cached copy as it is; a copy made stale by another
            # process fails its save on the version check and is evicted and retried.
            "AGGREGATE_CACHE_MAXSIZE": str(self.aggregate_cache_size or ""),
            "AGGREGATE_CACHE_FASTFORWARD": "n",
        }
        if self.uses_postgres:
            parts = self.postgres_parts()
            env.update(
                PERSISTENCE_MODULE="eventsourcing.postgres",
                POSTGRES_HOST=parts["host"],
                POSTGRES_PORT=parts["port"],
                POSTGRES_USER=parts["user"],
                POSTGRES_PASSWORD=parts["password"],
                POSTGRES_DBNAME=parts["dbname"],
                POSTGRES_POOL_SIZE=str(self.pool_size),
                POSTGRES_MAX_OVERFLOW=str(self.pool_max_overflow),
                # how long a request waits for a connection (and, in pg_pool.py, how long
                # one is tried for and libpq's own connect timeout)
                POSTGRES_CONNECT_TIMEOUT=str(self.connect_timeout),
                # a connection is checked as it leaves the pool; when one is dead after a
                # restart or failover, the recorder below sweeps out the others at once
                POSTGRES_PRE_PING="y",
                # Must stay off: with it on, the library wrote one application's events
                # into another's table and skipped projection positions (measured here).
                POSTGRES_ENABLE_DB_FUNCTIONS="",
                POSTGRES_LOCK_TIMEOUT="10",
                # PostgresReclaimRecorder on a pool that rides out a blip (pg_pool.py)
                APPLICATION_RECORDER_TOPIC="infrastructure.store.pg_pool:SteadyPostgresRecorder",
            )
        else:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            env.update(
                PERSISTENCE_MODULE="eventsourcing.sqlite",
                SQLITE_DBNAME=str(self.sqlite_path),
                SQLITE_LOCK_TIMEOUT=str(self.sqlite_lock_timeout),
                APPLICATION_RECORDER_TOPIC="infrastructure.store.recorders:SQLiteReclaimRecorder",
            )
        return env


@lru_cache
def get_settings() -> Settings:
    return Settings()


@lru_cache(maxsize=16)
def _policy(
    follow_up_days: tuple[tuple[str, int], ...],
    follow_up_days_default: int,
    appeal_window_days: tuple[tuple[str, int], ...],
    expiry_warning_days: tuple[int, ...],
) -> DeadlinePolicy:
    return DeadlinePolicy(
        follow_up_days=dict(follow_up_days),
        follow_up_days_default=follow_up_days_default,
        appeal_window_days=dict(appeal_window_days),
        expiry_warning_days=expiry_warning_days,
    )
