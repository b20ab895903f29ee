#!/usr/bin/env python3
"""Check a Reclaim case dossier with no server and no database.

    python3 verify_dossier.py reclaim-case-<id>.zip

Needs Python 3.10+ and the ``cryptography`` package (``pip install cryptography``), nothing
else: this file is shipped inside every dossier as ``proof/verify_dossier.py``, and
``reclaim verify-dossier`` runs the same code. It checks that:

1. ``proof/head.json`` is signed (Ed25519) by ``proof/public-key.pem``;
2. every event in ``proof/events.jsonl`` (the case's events exactly as the store holds
   them, personal fields sealed) is in the log that head signs: its leaf hash, made here
   from its bytes, and its RFC 9162 inclusion proof reach the head's root; and the case's
   events are all there, versions 1 to n;
3. ``timeline.json`` (the timeline the PDF shows) has one entry per event, of the event's
   type, recorded when the event was;
4. every evidence file in the ZIP hashes to the SHA-256 its ``EvidenceAttached`` event
   records, and every file to the SHA-256 ``manifest.json`` gives it.

A file the dossier itself says it could not include (``manifest.json``'s evidence
``problem``: a file lost, or removed when its owner was erased) is reported, not failed.
Whoever trusts the public key (compare its id with ``GET /v1/audit/key`` of the service,
or with a head kept elsewhere) then knows these events and files are the ones the log
recorded. The hashing and proof checks are RFC 9162's (sections 2.1.1, 2.1.3.2), and the
same functions serve Reclaim itself (``merkle.py`` imports them from here).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import sys
import zipfile
from collections.abc import Sequence
from datetime import datetime
from typing import Any

HEAD = "proof/head.json"
PUBLIC_KEY = "proof/public-key.pem"
EVENTS = "proof/events.jsonl"
TIMELINE = "timeline.json"
MANIFEST = "manifest.json"


# --- RFC 9162 ---------------------------------------------------------------------------
def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _hashes(*values: bytes) -> bool:
    return all(len(v) == 32 for v in values)


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root_hash: bytes
) -> bool:
    """RFC 9162, 2.1.3.2."""
    if not 0 <= index < size or not _hashes(leaf, root_hash, *proof):
        return False
    fn, sn, value = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            value = node_hash(p, value)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            value = node_hash(value, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and value == root_hash


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162, 2.1.4.2 (no proof starts at the empty tree)."""
    if first <= 0 or first > second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if not proof or not _hashes(first_root, second_root, *proof):
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


# --- Reclaim's records -------------------------------------------------------------------
def canonical_bytes(originator_id: str, version: int, topic: str, state: bytes) -> bytes:
    """An event as the log's chain and tree take it: its id, version and topic, a line
    each, then its stored state."""
    return f"{originator_id}\n{version}\n{topic}\n".encode() + state


def head_message(head: dict[str, Any]) -> bytes:
    """What a signed head's signature covers, one field a line."""
    return (
        "reclaim-tree-head-v1\n"
        f"{head['events']}\n{head['root']}\n{head['signed_at']}\n{head['key_id']}\n"
        f"{head['position']}\n{head['hash']}"
    ).encode()


def event_type(topic: str) -> str:
    """``domain.cases:Case.ResponseReceived`` -> ``response_received``."""
    name = topic.rpartition(".")[2]
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


# --- the dossier -----------------------------------------------------------------------
class NotADossier(ValueError):
    """The file is not a dossier this checker knows."""


def check(path: str) -> tuple[list[str], list[str]]:
    """The dossier's problems (each fails it) and notes (what it says it left out)."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise NotADossier(f"{path} is not a ZIP file ({exc})") from None
    with archive:
        names = set(archive.namelist())
        missing = [n for n in (HEAD, PUBLIC_KEY, EVENTS, TIMELINE, MANIFEST) if n not in names]
        if missing:
            raise NotADossier(f"{path} is not a Reclaim dossier: no {', '.join(missing)}")
        try:
            head = json.loads(archive.read(HEAD))
            events = [json.loads(line) for line in archive.read(EVENTS).splitlines() if line]
            timeline = json.loads(archive.read(TIMELINE))
            manifest = json.loads(archive.read(MANIFEST))
        except ValueError as exc:
            raise NotADossier(f"{path}: a proof file is not JSON ({exc})") from None
        problems: list[str] = []
        notes: list[str] = []
        _check_head(head, archive.read(PUBLIC_KEY), problems)
        recorded = _check_events(head, events, problems)
        _check_timeline(timeline, recorded, problems)
        _check_files(archive, manifest, recorded, problems, notes)
    return problems, notes


def _check_head(head: dict[str, Any], pem: bytes, problems: list[str]) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_pem_public_key,
    )

    try:
        public = load_pem_public_key(pem)
    except ValueError:
        problems.append("proof/public-key.pem is not a public key")
        return
    if not isinstance(public, Ed25519PublicKey):
        problems.append("proof/public-key.pem is not an Ed25519 key")
        return
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    if hashlib.sha256(raw).hexdigest()[:16] != head.get("key_id"):
        problems.append("proof/head.json names another key than proof/public-key.pem")
    try:
        public.verify(base64.b64decode(head["signature"]), head_message(head))
    except (InvalidSignature, KeyError, ValueError, binascii.Error):
        problems.append("proof/head.json: the signature does not match the head")


def _check_events(
    head: dict[str, Any], events: list[dict[str, Any]], problems: list[str]
) -> dict[int, dict[str, Any]]:
    """Each event's inclusion in the signed tree; returns the events by version, their
    stored state decoded (as JSON) for the checks after."""
    try:
        size, root = int(head["events"]), bytes.fromhex(head["root"])
    except (KeyError, ValueError, TypeError):
        problems.append("proof/head.json has no tree size and root")
        return {}
    recorded: dict[int, dict[str, Any]] = {}
    for number, event in enumerate(events, start=1):
        name = f"proof/events.jsonl line {number}"
        try:
            version = int(event["originator_version"])
            state = base64.b64decode(event["state"], validate=True)
            data = canonical_bytes(event["originator_id"], version, event["topic"], state)
            proof = [bytes.fromhex(h) for h in event["proof"]]
            index = int(event["leaf_index"])
        except (KeyError, ValueError, TypeError, binascii.Error):
            problems.append(f"{name} is not an event with its proof")
            continue
        if not verify_inclusion(index, size, leaf_hash(data), proof, root):
            problems.append(
                f"{name} (version {version}, {event_type(event['topic'])}) is not in the log "
                "the signed head covers: its bytes or its proof were changed"
            )
            continue
        try:
            recorded[version] = {**event, "fields": json.loads(state)}
        except ValueError:
            problems.append(f"{name}: its state is not JSON")
    versions = sorted(recorded)
    if versions != list(range(1, len(versions) + 1)) or len(versions) != len(events):
        problems.append(
            f"proof/events.jsonl does not hold the case's events 1 to {len(events)} each once"
        )
    return recorded


def _when(value: Any) -> datetime | None:
    if isinstance(value, dict):  # the library's transcoding of a datetime
        value = value.get("_data_")
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _check_timeline(
    timeline: Any, recorded: dict[int, dict[str, Any]], problems: list[str]
) -> None:
    entries = timeline.get("items") if isinstance(timeline, dict) else None
    if not isinstance(entries, list):
        problems.append("timeline.json has no items")
        return
    if len(entries) != len(recorded):
        problems.append(f"timeline.json has {len(entries)} entries for {len(recorded)} events")
    for entry in entries:
        version = entry.get("version") if isinstance(entry, dict) else None
        event = recorded.get(version)  # type: ignore[arg-type]
        if event is None:
            problems.append(f"timeline.json: version {version} is not among the proved events")
            continue
        if entry.get("event_type") != event_type(event["topic"]):
            problems.append(
                f"timeline.json: version {version} says {entry.get('event_type')}, "
                f"the event is {event_type(event['topic'])}"
            )
        if _when(entry.get("recorded_at")) != _when(event["fields"].get("timestamp")):
            problems.append(f"timeline.json: version {version} was not recorded when it says")


def _check_files(
    archive: zipfile.ZipFile,
    manifest: dict[str, Any],
    recorded: dict[int, dict[str, Any]],
    problems: list[str],
    notes: list[str],
) -> None:
    for entry in manifest.get("files", []):
        try:
            content = archive.read(entry["path"])
        except KeyError:
            problems.append(f"manifest.json lists {entry.get('path')}, which is not in the ZIP")
            continue
        if hashlib.sha256(content).hexdigest() != entry.get("sha256"):
            problems.append(f"{entry['path']} does not hash to what manifest.json says")
    attached = {
        e["fields"].get("evidence_id"): e["fields"].get("sha256")
        for e in recorded.values()
        if event_type(e["topic"]) == "evidence_attached"
    }
    listed = {item.get("id"): item for item in manifest.get("evidence", [])}
    for evidence_id, sha256 in attached.items():
        item = listed.get(evidence_id)
        if item is None:
            problems.append(f"evidence {evidence_id}: its event is proved, the dossier omits it")
            continue
        if item.get("problem"):
            notes.append(f"evidence {evidence_id} is not included: {item['problem']}")
            continue
        try:
            content = archive.read(item["path"])
        except KeyError:
            problems.append(f"evidence {evidence_id}: {item.get('path')} is not in the ZIP")
            continue
        if hashlib.sha256(content).hexdigest() != sha256:
            problems.append(
                f"evidence {evidence_id} ({item['path']}) does not hash to the SHA-256 its "
                "event recorded"
            )


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        print("usage: python3 verify_dossier.py DOSSIER.zip", file=sys.stderr)
        return 2
    try:
        problems, notes = check(argv[0])
    except NotADossier as exc:
        print(f"not checked: {exc}", file=sys.stderr)
        return 2
    for note in notes:
        print(f"note: {note}")
    if problems:
        for problem in problems:
            print(f"FAILED: {problem}")
        return 1
    print("ok: every event is in the signed log, the timeline and every file match them")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
