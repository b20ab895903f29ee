"""The dossier ZIP: its files match their hashes, and its PDF is a real document."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from api.render.dossier import (
    MANIFEST_NAME,
    REPORT_NAME,
    DossierError,
    FontMissing,
    build_dossier,
    font_files,
)
from infrastructure.read.dossier_input import DossierInput
from infrastructure.store.application import ReclaimApplication
from infrastructure.store.blobs import BlobStore
from tests.support.dossier import CASE_ID, FOOTER, needs, pdf_text

GENERATED = datetime(2026, 3, 26, 9, 0, tzinfo=UTC)


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 20), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def blobs(settings_for) -> Iterator[BlobStore]:
    """The evidence store of a fresh SQLite store (the dossier is the same on both)."""
    app = ReclaimApplication(settings_for("sqlite"))
    yield app.blobs
    app.close()


def stored(blobs: BlobStore, content: bytes, media_type: str, **item: object) -> dict:
    blob = blobs.put_bytes(content, media_type)
    return {"sha256": blob.sha256, "size": blob.size, "media_type": media_type, **item}


def dossier_input(blobs: BlobStore, **changes: object) -> DossierInput:
    evidence = [
        stored(
            blobs,
            png_bytes(),
            "image/png",
            id="ev-1",
            kind="screenshot",
            filename="wallet page.png",
            description="The wallet without the credit",
        ),
        stored(
            blobs,
            "Reçu n° 42: 25,00 €\n".encode(),
            "text/plain",
            id="ev-2",
            kind="receipt",
            filename="../../reçu ☃.txt",
            description="Receipt “as sent”",
        ),
        {
            "id": "ev-3",
            "kind": "email",
            "sha256": "f" * 64,
            "size": 10,
            "media_type": "message/rfc822",
            "filename": "lost.eml",
            "description": "",
        },
    ]
    audit = []
    previous = "0" * 64
    for position, event_type in enumerate(["Opened", "EvidenceAttached", "Submitted"], start=1):
        previous = hashlib.sha256(f"{previous}{event_type}".encode()).hexdigest()
        audit.append(
            {
                "position": position,
                "version": position,
                "event_type": event_type,
                "actor": "user-1",
                "request_id": f"req-{position}",
                "recorded_at": "2026-03-12T10:00:00+00:00",
                "occurred_at": "2026-03-12T09:00:00+00:00",
                "payload": {"note": "näive — ok"},
                "hash": previous,
            }
        )
    fields = {
        "case": {
            "id": CASE_ID,
            "kind": "credit",
            "platform": "temu",
            "state": "submitted",
            "account_reference": "temu-account-4411",
            "amount_claimed": "25.00",
            "currency": "USD",
            "opened_at": "2026-03-11T00:00:00+00:00",
            "problem": "expired — shown “nowhere” 🎉 中文",
        },
        "timeline": [
            {
                "occurred_at": "2026-03-11T00:00:00+00:00",
                "title": "Case opened",
                "details": {"amount": "25.00 USD"},
                "actor": "user-1",
            },
            {
                "occurred_at": "2026-03-12T09:00:00+00:00",
                "title": "Submitted",
                "details": "support ticket T-1001",
                "actor": "user-1",
            },
        ],
        "evidence": evidence,
        "read_evidence": blobs.read,
        "audit": audit,
        "signed_head": {
            "position": 3,
            "hash": previous,
            "signature": "ab" * 32,
            "signed_at": "2026-03-26T09:00:00+00:00",
        },
        "generated_at": GENERATED,
    }
    fields.update(changes)
    return DossierInput(**fields)


def test_every_file_in_the_zip_matches_the_manifest_and_the_evidence_list(blobs) -> None:
    data = dossier_input(blobs)
    archive = zipfile.ZipFile(io.BytesIO(build_dossier(data)))
    names = archive.namelist()
    manifest = json.loads(archive.read(MANIFEST_NAME))
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(listed) == set(names) - {MANIFEST_NAME}
    for path, entry in listed.items():
        content = archive.read(path)
        assert hashlib.sha256(content).hexdigest() == entry["sha256"], path
        assert len(content) == entry["size"]

    ev1, ev2, ev3 = data.evidence
    assert f"evidence/{ev1['sha256']}-wallet-page.png" in names
    assert f"evidence/{ev2['sha256']}-recu-.txt" in names
    for item in (ev1, ev2):
        path = next(n for n in names if n.startswith(f"evidence/{item['sha256']}-"))
        assert hashlib.sha256(archive.read(path)).hexdigest() == item["sha256"]
    assert [e["problem"] for e in manifest["evidence"]] == [
        None,
        None,
        "the stored file is missing",
    ]
    assert manifest["signed_head"]["hash"] == data.signed_head["hash"]
    assert manifest["case_id"] == CASE_ID


def test_the_report_names_every_hash_the_archive_holds(blobs, tmp_path) -> None:
    data = dossier_input(blobs)
    archive = zipfile.ZipFile(io.BytesIO(build_dossier(data)))
    text = pdf_text(archive.read(REPORT_NAME), tmp_path)
    for item in data.evidence:
        assert item["sha256"] in text
    for entry in data.audit:
        assert entry["hash"] in text
    assert data.signed_head["signature"] in text
    assert "NOT INCLUDED: the stored file is missing" in text
    assert "../../reçu ☃.txt" in text and '{"note": "näive — ok"}' in text
    assert "temu-account-4411" in text
    assert "Case opened" in text and "support ticket T-1001" in text
    # drawn in embedded Unicode fonts, so pdftotext gives back exactly what was typed
    assert "expired — shown “nowhere” 🎉 中文" in text


def test_the_pdfs_first_page_renders_to_a_real_picture(blobs, tmp_path) -> None:
    pdf = zipfile.ZipFile(io.BytesIO(build_dossier(dossier_input(blobs)))).read(REPORT_NAME)
    (tmp_path / "report.pdf").write_bytes(pdf)
    subprocess.run(
        [
            needs("pdftoppm"),
            "-png",
            "-r",
            "60",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(tmp_path / "report.pdf"),
            str(tmp_path / "page"),
        ],
        check=True,
    )
    page = Image.open(tmp_path / "page.png").convert("L")
    width, height = page.size
    assert abs(width - 496) <= 1 and abs(height - 702) <= 1  # A4 at 60 dpi
    dark = sum(page.histogram()[:160])
    assert 0.005 < dark / (page.size[0] * page.size[1]) < 0.5  # text on a white page


def test_evidence_whose_bytes_changed_is_left_out_and_named(blobs, tmp_path) -> None:
    data = dossier_input(blobs)
    ev1 = data.evidence[0]
    blobs.database.execute(
        "UPDATE reclaim_blob_chunks SET data = %s WHERE sha256 = %s", (b"tampered", ev1["sha256"])
    )
    archive = zipfile.ZipFile(io.BytesIO(build_dossier(data)))
    assert not any(n.startswith(f"evidence/{ev1['sha256']}") for n in archive.namelist())
    problem = json.loads(archive.read(MANIFEST_NAME))["evidence"][0]["problem"]
    assert problem == (
        f"the stored file hashes to {hashlib.sha256(b'tampered').hexdigest()}, not {ev1['sha256']}"
    )
    assert "NOT INCLUDED: the stored file hashes to" in pdf_text(
        archive.read(REPORT_NAME), tmp_path
    )


def test_input_that_cannot_make_a_dossier_is_refused(blobs) -> None:
    with pytest.raises(DossierError, match="need its id"):
        build_dossier(dossier_input(blobs, case={"kind": "credit"}))
    bad = [{"id": "ev-9", "sha256": "../../etc/passwd", "filename": "x"}]
    with pytest.raises(DossierError, match="ev-9.*sha256"):
        build_dossier(dossier_input(blobs, evidence=bad))


def report_of(data: DossierInput) -> bytes:
    return zipfile.ZipFile(io.BytesIO(build_dossier(data))).read(REPORT_NAME)


def pages_and_flat_text(pdf: bytes, tmp_path: Path) -> tuple[int, str]:
    """The number of pages, and the text without the page footers and without whitespace,
    so a text wrapped over lines and pages reads as one."""
    text = pdf_text(pdf, tmp_path)
    body = FOOTER.sub("", text)
    return text.count("\f"), "".join(body.split())


def with_message(data: DossierInput, message: str) -> DossierInput:
    """The dossier input with a submit carrying ``message``, in the timeline and the log."""
    step = {
        "occurred_at": "2026-03-13T09:00:00+00:00",
        "title": "Submitted",
        "details": {"channel": "email", "message": message},
        "actor": "user-1",
    }
    entry = {**data.audit[-1], "position": 4, "version": 4, "payload": {"message": message}}
    return replace(data, timeline=[*data.timeline, step], audit=[*data.audit, entry])


TYPED = {
    "account_reference": "王小明 café Łódź",
    "problem": "Zażółć gęślą jaźń — ŻÓŁW",
    "message": "我们的订单被重复收费，请退款。ありがとう 감사합니다 👍 🎉 ✅",
}


def test_what_the_user_typed_comes_back_exactly_in_any_script(blobs, tmp_path) -> None:
    base = dossier_input(blobs)
    case = {**base.case, "account_reference": TYPED["account_reference"]}
    case["problem"] = TYPED["problem"]
    evidence = [{**base.evidence[0], "filename": "收据 Łódź.png", "description": "Łódź 收据 🎉"}]
    data = with_message(replace(base, case=case, evidence=evidence), TYPED["message"])
    pdf = report_of(data)
    text = pdf_text(pdf, tmp_path)
    for typed in TYPED.values():
        assert typed in text
    assert f"details: channel: email; message: {TYPED['message']}" in text
    assert json.dumps({"message": TYPED["message"]}, ensure_ascii=False) in text
    assert "收据 Łódź.png" in text and "description: Łódź 收据 🎉" in text
    assert "?" not in text  # nothing was swapped for a question mark
    fonts = subprocess.run(
        [needs("pdffonts"), "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    for family in ("DejaVuSans", "DejaVuSansMono", "DroidSansFallback", "Symbola"):
        # embedded, subset and with a ToUnicode map: "yes yes yes"
        assert re.search(rf"\+{family}\S* .* yes yes yes ", fonts), fonts


def test_a_latin_report_embeds_only_dejavu_and_stays_small(blobs, tmp_path) -> None:
    base = dossier_input(blobs)
    latin = replace(base, case={**base.case, "problem": "expired — shown “nowhere”"})
    pdf = report_of(latin)
    fonts = subprocess.run(
        [needs("pdffonts"), "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    assert "DejaVuSans" in fonts
    assert "DroidSansFallback" not in fonts and "Symbola" not in fonts
    # the fonts are subset to the glyphs used: the whole DejaVu Sans alone is 740 KB
    assert len(pdf) < 60_000
    assert len(report_of(base)) < 80_000  # with CJK and emoji glyphs from the fallbacks


@pytest.mark.parametrize(
    "message",
    [
        ("Order 42 was charged twice and the refund never came. " * 200)[:10_000],
        "x" * 10_000,
        "🎉😀👍" * 1_000,
        "中文" * 5_000,
    ],
    ids=["10000-characters", "10000-without-a-space", "3000-emoji", "10000-chinese"],
)
def test_a_message_at_the_length_limit_flows_over_pages(blobs, tmp_path, message) -> None:
    pdf = report_of(with_message(dossier_input(blobs), message))
    pages, flat = pages_and_flat_text(pdf, tmp_path)
    assert pages > 2
    # whole and in order, in the timeline and in the log entry's payload
    assert flat.count("".join(message.split())) == 2


def test_a_character_that_no_font_has_is_named_not_dropped(blobs, tmp_path) -> None:
    data = with_message(dossier_input(blobs), "melting \U0001fae0 face")
    assert "melting [U+1FAE0] face" in pdf_text(report_of(data), tmp_path)


def test_every_font_the_report_embeds_is_installed() -> None:
    files = font_files()
    assert set(files) == {
        ("DejaVu", ""),
        ("DejaVu", "B"),
        ("DejaVuMono", ""),
        ("DroidFallback", ""),
        ("Symbola", ""),
    }, "install fonts-dejavu-core fonts-droid-fallback fonts-symbola (Debian)"


def test_without_the_fallback_fonts_their_characters_are_named(
    blobs, tmp_path, font_dirs, caplog
) -> None:
    folder, installed = font_dirs
    for (family, _style), path in installed.items():
        if family in ("DejaVu", "DejaVuMono"):
            shutil.copy(path, folder / path.name)
    data = with_message(dossier_input(blobs), "王 🎉 Łódź")
    text = pdf_text(report_of(data), tmp_path)
    assert "[U+738B] [U+1F389] Łódź" in text
    assert "fonts-droid-fallback" in caplog.text and "fonts-symbola" in caplog.text


def test_without_dejavu_the_dossier_says_which_package_to_install(blobs, font_dirs) -> None:
    with pytest.raises(FontMissing, match="DejaVuSans.ttf .Debian package fonts-dejavu-core"):
        build_dossier(dossier_input(blobs))


def test_a_value_that_starts_with_emoji_keeps_the_text_after_it(blobs, tmp_path) -> None:
    # fpdf2 2.8.9 sets the page's font inside a line that starts with a fallback font, and
    # the next line then had no font: its text was lost
    base = dossier_input(blobs)
    problem = "🎉 " + " ".join(f"word{n}" for n in range(60))  # wraps onto more lines
    text = pdf_text(report_of(replace(base, case={**base.case, "problem": problem})), tmp_path)
    assert "".join(problem.split()) in "".join(text.split())
