"""The case dossier: a ZIP to hand to a supervisor, an agency or a card issuer.

It holds ``case-report.pdf`` (the case's facts, timeline, evidence list with
SHA-256, its audit entries and the signed head of the audit chain), every
evidence file as ``evidence/<sha256>-<safe name>``, and ``manifest.json`` with
every file's SHA-256 and size, so anyone can check the files with ``sha256sum``.

The input is plain data (``DossierInput``), so the dossier does not depend on how
the projections store it. An evidence file that is missing, or whose bytes no
longer hash to what was recorded, is left out and named as a problem in the
report and the manifest, rather than silently included or dropped.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import unicodedata
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO

from fpdf import FPDF
from fpdf.enums import XPos, YPos

REPORT_NAME = "case-report.pdf"
MANIFEST_NAME = "manifest.json"
MEDIA_TYPE = "application/zip"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
    "text/csv": ".csv",
    "message/rfc822": ".eml",
    "application/json": ".json",
}
# the PDF's built-in fonts are Latin-1 only; these read well when swapped
_PLAIN = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
        "\u2022": "*",
        "\u2192": "->",
        "\u00a0": " ",
        "\u20ac": "EUR",
    }
)
_AUDIT_TITLE = ("position", "version", "event_type", "actor")
_FIXED_WIDTH = {"SHA-256", "sha256", "hash", "previous_hash", "payload", "signature", "head"}
FACT_ORDER = (
    "id",
    "kind",
    "platform",
    "state",
    "owner",
    "workspace",
    "account_reference",
    "opened_at",
    "amount_claimed",
    "amount_recovered",
    "currency",
    "outcome",
    "resolved_at",
)


class DossierError(ValueError):
    """The input cannot make a dossier; the message says what is wrong."""


@dataclass(frozen=True)
class DossierInput:
    case: Mapping[str, Any]
    timeline: Sequence[Mapping[str, Any]]
    evidence: Sequence[Mapping[str, Any]]
    #: the bytes of an evidence file by its SHA-256 (``BlobStore.read``)
    read_evidence: Callable[[str], bytes]
    audit: Sequence[Mapping[str, Any]] = ()
    signed_head: Mapping[str, Any] | None = None
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class EvidenceFile:
    item: Mapping[str, Any]
    path: str | None
    content: bytes | None
    problem: str | None


def latin1(text: object) -> str:
    """Text the PDF's built-in fonts can draw: common punctuation swapped, other characters
    outside Latin-1 decomposed where that helps (an accent dropped), else shown as '?'."""
    return "".join(map(_latin1_char, str(text).translate(_PLAIN)))


def _latin1_char(char: str) -> str:
    if ord(char) < 256:
        return char
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    return base if base and all(ord(c) < 256 for c in base) else "?"


def safe_name(filename: object, media_type: object = None, fallback: str = "evidence") -> str:
    """A file name that is safe in any ZIP tool: ASCII letters, digits, . _ - only."""
    ascii_name = unicodedata.normalize("NFKD", str(filename or "")).encode("ascii", "ignore")
    name = _UNSAFE.sub("-", ascii_name.decode()).strip(".-")[:80].strip(".-")
    if not name:
        name = fallback + _EXTENSIONS.get(str(media_type), "")
    return name


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _evidence_file(item: Mapping[str, Any], read: Callable[[str], bytes]) -> EvidenceFile:
    digest = str(item.get("sha256") or "")
    if not _SHA256.match(digest):
        raise DossierError(f"evidence {item.get('id')!r} has no valid sha256")
    name = safe_name(item.get("filename"), item.get("media_type"), str(item.get("kind") or ""))
    try:
        content = read(digest)
    except FileNotFoundError:
        return EvidenceFile(item, None, None, "the stored file is missing")
    if sha256_hex(content) != digest:
        return EvidenceFile(
            item, None, None, f"the stored file hashes to {sha256_hex(content)}, not {digest}"
        )
    return EvidenceFile(item, f"evidence/{digest}-{name}", content, None)


def _text(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    return "" if value is None else str(value)


class _Report(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(format="A4")
        self.report_title = title
        self.set_auto_page_break(auto=True, margin=15)
        self.set_margins(15, 15, 15)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.set_text_color(100, 116, 139)
        self.cell(0, 8, latin1(f"{self.report_title} - page {self.page_no()} of {{nb}}"))

    def heading(self, text: str) -> None:
        self.ln(3)
        self.set_font("Helvetica", "B", 13)
        self.set_text_color(15, 23, 42)
        self.cell(0, 8, latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_draw_color(203, 213, 225)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(2)

    def paragraph(self, text: str, size: float = 9, style: str = "") -> None:
        self.set_font("Helvetica", style, size)
        self.set_text_color(30, 41, 59)
        self.multi_cell(0, 4.6, latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def rows(
        self, headings: Sequence[str], rows: Sequence[Sequence[object]], widths: Sequence[int]
    ) -> None:
        if not rows:
            self.paragraph("None.")
            return
        self.set_font("Helvetica", size=8)
        with self.table(col_widths=tuple(widths), text_align="LEFT", line_height=4.2) as table:
            header = table.row()
            for heading in headings:
                header.cell(latin1(heading))
            for values in rows:
                row = table.row()
                for value in values:
                    row.cell(latin1(_text(value)))

    def field_lines(self, title: str, fields: Sequence[tuple[str, object]]) -> None:
        """A bold line, then ``name: value`` lines; hashes and payloads in a fixed-width font
        on lines of their own, so they can be read and copied whole."""
        self.set_font("Helvetica", "B", 8.5)
        self.set_text_color(15, 23, 42)
        self.multi_cell(0, 4.6, latin1(title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        for name, value in fields:
            mono = name in _FIXED_WIDTH
            self.set_font("Courier" if mono else "Helvetica", size=7.5 if mono else 8)
            self.multi_cell(
                0, 3.9, latin1(f"{name}: {_text(value)}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT
            )
        self.ln(1.5)


def _facts(case: Mapping[str, Any]) -> list[tuple[str, str]]:
    keys = [k for k in FACT_ORDER if k in case] + [k for k in case if k not in FACT_ORDER]
    return [(k.replace("_", " "), _text(case[k])) for k in keys if _text(case[k]) != ""]


def render_report(data: DossierInput, files: Sequence[EvidenceFile]) -> bytes:
    """The PDF case report."""
    case_id = str(data.case["id"])
    pdf = _Report(f"Reclaim case {case_id}")
    pdf.set_creation_date(data.generated_at)
    pdf.set_title(f"Reclaim case {case_id}")
    pdf.set_author("Reclaim")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, "Reclaim case dossier", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.paragraph(f"Case {case_id}, generated {data.generated_at.isoformat(timespec='seconds')}.")
    pdf.paragraph(
        f"The evidence files are in this archive under evidence/; {MANIFEST_NAME} lists the "
        "SHA-256 of every file, which `sha256sum` reproduces."
    )
    pdf.heading("Facts")
    pdf.rows(("fact", "value"), _facts(data.case), (45, 135))
    pdf.heading("Timeline")
    timeline = [
        (row.get("occurred_at"), row.get("title"), _text(row.get("details")), row.get("actor"))
        for row in data.timeline
    ]
    pdf.rows(("occurred", "what", "details", "by"), timeline, (38, 42, 75, 25))
    _evidence_section(pdf, files)
    _audit_section(pdf, data)
    return bytes(pdf.output())


def _evidence_section(pdf: _Report, files: Sequence[EvidenceFile]) -> None:
    pdf.heading("Evidence")
    for file in files:
        item = file.item
        pdf.field_lines(
            f"{item.get('id')}: {item.get('kind')}, {item.get('filename') or 'no file name'}",
            [
                ("SHA-256", item.get("sha256")),
                ("size", f"{item.get('size')} bytes, {item.get('media_type')}"),
                ("description", item.get("description") or ""),
                ("in this archive", file.path or f"NOT INCLUDED: {file.problem}"),
            ],
        )
    if not files:
        pdf.paragraph("None.")


def _audit_section(pdf: _Report, data: DossierInput) -> None:
    pdf.heading("Audit log entries")
    pdf.paragraph(
        "Every stored event of this case, in log order, with its place in the hash chain "
        "(hash = SHA-256 of the previous hash and the event's canonical bytes)."
    )
    for entry in data.audit:
        title = ", ".join(f"{k} {_text(entry[k])}" for k in _AUDIT_TITLE if k in entry)
        fields = [
            (
                key,
                json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
                if key == "payload"
                else value,
            )
            for key, value in entry.items()
            if key not in _AUDIT_TITLE
        ]
        pdf.field_lines(title, fields)
    if not data.audit:
        pdf.paragraph("None.")
    pdf.heading("Signed head of the audit chain")
    head = dict(data.signed_head or {})
    if head:
        pdf.field_lines("The chain's last entry, signed with the audit key", list(head.items()))
    else:
        pdf.paragraph("None given.")


def _zip_time(moment: datetime) -> tuple[int, int, int, int, int, int]:
    utc = moment.astimezone(UTC)
    return (max(utc.year, 1980), utc.month, utc.day, utc.hour, utc.minute, utc.second)


def _manifest(
    data: DossierInput, entries: dict[str, bytes], files: Sequence[EvidenceFile]
) -> bytes:
    manifest = {
        "case_id": str(data.case["id"]),
        "generated_at": data.generated_at.isoformat(),
        "files": [
            {"path": path, "sha256": sha256_hex(content), "size": len(content)}
            for path, content in entries.items()
        ],
        "evidence": [
            {
                "id": f.item.get("id"),
                "sha256": f.item.get("sha256"),
                "path": f.path,
                "problem": f.problem,
            }
            for f in files
        ],
        "signed_head": dict(data.signed_head or {}),
    }
    return json.dumps(manifest, indent=2, default=str).encode() + b"\n"


def write_dossier(data: DossierInput, target: BinaryIO) -> None:
    """Write the ZIP to ``target`` (a file opened for binary writing)."""
    if not data.case.get("id"):
        raise DossierError("the case facts need its id")
    files = [_evidence_file(item, data.read_evidence) for item in data.evidence]
    entries: dict[str, bytes] = {REPORT_NAME: render_report(data, files)}
    for file in files:
        if file.path is not None and file.content is not None:
            entries.setdefault(file.path, file.content)
    entries[MANIFEST_NAME] = _manifest(data, entries, files)
    stamp = _zip_time(data.generated_at)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, content in entries.items():
            info = zipfile.ZipInfo(path, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, content)


def build_dossier(data: DossierInput) -> bytes:
    buffer = io.BytesIO()
    write_dossier(data, buffer)
    return buffer.getvalue()


def dossier_filename(case_id: object) -> str:
    return f"reclaim-case-{safe_name(case_id)}.zip"
