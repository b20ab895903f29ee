"""The ids the API gives requests that bring none (``middleware.RequestIds``)."""

from __future__ import annotations

import os
import re

from api.http.deps import valid_request_id
from api.http.middleware import RequestIds


def test_ids_are_unique_hex_and_valid_request_ids() -> None:
    ids = RequestIds()
    made = [ids() for _ in range(10_000)]
    assert len(set(made)) == len(made)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) and valid_request_id(i) for i in made)


def test_two_processes_never_share_ids() -> None:
    ids = RequestIds()
    parent = ids()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: its first id, to the parent
        os.write(write, ids().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    from_child = os.read(read, 64).decode()
    os.close(read)
    mine = ids()
    # its own random half, so a count both processes reach still gives two ids
    assert from_child[:16] != mine[:16] == parent[:16]
