"""A dossier proves itself offline (issue 28): its events are in the signed log, its
timeline and files match them; any changed byte fails naming what; and after its owner
is erased, the proofs over the sealed records still hold."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.support.api_data import PNG, credit_body, when

RECLAIM = str(Path(sys.executable).with_name("reclaim"))


def _dossier(client, case_id: str, path: Path) -> Path:
    answer = client.get(f"/v1/cases/{case_id}/dossier")
    assert answer.status_code == 200, answer.text
    path.write_bytes(answer.content)
    return path


def _check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RECLAIM, "verify-dossier", str(path)], capture_output=True, text=True, timeout=120
    )


def _changed(source: Path, target: Path, name: str, change) -> Path:
    """A copy of the ZIP with one member's bytes changed."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            data = old.read(item.filename)
            new.writestr(item, change(data) if item.filename == name else data)
    return target


def _flip(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


def test_a_dossier_checks_offline_and_fails_when_altered(api, tmp_path) -> None:
    alice = api["owner"]
    case = alice.post("/v1/credits", json=credit_body()).json()["id"]
    alice.post(
        f"/v1/cases/{case}/submit",
        json={"channel": "email", "reference": "T-9", "message": "hi", "occurred_at": when(13)},
    )
    alice.post(f"/v1/cases/{case}/notes", json={"text": "called them"})
    sent = alice.post(
        f"/v1/cases/{case}/evidence",
        files={"file": ("wallet.png", PNG, "image/png")},
        data={"kind": "screenshot"},
    )
    assert sent.status_code == 201
    dossier = _dossier(alice, case, tmp_path / "dossier.zip")

    ok = _check(dossier)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("ok:")
    # the checker shipped in the ZIP runs alone, with Python and cryptography only
    with zipfile.ZipFile(dossier) as archive:
        names = set(archive.namelist())
        script = tmp_path / "alone" / "verify_dossier.py"
        script.parent.mkdir()
        script.write_bytes(archive.read("proof/verify_dossier.py"))
        events = archive.read("proof/events.jsonl").decode().splitlines()
        evidence = next(n for n in names if n.startswith("evidence/"))
    assert {"timeline.json", "proof/head.json", "proof/public-key.pem"} <= names
    alone = subprocess.run(
        [sys.executable, "-I", str(script), str(dossier)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=script.parent,
    )
    assert alone.returncode == 0, alone.stdout + alone.stderr

    # one changed byte of an event, of a file, of the head: each fails, naming what
    def event_changed(data: bytes) -> bytes:
        lines = data.decode().splitlines()
        record = json.loads(lines[1])
        state = bytearray(base64.b64decode(record["state"]))
        state[-2] ^= 1
        record["state"] = base64.b64encode(bytes(state)).decode()
        lines[1] = json.dumps(record)
        return ("\n".join(lines) + "\n").encode()

    def head_changed(data: bytes) -> bytes:
        head = json.loads(data)
        head["events"] += 1
        return json.dumps(head).encode()

    for name, change, said in (
        ("proof/events.jsonl", event_changed, "proof/events.jsonl line 2 (version 2, submitted)"),
        (evidence, _flip, "does not hash to the SHA-256 its event recorded"),
        ("proof/head.json", head_changed, "proof/head.json: the signature does not match"),
        ("timeline.json", lambda d: d.replace(b'"note_added"', b'"denied"'), "says denied"),
    ):
        altered = _check(_changed(dossier, tmp_path / "altered.zip", name, change))
        assert altered.returncode == 1, (name, altered.stdout)
        assert said in altered.stdout, (name, altered.stdout)
    assert len(events) == 4

    not_one = tmp_path / "not-a-dossier.zip"
    not_one.write_bytes(b"PK but not really")
    refused = _check(not_one)
    assert refused.returncode == 2 and "not checked" in refused.stderr
    with zipfile.ZipFile(tmp_path / "empty.zip", "w") as empty:
        empty.writestr("hello.txt", "hi")
    refused = _check(tmp_path / "empty.zip")
    assert refused.returncode == 2 and "is not a Reclaim dossier" in refused.stderr

    # the owner erased: the sealed records are unchanged, so their proofs still hold
    assert api["admin"].delete("/v1/users/alice").status_code == 200
    after = _check(_dossier(api["admin"], case, tmp_path / "after.zip"))
    assert after.returncode == 0, after.stdout + after.stderr
    assert "is not included" in after.stdout  # (the file went with its owner's key)
