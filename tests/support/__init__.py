"""What the tests share: data builders, live servers, the PostgreSQL server, the browser.

No tests here; ``tests/unit``, ``tests/integration`` and ``tests/e2e`` import from it.
"""

from __future__ import annotations

from pathlib import Path

#: the repository root, and the golden files and sample mail in ``tests/data/``
ROOT = Path(__file__).resolve().parent.parent.parent
DATA = ROOT / "tests" / "data"
