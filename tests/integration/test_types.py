"""The domain's type hints are checked (STYLE.md: mypy on domain/)."""

from __future__ import annotations

import subprocess
import sys

from tests.support import ROOT


def test_mypy_passes_on_the_domain() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "domain"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
