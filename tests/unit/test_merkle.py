"""The audit log's Merkle tree against transparency-dev/merkle's RFC 6962/9162 vectors
(``tests/data/merkle-vectors.json``: their testdata, Apache 2.0), and against a plain
recursive reading of the RFC for every size up to 70."""

from __future__ import annotations

import base64
import json

import pytest

from infrastructure.projections import merkle
from tests.support import DATA

VECTORS = json.loads((DATA / "merkle-vectors.json").read_text())
#: the leaves of the Certificate Transparency reference tests the vectors are made from
LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]


def b64(text: str) -> bytes:
    return base64.b64decode(text)


def _tree(leaves: list[bytes]) -> tuple[dict[tuple[int, int], bytes], list[bytes]]:
    nodes: dict[tuple[int, int], bytes] = {}
    frontier: list[bytes] = []
    for size, data in enumerate(leaves):
        frontier, made = merkle.append(frontier, size, merkle.leaf_hash(data))
        nodes.update({(level, index): h for level, index, h in made})
    return nodes, frontier


def _mth(leaves: list[bytes]) -> bytes:
    """MTH as RFC 9162 section 2.1.1 writes it, recursively."""
    if not leaves:
        return merkle.EMPTY_ROOT
    if len(leaves) == 1:
        return merkle.leaf_hash(leaves[0])
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return merkle.node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=lambda c: c["file"])
def test_inclusion_vectors(case) -> None:
    proof = [b64(p) for p in case["proof"] or []]
    ok = merkle.verify_inclusion(
        case["leafIdx"], case["treeSize"], b64(case["leafHash"]), proof, b64(case["root"])
    )
    assert ok is not case["wantErr"], case["desc"]
    if not case["wantErr"] and case["treeSize"] <= len(LEAVES):
        nodes, _ = _tree(LEAVES[: case["treeSize"]])
        made = merkle.inclusion_proof(
            lambda lv, i: nodes[(lv, i)], case["leafIdx"], case["treeSize"]
        )
        assert made == proof


@pytest.mark.parametrize("case", VECTORS["consistency"], ids=lambda c: c["file"])
def test_consistency_vectors(case) -> None:
    proof = [b64(p) for p in case["proof"] or []]
    ok = merkle.verify_consistency(
        case["size1"], case["size2"], b64(case["root1"]), b64(case["root2"]), proof
    )
    assert ok is not case["wantErr"], case["desc"]
    if not case["wantErr"] and case["size2"] <= len(LEAVES):
        nodes, _ = _tree(LEAVES[: case["size2"]])
        made = merkle.consistency_proof(lambda lv, i: nodes[(lv, i)], case["size1"], case["size2"])
        assert made == proof


def test_every_tree_up_to_70_leaves_proves_and_verifies() -> None:
    leaves = [f"leaf {i}".encode() for i in range(70)]
    nodes, _ = _tree(leaves)

    def get(level: int, index: int) -> bytes:
        return nodes[(level, index)]

    for size in range(1, 71):
        expected = _mth(leaves[:size])
        assert merkle.root(merkle.frontier_of(get, size)) == expected
        assert merkle.subtree(get, 0, size) == expected
        for index in range(size):
            proof = merkle.inclusion_proof(get, index, size)
            assert len(proof) <= size.bit_length()
            assert merkle.verify_inclusion(
                index, size, merkle.leaf_hash(leaves[index]), proof, expected
            )
            assert not merkle.verify_inclusion(
                index, size, merkle.leaf_hash(b"other"), proof, expected
            )
        assert not merkle.verify_consistency(0, size, merkle.EMPTY_ROOT, expected, [])
        for first in range(1, size + 1):
            proof = merkle.consistency_proof(get, first, size)
            old = _mth(leaves[:first])
            assert merkle.verify_consistency(first, size, old, expected, proof), (first, size)
            if 0 < first < size:
                assert not merkle.verify_consistency(
                    first, size, merkle.leaf_hash(b"x"), expected, proof
                )


def test_the_frontier_built_by_appending_gives_the_root() -> None:
    leaves = [bytes([i]) for i in range(37)]
    _, frontier = _tree(leaves)
    assert merkle.root(frontier) == _mth(leaves)
    assert len(frontier) == bin(37).count("1")
