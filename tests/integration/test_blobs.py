"""Evidence files are kept in the store, on both stores: any node reads what another
stored, an older Reclaim's files move in at start, and an upload is never in memory
whole. Over real HTTP: tests/e2e/test_evidence_http.py."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from infrastructure.bootstrap import bootstrap
from infrastructure.settings import Settings
from infrastructure.store.application import ReclaimApplication
from infrastructure.store.blobs import (
    CHUNK_BYTES,
    BlobMismatch,
    BlobMissing,
    BlobStore,
    TooLarge,
    UnsupportedMedia,
)
from tests.support.blobs import PNG_HEAD, another_node, png_of
from tests.support.projection_support import cli_env

MB = 1024 * 1024


def stream(blobs: BlobStore, data: bytes, media_type: str = "image/png") -> str:
    writer = blobs.writer(media_type, 20 * MB)
    for at in range(0, len(data), 64 * 1024):
        writer.write(data[at : at + 64 * 1024])
    return writer.finish().sha256


def test_a_file_stored_on_one_node_is_read_on_another(settings, tmp_path) -> None:
    sizes = {"small": 10, "one chunk": CHUNK_BYTES, "three": 2 * CHUNK_BYTES + 5}
    files = {name: png_of(size, name.encode()) for name, size in sizes.items()}
    with bootstrap(settings) as first:
        names = {name: stream(first.store.blobs, data) for name, data in files.items()}
        eml = b"From: a@example.com\nSubject: \xe9t\xe9\n\nLatin-1, kept as it came"
        kept = first.store.blobs.keep(eml, "message/rfc822")
        empty = first.store.blobs.keep(b"", "text/plain")
    with bootstrap(another_node(settings, tmp_path)) as second:
        blobs = second.store.blobs
        for name, data in files.items():
            blob = blobs.find(names[name])
            assert blob is not None and blob.size == len(data)
            assert b"".join(blob.iter_bytes()) == data == blobs.read(names[name])
            assert blob.chunks == -(-len(data) // CHUNK_BYTES)
        assert blobs.read(kept.sha256) == eml
        assert blobs.read(empty.sha256) == b"" and empty.size == 0
        assert not (second.settings.data_dir / "evidence").exists()
        missing = hashlib.sha256(b"never stored").hexdigest()
        assert blobs.find(missing) is None and not blobs.exists(missing)
        with pytest.raises(BlobMissing):
            blobs.read(missing)
        assert blobs.find("../../etc/passwd") is None


def test_the_same_bytes_twice_are_stored_once_and_a_refused_upload_leaves_nothing(
    app, settings
) -> None:
    data = png_of(3 * MB, b"twice")
    assert stream(app.blobs, data) == stream(app.blobs, data)
    rows = app.database.fetchall("SELECT COUNT(*) AS n FROM reclaim_blob_chunks")
    assert rows[0]["n"] == 3
    with pytest.raises(UnsupportedMedia):
        stream(app.blobs, b"not a png at all", "image/png")
    writer = app.blobs.writer("image/png", 1000)
    with pytest.raises(TooLarge):
        writer.write(png_of(2000))
    assert app.database.fetchall("SELECT sha256 FROM reclaim_blobs") == [
        {"sha256": hashlib.sha256(data).hexdigest()}
    ]
    assert list((settings.data_dir / "tmp").iterdir()) == []


def test_bytes_that_do_not_hash_to_their_name_are_not_stored(app) -> None:
    name = hashlib.sha256(b"the real bytes").hexdigest()
    with pytest.raises(BlobMismatch):
        app.blobs.store(name, [b"other bytes"], check=True)
    assert app.blobs.find(name) is None
    assert app.database.fetchall("SELECT * FROM reclaim_blob_chunks") == []


def test_a_20_mb_upload_is_never_held_in_memory_whole(app) -> None:
    """Python's allocations while 20 MB stream in, go into the store and come out again
    stay a few chunks' worth, far from the file's size (let alone twice it)."""
    size = 20 * MB
    piece = 64 * 1024
    writer = app.blobs.writer("image/png", size)
    tracemalloc.start()
    try:
        writer.write(PNG_HEAD + os.urandom(piece - len(PNG_HEAD)))
        for _ in range(size // piece - 1):
            writer.write(os.urandom(piece))
        stored = writer.finish()
        _, stored_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        blob = app.blobs.find(stored.sha256)
        assert blob is not None
        digest = hashlib.sha256()
        for chunk in blob.iter_bytes():
            digest.update(chunk)
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stored.size == size and digest.hexdigest() == stored.sha256
    assert stored_peak < size / 4, f"storing peaked at {stored_peak / MB:.1f} MiB"
    assert read_peak < size / 4, f"reading peaked at {read_peak / MB:.1f} MiB"


# --- the files of an older Reclaim ----------------------------------------------------------
def old_files(settings: Settings) -> dict[str, Path]:
    """An evidence directory as an older Reclaim left it: two good files (one of several
    chunks), one whose bytes changed, one under a name that is no SHA-256, and an upload
    it never finished."""
    root = settings.evidence_dir
    good = {b"receipt 42\n", png_of(CHUNK_BYTES + 7, b"old")}
    paths: dict[str, Path] = {}
    for data in good:
        sha256 = hashlib.sha256(data).hexdigest()
        paths[sha256] = root / sha256[:2] / sha256
    bad = hashlib.sha256(b"what it was").hexdigest()
    paths["bad"] = root / bad[:2] / bad
    paths["misnamed"] = root / "ab" / "notes.txt"
    paths["unfinished"] = root / "tmp" / "upload-0123456789abcdef"
    contents = {hashlib.sha256(d).hexdigest(): d for d in good}
    contents.update(bad=b"what it is now", misnamed=b"hello", unfinished=b"\x89PNG")
    for name, path in paths.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(contents[name])
    return paths


def test_an_older_reclaims_files_move_into_the_store_at_start(settings, caplog) -> None:
    paths = old_files(settings)
    good = [name for name in paths if len(name) == 64]
    ReclaimApplication(settings).close()  # the tables, as an upgrade's init makes them
    caplog.set_level(logging.INFO, logger="reclaim.blobs")
    with bootstrap(settings) as started:
        assert started.moved_files.moved == 2
        assert sorted(path for path, _ in started.moved_files.left) == sorted(
            [paths["bad"], paths["misnamed"]]
        )
        for name in good:
            assert not paths[name].exists()
            assert hashlib.sha256(started.store.blobs.read(name)).hexdigest() == name
        assert started.store.blobs.find(paths["bad"].name) is None
    for name in ("bad", "misnamed", "unfinished"):
        assert paths[name].exists()  # left where it was
    assert f"{paths['bad']} left where it is" in caplog.text
    assert "hash to " + hashlib.sha256(b"what it is now").hexdigest() in caplog.text

    with bootstrap(settings) as again:  # nothing more to move; the bad file stays
        assert again.moved_files.moved == 0
        assert len(again.moved_files.left) == 2
        assert [again.store.blobs.exists(name) for name in good] == [True, True]


def test_reclaim_blobs_migrate_says_what_it_moved(settings) -> None:
    ReclaimApplication(settings).close()
    paths = old_files(settings)
    reclaim = str(Path(sys.executable).parent / "reclaim")

    def migrate() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [reclaim, "blobs", "migrate"],
            env=cli_env(settings),
            capture_output=True,
            text=True,
            timeout=120,
        )

    done = migrate()
    assert done.returncode == 1, done.stderr  # a bad file was left
    assert done.stdout.startswith(
        f"moved 2 evidence files from {settings.evidence_dir} into the store\n"
    )
    assert f"left 2 files where they are:\n  {paths['bad']}: its bytes hash to" in done.stdout
    paths["bad"].unlink()
    paths["misnamed"].unlink()
    again = migrate()
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"moved 0 evidence files from {settings.evidence_dir} into the store\n"
