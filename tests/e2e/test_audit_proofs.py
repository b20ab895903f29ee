"""The audit log's key, head and proofs over HTTP (issue 28), checked as an outsider
would: with the public key alone, and the RFC's verification."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from infrastructure.projections import merkle
from infrastructure.projections.audit import head_message
from tests.support.api_data import credit_body

PROBLEM = "application/problem+json"


def _problem(response, status: int, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    if field is not None:
        assert field in response.text


def test_an_outsider_checks_the_head_and_an_events_inclusion(api) -> None:
    alice, erin = api["owner"], api["foreign_member"]
    case = alice.post("/v1/credits", json=credit_body()).json()["id"]
    alice.post(f"/v1/cases/{case}/notes", json={"text": "one"})
    first = alice.get("/v1/audit/head").json()
    erin.post("/v1/credits", json=credit_body())
    alice.post(f"/v1/cases/{case}/notes", json={"text": "two"})

    key = alice.get("/v1/audit/key").json()
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"]))
    head = alice.get("/v1/audit/head").json()
    assert key["algorithm"] == "Ed25519" and head["key_id"] == key["key_id"]
    public.verify(base64.b64decode(head["signature"]), head_message(head))  # raises if not

    entries = alice.get(f"/v1/cases/{case}/audit").json()["items"]
    for entry in entries:
        proof = alice.get("/v1/audit/proof/inclusion", params={"position": entry["position"]})
        assert proof.status_code == 200, proof.text
        body = proof.json()
        assert body["leaf_index"] == entry["leaf"] and body["tree_size"] == head["events"]
        assert merkle.verify_inclusion(
            body["leaf_index"],
            body["tree_size"],
            bytes.fromhex(body["leaf_hash"]),
            [bytes.fromhex(h) for h in body["proof"]],
            bytes.fromhex(head["root"]),
        )
    consistent = alice.get(
        "/v1/audit/proof/consistency", params={"from": first["events"], "to": head["events"]}
    ).json()
    assert merkle.verify_consistency(
        first["events"],
        head["events"],
        bytes.fromhex(first["root"]),
        bytes.fromhex(head["root"]),
        [bytes.fromhex(h) for h in consistent["proof"]],
    )
    # an older size: the first note's inclusion in the tree the first head signed
    older = alice.get(
        "/v1/audit/proof/inclusion",
        params={"position": entries[1]["position"], "size": first["events"]},
    ).json()
    assert older["root"] == first["root"]


def test_proofs_refuse_bad_numbers_and_other_peoples_events(api) -> None:
    alice, bob, erin = api["owner"], api["other_member"], api["foreign_member"]
    case = alice.post("/v1/credits", json=credit_body()).json()["id"]
    position = alice.get(f"/v1/cases/{case}/audit").json()["items"][0]["position"]
    size = alice.get("/v1/audit/head").json()["events"]
    proof = "/v1/audit/proof/inclusion"
    # someone else's event, in the workspace or not, is the same 404 as no event
    for client in (bob, erin):
        _problem(client.get(proof, params={"position": position}), 404)
    _problem(alice.get(proof, params={"position": 10**9}), 404)
    assert api["auditor"].get(proof, params={"position": position}).status_code == 200
    assert api["foreign_auditor"].get(proof, params={"position": position}).status_code == 404
    # sizes: beyond the log, below the leaf, not a number
    _problem(alice.get(proof, params={"position": position, "size": size + 1}), 422, "size")
    _problem(alice.get(proof, params={"position": position, "size": 0}), 422, "size")
    _problem(alice.get(proof, params={"position": "x"}), 422, "position")
    consistency = "/v1/audit/proof/consistency"
    _problem(alice.get(consistency, params={"from": 2, "to": 1}), 422, "from")
    _problem(alice.get(consistency, params={"from": 1, "to": size + 1}), 422, "to")
    _problem(alice.get(consistency, params={"from": 0}), 422, "from")
    _problem(api["anonymous"].get("/v1/audit/head"), 401)
    _problem(api["anonymous"].get("/v1/audit/key"), 401)
