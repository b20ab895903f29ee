"""The audit log's Merkle tree on a real store (issue 28): proofs that verify against the
signed head with only the public key, heads that leave the store, and a log cut short or
rolled back caught by them, on both stores."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

from bench.history import generate
from infrastructure.bootstrap import bootstrap
from infrastructure.projections import merkle
from infrastructure.projections.audit import head_signature_ok
from infrastructure.projections.projector import Projector
from infrastructure.projections.verify import verify
from infrastructure.read import proofs, queries
from infrastructure.store.witness import read_witness
from tests.support.projection_support import cli_env, delete_events

RECLAIM = str(Path(sys.executable).with_name("reclaim"))


def test_every_event_is_proved_in_the_signed_tree_and_every_older_tree_in_it(app) -> None:
    generate(app, cases_=12, seed=5)
    db = app.database
    older = queries.audit_head(db)
    generate(app, cases_=9, seed=6)
    head = queries.audit_head(db)
    public = app.projections.context.signing_key.public_key()
    assert head_signature_ok(public, head) and head["events"] > older["events"]
    root = bytes.fromhex(head["root"])
    positions = [r["position"] for r in db.fetchall("SELECT position FROM reclaim_audit_log")]
    assert len(positions) == head["events"]
    for position in positions:
        answer = proofs.inclusion(db, proofs.leaf_at(db, position), None)
        path = [bytes.fromhex(h) for h in answer["proof"]]
        assert len(path) <= head["events"].bit_length()
        assert merkle.verify_inclusion(
            answer["leaf_index"], head["events"], bytes.fromhex(answer["leaf_hash"]), path, root
        )
    answer = proofs.consistency(db, older["events"], head["events"])
    assert answer["from_root"] == older["root"] and answer["to_root"] == head["root"]
    assert merkle.verify_consistency(
        older["events"],
        head["events"],
        bytes.fromhex(older["root"]),
        root,
        [bytes.fromhex(h) for h in answer["proof"]],
    )


def test_a_log_rolled_back_to_an_older_head_is_caught_by_the_witness(settings, tmp_path) -> None:
    witness = tmp_path / "outside" / "heads.jsonl"
    settings = settings.model_copy(update={"audit_witness": witness})
    with bootstrap(settings) as services:
        app = services.store
        generate(app, cases_=8, seed=7)
        app.witness.flush()
        kept = queries.audit_head(app.database)  # what an attacker keeps
        generate(app, cases_=6, seed=8)
        app.witness.flush()
        heads = read_witness(witness)
        assert heads and heads[-1]["events"] > kept["events"]
        assert verify(app, witnessed=heads).ok

        # roll back: cut every event after the kept head, and rebuild the read tables from
        # what is left (as `reclaim replay` would), which signs a head over it
        delete_events(app, kept["position"] + 1, 10**9)
        Projector(app).rebuild()
        assert verify(app).ok, "without the witness, the cut log looks whole"
        report = verify(app, witnessed=heads)
        assert not report.ok
        assert report.first_problem.check == "witness"
        assert "no longer extends the witnessed head of" in report.first_problem.detail

        # and a rollback that then writes other events in their place (a fork)
        generate(app, cases_=6, seed=99)
        report = verify(app, witnessed=heads)
        assert any("are not the ones that head signed" in p.detail for p in report.problems)

    cut = subprocess.run(
        [RECLAIM, "verify", "--witness", str(witness)],
        env=cli_env(settings),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cut.returncode == 1, cut.stdout + cut.stderr
    assert "no longer extends the witnessed head" in cut.stdout


def test_a_witness_file_that_is_not_one_is_a_plain_error(settings, tmp_path) -> None:
    with bootstrap(settings):
        pass
    for text, said in (
        ("not json\n", "not JSON"),
        ('{"events": 3}\n', "a head has the fields"),
        (
            json.dumps(
                {
                    k: "x"
                    for k in (
                        "events",
                        "root",
                        "signed_at",
                        "key_id",
                        "position",
                        "hash",
                        "signature",
                    )
                }
            )
            + "\n",
            "events must be",
        ),
    ):
        bad = tmp_path / "bad.jsonl"
        bad.write_text(text)
        answer = subprocess.run(
            [RECLAIM, "verify", "--witness", str(bad)],
            env=cli_env(settings),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert answer.returncode == 2 and said in answer.stderr, answer.stderr
        assert "Traceback" not in answer.stderr


def test_the_public_key_and_head_on_the_command_line(settings) -> None:
    with bootstrap(settings) as services:
        generate(services.store, cases_=2, seed=3)
    key = subprocess.run(
        [RECLAIM, "audit", "key"], env=cli_env(settings), capture_output=True, text=True
    )
    head = subprocess.run(
        [RECLAIM, "audit", "head"], env=cli_env(settings), capture_output=True, text=True
    )
    assert key.returncode == 0 and "BEGIN PUBLIC KEY" in key.stdout
    assert head.returncode == 0
    signed = json.loads(head.stdout)
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    public = load_pem_public_key(key.stdout.split("\n", 1)[1].encode())
    assert head_signature_ok(public, signed)
    assert len(base64.b64decode(signed["signature"])) == 64


def test_heads_are_posted_to_a_witness_url(settings) -> None:
    """A real HTTP receiver keeps what it is sent: the heads the store signed."""
    import http.server
    import threading

    kept: list[dict] = []

    class Keep(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            kept.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Keep)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{receiver.server_address[1]}/heads"
    try:
        with bootstrap(settings.model_copy(update={"audit_witness_url": url})) as services:
            app = services.store
            generate(app, cases_=3, seed=4)
            app.witness.flush()
            head = queries.audit_head(app.database)
            public = app.projections.context.signing_key.public_key()
    finally:
        receiver.shutdown()
    assert kept and kept[-1]["events"] == head["events"] and kept[-1]["root"] == head["root"]
    assert all(head_signature_ok(public, h) for h in kept)
