"""Proofs from the audit log's Merkle tree (``projections/merkle.py``), read from the kept
subtree hashes: a proof asks for O(log n) of them, fetched in one query."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from infrastructure.projections import merkle
from infrastructure.projections.audit import HEAD_TABLE, NODE_TABLE, AuditLog, node_id
from infrastructure.store.database import Database

T = TypeVar("T")
_DUMMY = b"\x00" * 32


class ProofError(ValueError):
    """A proof that cannot be given for these numbers; ``field`` names the bad one."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Leaf:
    position: int
    leaf: int
    workspace: str
    owner: str
    case_id: str


def tree_size(db: Database) -> int:
    row = db.fetchone(f"SELECT events FROM {HEAD_TABLE.name} WHERE id = 1")
    return int(row["events"]) if row else 0


def leaf_at(db: Database, position: int) -> Leaf | None:
    row = db.fetchone(
        f"SELECT position, leaf, workspace, owner, case_id FROM {AuditLog.table.name} "
        "WHERE position = %s",
        (position,),
    )
    if row is None:
        return None
    return Leaf(
        int(row["position"]), int(row["leaf"]), row["workspace"], row["owner"], row["case_id"]
    )


def with_nodes(db: Database, compute: Callable[[merkle.Get], T]) -> T:
    """``compute`` run on the kept nodes: once to learn which it reads (they depend on the
    numbers alone), then again on them, fetched in one query."""
    wanted: list[int] = []

    def note(level: int, index: int) -> bytes:
        wanted.append(node_id(level, index))
        return _DUMMY

    compute(note)
    found: dict[int, bytes] = {}
    if wanted:
        ids = sorted(set(wanted))
        marks = ", ".join(["%s"] * len(ids))
        rows = db.fetchall(f"SELECT id, hash FROM {NODE_TABLE.name} WHERE id IN ({marks})", ids)
        found = {int(r["id"]): bytes.fromhex(r["hash"]) for r in rows}
        if len(found) != len(ids):
            raise LookupError("the audit tree is missing nodes: run reclaim verify")
    return compute(lambda level, index: found[node_id(level, index)])


def root_at(db: Database, size: int) -> bytes:
    if size == 0:
        return merkle.EMPTY_ROOT
    return with_nodes(db, lambda get: merkle.subtree(get, 0, size))


def inclusion(db: Database, leaf: Leaf, size: int | None) -> dict[str, Any]:
    """That the event at ``leaf.position`` is in the tree of ``size`` events (the whole
    log's when None)."""
    current = tree_size(db)
    size = current if size is None else size
    if not leaf.leaf < size <= current:
        raise ProofError(
            "size",
            f"size must be more than the event's leaf index ({leaf.leaf}) and at most the "
            f"log's size ({current})",
        )

    def compute(get: merkle.Get) -> tuple[list[bytes], bytes, bytes]:
        return (
            merkle.inclusion_proof(get, leaf.leaf, size),
            merkle.subtree(get, 0, size),
            get(0, leaf.leaf),
        )

    proof, root, leaf_hash = with_nodes(db, compute)
    return {
        "position": leaf.position,
        "case_id": leaf.case_id,
        "leaf_index": leaf.leaf,
        "tree_size": size,
        "leaf_hash": leaf_hash.hex(),
        "root": root.hex(),
        "proof": [h.hex() for h in proof],
    }


def consistency(db: Database, first: int, second: int | None) -> dict[str, Any]:
    """That the log of ``first`` events is a prefix of the log of ``second``."""
    current = tree_size(db)
    second = current if second is None else second
    if not first >= 1:
        raise ProofError("from", "from must be at least 1 (no proof starts at the empty log)")
    if first > second:
        raise ProofError("from", f"from ({first}) must not be more than to ({second})")
    if second > current:
        raise ProofError("to", f"to ({second}) must not be more than the log's size ({current})")

    def compute(get: merkle.Get) -> tuple[list[bytes], bytes, bytes]:
        return (
            merkle.consistency_proof(get, first, second),
            merkle.subtree(get, 0, first),
            merkle.subtree(get, 0, second),
        )

    proof, first_root, second_root = with_nodes(db, compute)
    return {
        "from": first,
        "to": second,
        "from_root": first_root.hex(),
        "to_root": second_root.hex(),
        "proof": [h.hex() for h in proof],
    }
