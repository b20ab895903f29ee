"""The archives' shared writer and their download: entries and their manifest lines, a file
written from chunks, an archive larger than memory's share sent whole. No store."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import zipfile
from datetime import UTC, datetime

import pytest

from api.http import downloads
from api.render.archive import ManifestedZip

MADE = datetime(2026, 3, 26, 9, 0, tzinfo=UTC)


def test_every_entry_is_listed_with_its_size_and_sha256_in_order() -> None:
    buffer = io.BytesIO()
    chunks = [b"first chunk ", b"", b"second chunk"]
    with ManifestedZip(buffer, MADE) as archive:
        archive.add("a.json", b"{}\n")
        archive.add_chunks("files/b.txt", iter(chunks), size=24)
        assert "files/b.txt" in archive and "c" not in archive
        files = list(archive.files)
    assert files == [
        {"path": "a.json", "sha256": hashlib.sha256(b"{}\n").hexdigest(), "size": 3},
        {
            "path": "files/b.txt",
            "sha256": hashlib.sha256(b"".join(chunks)).hexdigest(),
            "size": 24,
        },
    ]
    written = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    assert written.read("files/b.txt") == b"first chunk second chunk"
    for info in written.infolist():
        assert info.date_time == (2026, 3, 26, 9, 0, 0)
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert info.external_attr >> 16 == 0o644


def _body(response) -> bytes:
    async def read() -> list[bytes]:
        return [piece async for piece in response.body_iterator]

    pieces = asyncio.run(read())
    assert len(pieces) > 1  # sent a piece at a time
    return b"".join(pieces)


def test_an_archive_over_the_memory_share_is_spooled_to_disk_and_sent_whole(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(downloads, "SPOOL_BYTES", 64 * 1024)
    monkeypatch.setattr(downloads, "SEND_BYTES", 16 * 1024)
    content = os.urandom(300 * 1024)  # does not compress: the archive is larger still

    def write(target) -> None:
        with ManifestedZip(target, MADE) as archive:
            archive.add_chunks(
                "big.bin", (content[i : i + 50_000] for i in range(0, len(content), 50_000))
            )

    response = downloads.zip_download(write, "big.zip", tmp_path / "spool")
    assert (tmp_path / "spool").is_dir()
    body = _body(response)
    assert int(response.headers["content-length"]) == len(body) > len(content)
    assert response.headers["content-disposition"] == 'attachment; filename="big.zip"'
    assert zipfile.ZipFile(io.BytesIO(body)).read("big.bin") == content


def test_a_failed_archive_raises_before_any_answer(tmp_path) -> None:
    def write(target) -> None:
        target.write(b"PK partial")
        raise FileNotFoundError("a chunk went missing")

    with pytest.raises(FileNotFoundError):
        downloads.zip_download(write, "x.zip", tmp_path)
