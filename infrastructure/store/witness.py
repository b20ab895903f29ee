"""Signed heads that leave the store, so that a log cut short or rolled back is caught.

Each head the audit log signs commits with its batch; once committed, the process that
wrote it hands it to its ``Witness``, which appends it, as one JSON line, to a file
outside the database (``RECLAIM_AUDIT_WITNESS``) and, when ``RECLAIM_AUDIT_WITNESS_URL`` is
set, POSTs it there (a second Reclaim, or any service that keeps what it is sent).
Heads are made after every batch; the witness takes the newest at most once a second
(``INTERVAL``), on a thread of its own, so a command never waits for it.

``reclaim verify --witness FILE`` then checks that the log still extends every head in
the file (``verify.py``): one that it no longer reaches, or whose tree root its first
events no longer give, names a log cut short or rolled back.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger("reclaim.witness")

#: the fields of a head that leave the store (what its signature covers, and itself)
FIELDS = ("events", "root", "signed_at", "key_id", "position", "hash", "signature")
INTERVAL = 1.0


class WitnessError(ValueError):
    """A witness file that is not one."""


class Witness:
    def __init__(self, path: Path | None, url: str | None = None, interval: float = INTERVAL):
        self.path = path
        self.url = url
        self.interval = interval
        self._latest: dict[str, Any] | None = None
        self._sent = 0
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._closed = False
        self._thread: threading.Thread | None = None

    @property
    def on(self) -> bool:
        return self.path is not None or self.url is not None

    def offer(self, head: dict[str, Any] | None) -> None:
        """A head that has just committed (its batch's transaction is done)."""
        if head is None or not self.on:
            return
        with self._lock:
            if self._latest is None or head["events"] > self._latest["events"]:
                self._latest = {k: head[k] for k in FIELDS}
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="witness", daemon=True)
                self._thread.start()
        self._wake.set()

    def flush(self) -> None:
        """Send the newest head now, if it was not sent."""
        with self._lock:
            head = self._latest
        if head is not None and head["events"] > self._sent:
            self._send(head)

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait()
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - a witness that fails must not stop writes
                log.exception("the audit witness could not take a head")
            if not self._closed:
                threading.Event().wait(self.interval)  # (at most one head a second)

    def _send(self, head: dict[str, Any]) -> None:
        line = json.dumps(head, sort_keys=True, separators=(",", ":"))
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        if self.url is not None:
            import httpx

            try:
                httpx.post(
                    self.url,
                    content=line,
                    timeout=5.0,
                    headers={"Content-Type": "application/json"},
                )
            except httpx.HTTPError as exc:
                log.warning("the audit witness at %s did not take a head: %s", self.url, exc)
        self._sent = head["events"]


def read_witness(path: Path) -> list[dict[str, Any]]:
    """Every head in a witness file; a line that is not one is an error naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WitnessError(f"{path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise WitnessError(f"{path} is not a witness file (not UTF-8 text)") from None
    heads = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            head = json.loads(line)
        except ValueError:
            raise WitnessError(f"{path} line {number}: not JSON") from None
        if not isinstance(head, dict) or set(FIELDS) - set(head):
            raise WitnessError(f"{path} line {number}: a head has the fields {', '.join(FIELDS)}")
        if (
            not isinstance(head["events"], int)
            or isinstance(head["events"], bool)
            or head["events"] < 1
        ):
            raise WitnessError(f"{path} line {number}: events must be a whole number from 1")
        if not all(isinstance(head[k], str) for k in FIELDS if k not in ("events", "position")):
            raise WitnessError(
                f"{path} line {number}: root, signed_at, key_id, hash and signature are text"
            )
        heads.append(head)
    return heads
