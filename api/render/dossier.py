"""The case dossier: a ZIP to hand to a supervisor, an agency or a card issuer.

It holds ``case-report.pdf`` (the case's facts, timeline, evidence list with
SHA-256, its audit entries and the signed head of the audit log), every
evidence file as ``evidence/<sha256>-<safe name>``, ``manifest.json`` with
every file's SHA-256 and size, so anyone can check the files with ``sha256sum``, and
what proves it with no server: ``timeline.json``, and under ``proof/`` the case's events
as stored with their inclusion proofs, the signed head, its public key and
``verify_dossier.py``, which checks all of it (``reclaim verify-dossier`` runs the same).

The input is plain data (``DossierInput``, from ``infrastructure/read/dossier_input.py``),
so the dossier does not depend on how the projections store it. An evidence file that
is missing, or whose bytes no longer hash to what was recorded, is left out and named
as a problem in the report and the manifest, rather than silently included or dropped.

The PDF embeds TrueType fonts (subset to the characters used), so what a user typed,
in any script, is drawn and can be copied or searched as typed: DejaVu Sans and DejaVu Sans
Mono for the text (Debian's ``fonts-dejavu-core``), with Droid Sans Fallback for Chinese,
Japanese and Korean (``fonts-droid-fallback``) and Symbola for emoji and symbols
(``fonts-symbola``) where DejaVu has no glyph. Long texts flow across pages: nothing is set
in a table cell that must fit on one page.
"""

from __future__ import annotations

import io
import json
import logging
import os
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO

from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from api.render.archive import MANIFEST_NAME, ManifestedZip, safe_name, sha256_hex
from domain.cases import SHA256_HEX
from infrastructure.projections import verify_dossier as verify
from infrastructure.read.dossier_input import DossierInput

_log = logging.getLogger(__name__)
REPORT_NAME = "case-report.pdf"
#: where the fonts are looked for: RECLAIM_FONT_DIRS (os.pathsep-separated) first, then the
#: places Debian's packages put them
FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts-droid-fallback/truetype",
    "/usr/share/fonts/truetype/ancient-scripts",
    "/usr/share/fonts",
)
#: family -> (style -> file name), with the Debian package that ships it
_FONTS: dict[str, tuple[str, dict[str, str]]] = {
    "DejaVu": ("fonts-dejavu-core", {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}),
    "DejaVuMono": ("fonts-dejavu-core", {"": "DejaVuSansMono.ttf"}),
    # DroidSansFallback.ttf, not the package's DroidSansFallbackFull.ttf, which lacks Hangul
    "DroidFallback": ("fonts-droid-fallback", {"": "DroidSansFallback.ttf"}),
    "Symbola": ("fonts-symbola", {"": "Symbola_hint.ttf"}),
}
#: drawn where the text's own font has no glyph: Chinese, Japanese, Korean; emoji, symbols
_FALLBACKS = ("DroidFallback", "Symbola")
_SANS, _MONO = "DejaVu", "DejaVuMono"
#: characters that draw nothing: where no font has them, they are left out rather than named
_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp", "Mn", "Me"})
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
class EvidenceFile:
    item: Mapping[str, Any]
    path: str | None
    content: bytes | None
    problem: str | None


class FontMissing(RuntimeError):
    """A font the PDF needs is not installed; the message names the Debian package."""


def _font_dirs() -> list[Path]:
    extra = [Path(d) for d in os.environ.get("RECLAIM_FONT_DIRS", "").split(os.pathsep) if d]
    return [*extra, *(Path(d) for d in FONT_DIRS)]


@cache
def _find_font(name: str, dirs: tuple[Path, ...]) -> Path | None:
    for folder in dirs:
        if (folder / name).is_file():
            return folder / name
    for folder in dirs:
        if folder.is_dir():
            found = next(iter(sorted(folder.rglob(name))), None)
            if found is not None:
                return found
    return None


@cache
def font_files() -> dict[tuple[str, str], Path]:
    """Every font file found, by (family, style). DejaVu is required: without it this raises
    FontMissing naming the Debian package. A missing fallback font is logged once, and the
    characters only it has are then shown as ``[U+XXXX]`` rather than dropped."""
    dirs = tuple(_font_dirs())
    files: dict[tuple[str, str], Path] = {}
    missing: list[str] = []
    for family, (package, styles) in _FONTS.items():
        for style, name in styles.items():
            path = _find_font(name, dirs)
            if path is None:
                missing.append(f"{name} (Debian package {package})")
            else:
                files[(family, style)] = path
    needed = [f"{n} (Debian package fonts-dejavu-core)" for n in _required_names(files)]
    if needed:
        raise FontMissing(
            "the dossier PDF needs fonts that are not installed: "
            + ", ".join(needed)
            + "; install them, or set RECLAIM_FONT_DIRS to folders that hold them"
        )
    if missing:
        _log.warning(
            "dossier PDF fallback fonts not installed, their characters show as [U+XXXX]: %s",
            ", ".join(missing),
        )
    return files


def _required_names(files: Mapping[tuple[str, str], Path]) -> list[str]:
    return [
        name
        for family in (_SANS, _MONO)
        for style, name in _FONTS[family][1].items()
        if (family, style) not in files
    ]


@cache
def _coverage(path: Path) -> frozenset[int]:
    """The code points a font has a glyph for."""
    with TTFont(path, lazy=True) as font:
        return frozenset(font.getBestCmap())


def _evidence_file(item: Mapping[str, Any], read: Callable[[str], bytes]) -> EvidenceFile:
    digest = str(item.get("sha256") or "")
    if not SHA256_HEX.match(digest):
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
    """The report's page layout. Every text goes through ``shown``: a fallback font is
    embedded only once a character needs it (Droid Sans Fallback alone takes half a second
    to load), and a character that no font has is written as ``[U+XXXX]``."""

    def __init__(self, title: str) -> None:
        super().__init__(format="A4")
        self.report_title = title
        self.set_auto_page_break(auto=True, margin=15)
        self.set_margins(15, 15, 15)
        self.font_paths = font_files()
        for (family, style), path in self.font_paths.items():
            if family in (_SANS, _MONO):
                self.add_font(family, style, path)
        self.fallbacks: list[str] = []

    def set_font(self, family: str | None = None, style: str = "", size: float = 0) -> None:
        super().set_font(family, style, size)
        self._pin_font()

    def add_page(self, *args: Any, **kwargs: Any) -> None:
        super().add_page(*args, **kwargs)
        self._pin_font()

    def _pin_font(self) -> None:
        """Write the current font to the page at once, outside any text line. fpdf2 2.8.9
        otherwise sets it inside the first line when that line starts with a fallback font,
        wrapped in q/Q, so the next line is drawn with no font (its text is lost)."""
        if self.page and self.current_font is not None and not self.current_font_is_set_on_page:
            self._out(self._set_font_for_page(self.current_font, self.font_size_pt))

    def shown(self, text: object, family: str = _SANS, style: str = "") -> str:
        own = _coverage(self.font_paths.get((family, style)) or self.font_paths[(family, "")])
        out: list[str] = []
        for char in str(text):
            code = ord(char)
            if code in own or char in "\n\t ":
                out.append(char)
                continue
            for fallback in _FALLBACKS:
                path = self.font_paths.get((fallback, ""))
                if path is not None and code in _coverage(path):
                    self._use_fallback(fallback, path)
                    out.append(char)
                    break
            else:
                if unicodedata.category(char) not in _INVISIBLE:
                    out.append(f"[U+{code:04X}]")
        return "".join(out)

    def _use_fallback(self, family: str, path: Path) -> None:
        if family not in self.fallbacks:
            self.add_font(family, "", path)
            self.fallbacks = [f for f in _FALLBACKS if f in (*self.fallbacks, family)]
            self.set_fallback_fonts(self.fallbacks, exact_match=False)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(_SANS, size=8)
        self.set_text_color(100, 116, 139)
        self.cell(0, 8, self.shown(f"{self.report_title} - page {self.page_no()} of {{nb}}"))

    def heading(self, text: str) -> None:
        self.ln(3)
        self.set_font(_SANS, "B", 13)
        self.set_text_color(15, 23, 42)
        self.cell(0, 8, self.shown(text, _SANS, "B"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_draw_color(203, 213, 225)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(2)

    def paragraph(self, text: str, size: float = 9, style: str = "") -> None:
        self.set_font(_SANS, style, size)
        self.set_text_color(30, 41, 59)
        self.multi_cell(0, 4.6, self.shown(text, _SANS, style), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def facts(self, facts: Sequence[tuple[str, str]]) -> None:
        """``name  value`` lines: the name in a bold column, the value flowing beside it and
        on across pages however long it is (a table row would have to fit on one page)."""
        if not facts:
            self.paragraph("None.")
            return
        self.set_text_color(30, 41, 59)
        for name, value in facts:
            self.set_font(_SANS, "B", 8)
            self.cell(45, 4.2, self.shown(name, _SANS, "B"))
            self.set_font(_SANS, size=8)
            value_text = self.shown(value)
            self.multi_cell(0, 4.2, value_text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            self.ln(0.8)

    def field_lines(self, title: str, fields: Sequence[tuple[str, object]]) -> None:
        """A bold line, then ``name: value`` lines; hashes and payloads in a fixed-width font
        on lines of their own, so they can be read and copied whole. Every line flows on
        across pages however long it is."""
        self.set_font(_SANS, "B", 8.5)
        self.set_text_color(15, 23, 42)
        heading = self.shown(title, _SANS, "B")
        self.multi_cell(0, 4.6, heading, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(30, 41, 59)
        for name, value in fields:
            mono = name in _FIXED_WIDTH
            family = _MONO if mono else _SANS
            self.set_font(family, size=7.5 if mono else 8)
            line = self.shown(f"{name}: {_text(value)}", family)
            self.multi_cell(0, 3.9, line, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
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
    pdf.set_font(_SANS, "B", 18)
    pdf.cell(0, 10, "Reclaim case dossier", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.paragraph(f"Case {case_id}, generated {data.generated_at.isoformat(timespec='seconds')}.")
    pdf.paragraph(
        f"The evidence files are in this archive under evidence/; {MANIFEST_NAME} lists the "
        "SHA-256 of every file, which `sha256sum` reproduces."
    )
    pdf.heading("Facts")
    pdf.facts(_facts(data.case))
    pdf.heading("Timeline")
    for row in data.timeline:
        pdf.field_lines(
            f"{_text(row.get('occurred_at'))}  {_text(row.get('title'))}",
            [("details", row.get("details")), ("by", row.get("actor"))],
        )
    if not data.timeline:
        pdf.paragraph("None.")
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


def _manifest(
    data: DossierInput, entries: Sequence[Mapping[str, Any]], files: Sequence[EvidenceFile]
) -> bytes:
    manifest = {
        "case_id": str(data.case["id"]),
        "generated_at": data.generated_at.isoformat(),
        "files": list(entries),
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


#: the checker, shipped in the dossier: ``python3 proof/verify_dossier.py dossier.zip``
PROOF_SCRIPT = "proof/verify_dossier.py"


def write_dossier(data: DossierInput, target: BinaryIO) -> None:
    """Write the ZIP to ``target`` (a file opened for binary writing)."""
    if not data.case.get("id"):
        raise DossierError("the case facts need its id")
    files = [_evidence_file(item, data.read_evidence) for item in data.evidence]
    report = render_report(data, files)
    with ManifestedZip(target, data.generated_at) as archive:
        archive.add(REPORT_NAME, report)
        for file in files:
            if file.path is not None and file.content is not None and file.path not in archive:
                archive.add(file.path, file.content)
        if data.proof is not None:
            _add_proof(archive, data)
        archive.add(MANIFEST_NAME, _manifest(data, archive.files, files))


def _add_proof(archive: ManifestedZip, data: DossierInput) -> None:
    """What lets the dossier prove itself with no server (``verify_dossier.py``): the
    timeline as data, the case's stored events with their inclusion proofs, the signed
    head, its public key, and the checker itself."""
    assert data.proof is not None
    timeline = {"case_id": str(data.case["id"]), "items": list(data.timeline)}
    archive.add(verify.TIMELINE, _json(timeline))
    lines = b"".join(_json(e, indent=None) for e in data.proof.events)
    archive.add(verify.EVENTS, lines)
    archive.add(verify.HEAD, _json(dict(data.proof.head)))
    archive.add(verify.PUBLIC_KEY, data.proof.public_key_pem.encode())
    archive.add(PROOF_SCRIPT, Path(verify.__file__).read_bytes())


def _json(value: Any, indent: int | None = 2) -> bytes:
    return json.dumps(value, indent=indent, default=_text_of, ensure_ascii=False).encode() + b"\n"


def _text_of(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def build_dossier(data: DossierInput) -> bytes:
    buffer = io.BytesIO()
    write_dossier(data, buffer)
    return buffer.getvalue()


def dossier_filename(case_id: object) -> str:
    return f"reclaim-case-{safe_name(case_id)}.zip"
