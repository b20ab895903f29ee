"""Streaming multipart: the evidence file goes to the blob store's writer as it arrives.

Starlette's form parser spools a whole upload before the route sees it; here the
body is parsed chunk by chunk with ``python-multipart``, the file part is hashed
and written to a temporary file while it streams, and the size limit stops reading
the moment it is passed (or at once, when Content-Length already says so). Once the
body has ended, the file is checked and copied into the store off the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from pydantic import TypeAdapter, ValidationError
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from api.http.problems import ProblemError, invalid
from api.http.schemas import Moment
from infrastructure.store.blobs import BlobStore, BlobWriter, StoredBlob, TooLarge

MAX_FIELD_BYTES = 10_000
MULTIPART_OVERHEAD = 64 * 1024


_invalid = invalid


@dataclass
class _Part:
    headers: dict[str, str] = field(default_factory=dict)
    name: str = ""
    filename: str | None = None
    value: bytearray = field(default_factory=bytearray)
    writer: BlobWriter | None = None


@dataclass
class Upload:
    blob: StoredBlob
    filename: str
    fields: dict[str, str]


class _Reader:
    def __init__(self, blobs: BlobStore, limit: int) -> None:
        self.blobs = blobs
        self.limit = limit
        self.part = _Part()
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.fields: dict[str, str] = {}
        self.blob: StoredBlob | None = None
        self.filename = ""
        self.writers: list[BlobWriter] = []
        #: the file part's writer, once its part has ended (finished after the body)
        self.received: BlobWriter | None = None

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": lambda d, s, e: self.header_field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self.header_value.extend(d[s:e]),
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
        }

    def part_begin(self) -> None:
        self.part = _Part()

    def header_end(self) -> None:
        name = self.header_field.decode("latin-1").strip().lower()
        self.part.headers[name] = self.header_value.decode("latin-1").strip()
        self.header_field.clear()
        self.header_value.clear()

    def headers_finished(self) -> None:
        disposition, options = parse_options_header(
            self.part.headers.get("content-disposition", "")
        )
        if disposition != b"form-data":
            raise _invalid("body", "every part must be form-data")
        self.part.name = options.get(b"name", b"").decode("utf-8", "replace")
        raw_filename = options.get(b"filename")
        if self.part.name == "file":
            if self.writers:
                raise _invalid("file", "send exactly one file")
            self.part.filename = (raw_filename or b"").decode("utf-8", "replace")
            media_type, _ = parse_options_header(self.part.headers.get("content-type", ""))
            self.part.writer = self.blobs.writer(media_type.decode("latin-1").lower(), self.limit)
            self.writers.append(self.part.writer)

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self.part.writer is not None:
            self.part.writer.write(data[start:end])
            return
        self.part.value.extend(data[start:end])
        if len(self.part.value) > MAX_FIELD_BYTES:
            raise _invalid(self.part.name or "body", f"longer than {MAX_FIELD_BYTES} bytes")

    def part_end(self) -> None:
        if self.part.writer is not None:
            self.received = self.part.writer
            self.filename = self.part.filename or ""
        elif self.part.name:
            try:
                self.fields[self.part.name] = self.part.value.decode("utf-8")
            except UnicodeDecodeError:
                raise _invalid(self.part.name, "must be UTF-8 text") from None

    def abort(self) -> None:
        for writer in self.writers:
            if self.blob is None:
                writer.abort()


async def read_upload(request: Request, blobs: BlobStore, limit: int) -> Upload:
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise ProblemError(
            415,
            "Unsupported media type",
            "send the evidence as multipart/form-data",
            code="unsupported-media-type",
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
        raise TooLarge(limit)
    reader = _Reader(blobs, limit)
    received = 0
    try:
        parser = MultipartParser(boundary, reader.callbacks())  # type: ignore[arg-type]
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit + MULTIPART_OVERHEAD:
                raise TooLarge(limit)
            parser.write(chunk)
        parser.finalize()
        if reader.received is not None:
            # checked and copied into the store: blocking work, kept off the event loop
            reader.blob = await run_in_threadpool(reader.received.finish)
    except FormParserError as exc:
        reader.abort()
        raise _invalid("body", f"malformed multipart body: {exc}") from None
    except BaseException:
        reader.abort()
        raise
    if reader.blob is None:
        raise _invalid("file", "a file part named 'file' is required")
    return Upload(blob=reader.blob, filename=reader.filename, fields=reader.fields)


_MOMENT: TypeAdapter[datetime] = TypeAdapter(Moment)


def occurred_at_field(value: str | None) -> datetime | None:
    """A form field's ``occurred_at``, read as the JSON bodies read it (same rules, same
    messages); left out or empty, None (the time it is recorded)."""
    if value is None or not value.strip():
        return None
    try:
        return _MOMENT.validate_python(value.strip())
    except ValidationError as error:
        raise _invalid("occurred_at", error.errors()[0]["msg"]) from None
