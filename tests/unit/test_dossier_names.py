"""The dossier's names: its files' safe names and the archive's own. No store, no files."""

from __future__ import annotations

import pytest

from api.render.dossier import dossier_filename, safe_name
from tests.support.dossier import CASE_ID


@pytest.mark.parametrize(
    ("name", "media_type", "expected"),
    [
        ("wallet page.png", "image/png", "wallet-page.png"),
        ("../../etc/passwd", "text/plain", "etc-passwd"),
        ("Ünïcödé résumé.pdf", "application/pdf", "Unicode-resume.pdf"),
        ("☃☃☃", "image/jpeg", "evidence.jpg"),
        ("", None, "evidence"),
        (".hidden", "text/plain", "hidden"),
        ("a" * 200 + ".txt", "text/plain", "a" * 80),
    ],
)
def test_safe_names(name: str, media_type: str | None, expected: str) -> None:
    assert safe_name(name, media_type) == expected


def test_the_zip_is_named_after_the_case() -> None:
    assert dossier_filename(CASE_ID) == f"reclaim-case-{CASE_ID}.zip"
