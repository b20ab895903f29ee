"""What the dossier tests share: its text read back with poppler, the page footer. (The
fixture ``font_dirs``, a font folder holding only chosen fonts, is in ``tests/conftest.py``.)"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

CASE_ID = "3f1c2a9e-5b7d-4c21-9e0a-1b2c3d4e5f60"


def needs(binary: str) -> str:
    found = shutil.which(binary)
    if found is None:
        pytest.skip(
            f"{binary} is not installed: Debian's poppler-utils has it (dev.py installs it)"
        )
    return found


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    result = subprocess.run(
        [needs("pdftotext"), str(path), "-"], capture_output=True, check=True, text=True
    )
    return result.stdout


FOOTER = re.compile(r"Reclaim case \S+ - page \d+ of \d+")
