"""Archives as downloads: the dossier's and a person's own data, for the API and the case
book alike."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from fastapi.responses import StreamingResponse

from api.render.archive import MEDIA_TYPE

#: an archive up to this size is made in memory; a larger one rolls over to a temporary file
SPOOL_BYTES = 8 * 1024 * 1024
#: how much of the made archive is sent at a time
SEND_BYTES = 256 * 1024


def zip_download(
    write: Callable[[IO[bytes]], None], filename: str, spool_dir: Path
) -> StreamingResponse:
    """The ZIP that ``write`` writes, as an attachment named ``filename``.

    It is written whole before the answer starts, so a failure is still a problem response
    rather than a cut-off download: in memory up to ``SPOOL_BYTES``, then in an unnamed
    temporary file under ``spool_dir`` (this node's ``RECLAIM_DATA_DIR/tmp``), and sent
    from there a piece at a time with its length."""
    spool_dir.mkdir(parents=True, exist_ok=True)
    spooled = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, dir=str(spool_dir))  # noqa: SIM115
    try:
        write(spooled)
        size = spooled.seek(0, 2)
        spooled.seek(0)
    except BaseException:
        spooled.close()
        raise
    return StreamingResponse(
        _pieces(spooled),
        media_type=MEDIA_TYPE,
        headers={
            "Content-Length": str(size),
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "private, no-store",
        },
    )


def _pieces(spooled: IO[bytes]) -> Iterator[bytes]:
    try:
        while piece := spooled.read(SEND_BYTES):
            yield piece
    finally:
        spooled.close()
