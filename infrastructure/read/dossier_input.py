"""What a case's dossier is made from: plain data, so the dossier (``api/render/dossier.py``)
does not depend on how the projections store it. ``report_sources.load_dossier_input``
assembles it from the projections and the blob store."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


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
