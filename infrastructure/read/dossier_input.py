"""What a case's dossier is made from: plain data, so the dossier (``api/render/dossier.py``)
does not depend on how the projections store it. ``report_sources.load_dossier_input``
assembles it from the projections and the blob store."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class DossierProof:
    """What lets a dossier prove itself offline (``projections/verify_dossier.py``): a
    signed head, its public key, and each of the case's events as stored, with its
    inclusion proof against that head."""

    head: Mapping[str, Any]
    public_key_pem: str
    #: one per event, by version: position, leaf_index, originator_id,
    #: originator_version, topic, state (base64 of the stored bytes), proof (hex)
    events: Sequence[Mapping[str, Any]]


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
    proof: DossierProof | None = None
