"""The audit log's Merkle tree, as RFC 9162 (Certificate Transparency 2.0) defines it.

Leaves in log order, each leaf the canonical bytes the hash chain covers
(``audit.canonical_bytes``); ``leaf = SHA-256(0x00 ‖ bytes)``, ``node = SHA-256(0x01 ‖
left ‖ right)``; the tree of n leaves splits at the largest power of two below n.

What is kept, so that appending costs O(log n) and a proof reads O(log n) hashes: every
complete (perfect) subtree's hash, by level and index (``reclaim_audit_nodes``: leaf i is
level 0 index i; level l index j covers leaves j·2^l to (j+1)·2^l - 1), and the frontier:
the roots of the perfect subtrees the tree of n leaves is made of, largest first (one
per set bit of n). Any subtree hash the RFC's recursion asks for is one kept node, or a
fold of at most log n of them.

Verification is the RFC's own algorithms (sections 2.1.3.2 and 2.1.4.2), kept in
``verify_dossier.py`` (shipped in each dossier for its reader to run) and tested against
transparency-dev/merkle's vectors (``tests/data/merkle-vectors.json``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

# the hashing and the RFC's verification live in the one file a dossier ships, so that
# its reader runs exactly what Reclaim does
from infrastructure.projections.verify_dossier import (
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

__all__ = ["leaf_hash", "node_hash", "verify_consistency", "verify_inclusion"]

Get = Callable[[int, int], bytes]
"""A kept node's hash by (level, index)."""

EMPTY_ROOT = hashlib.sha256(b"").digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


# --- appending ------------------------------------------------------------------------
def append(
    frontier: Sequence[bytes], size: int, leaf: bytes
) -> tuple[list[bytes], list[tuple[int, int, bytes]]]:
    """The frontier of the tree with ``leaf`` (a leaf hash) appended to the tree of
    ``size`` leaves, and every subtree the leaf completes as (level, index, hash), the
    leaf itself first."""
    made = [(0, size, leaf)]
    stack = list(frontier)
    value, level, index = leaf, 0, size
    while index & 1:
        value = node_hash(stack.pop(), value)
        level += 1
        index >>= 1
        made.append((level, index, value))
    stack.append(value)
    return stack, made


def root(frontier: Sequence[bytes]) -> bytes:
    """The tree's root hash, from its frontier."""
    if not frontier:
        return EMPTY_ROOT
    value = frontier[-1]
    for left in reversed(frontier[:-1]):
        value = node_hash(left, value)
    return value


def frontier_of(get: Get, size: int) -> list[bytes]:
    """The frontier of the tree of ``size`` leaves, from kept nodes (one per set bit)."""
    out, start = [], 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            out.append(get(level, start >> level))
            start += 1 << level
    return out


def subtree(get: Get, start: int, end: int) -> bytes:
    """The hash of leaves ``start`` to ``end`` - 1, as the RFC's recursion splits them:
    a kept node when they form a perfect subtree, else a fold of kept nodes."""
    count = end - start
    if count & (count - 1) == 0 and start % count == 0:
        return get(count.bit_length() - 1, start // count)
    k = _split(count)
    return node_hash(subtree(get, start, start + k), subtree(get, start + k, end))


# --- proofs ---------------------------------------------------------------------------
def inclusion_proof(get: Get, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]): the audit path of leaf ``index`` in the tree of ``size``."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(subtree(get, start + k, end))
            end = start + k
        else:
            path.append(subtree(get, start, start + k))
            start += k
    path.reverse()
    return path


def consistency_proof(get: Get, first: int, second: int) -> list[bytes]:
    """PROOF(first, D[0:second]): that the tree of ``first`` leaves is a prefix of the
    tree of ``second``."""
    if not 0 <= first <= second:
        raise ValueError(f"no proof from a tree of {first} to one of {second}")
    if first in (0, second):
        return []
    proof: list[bytes] = []
    m, start, end, complete = first, 0, second, True
    while True:
        n = end - start
        if m == n:
            if not complete:
                proof.append(subtree(get, start, end))
            break
        k = _split(n)
        if m <= k:
            proof.append(subtree(get, start + k, end))
            end = start + k
        else:
            proof.append(subtree(get, start, start + k))
            m -= k
            start += k
            complete = False
    proof.reverse()
    return proof
