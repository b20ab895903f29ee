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

Verification is the RFC's own algorithms (sections 2.1.3.2 and 2.1.4.2), tested against
transparency-dev/merkle's vectors (``tests/data/merkle-vectors.json``); the same code is
shipped in each dossier for a reader to run (``dossier_verify.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

Get = Callable[[int, int], bytes]
"""A kept node's hash by (level, index)."""

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


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


# --- verification (RFC 9162, 2.1.3.2 and 2.1.4.2) ---------------------------------------
def _hashes(*values: bytes) -> bool:
    return all(len(v) == 32 for v in values)


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root_hash: bytes
) -> bool:
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
    if first <= 0 or first > second:
        return False  # (RFC 9162 defines no proof from the empty tree)
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
