"""The sample mail in tests/data/mail/, as the e-mail tests read it."""

from __future__ import annotations

from tests.support import DATA

MAIL = DATA / "mail"


def eml(name: str) -> bytes:
    return (MAIL / name).read_bytes()
