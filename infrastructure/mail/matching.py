"""What a message read from the mailbox is, and which case it answers.

``automatic`` tells machine-sent mail (out-of-office replies, bounces) by its headers:
such mail is never recorded as the platform's answer. ``find_case`` names the case,
first by ``In-Reply-To``/``References`` to a mail Reclaim sent (``refs.py``: an HMAC
proves we made it), then by a case tag in the subject (checked the same way against
the workspace's cases that begin with its 8 hex digits), then by the platform's ticket
reference (a case's submission ``reference``) found in the subject or text. A reference
that names two cases, or two references naming different cases, match nothing: the
message waits in the inbox for a person to say.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import Message
from email.utils import parseaddr
from typing import Protocol
from uuid import UUID

from infrastructure.mail import refs

#: a ticket reference shorter than this matches too much by chance to be trusted
MIN_REFERENCE = 4
#: Precedence values that mark mail sent by a program, not a person (RFC 3834 § 2)
AUTOMATIC_PRECEDENCE = ("auto_reply", "bulk", "junk", "list")
BOUNCE_SENDERS = ("mailer-daemon", "postmaster")


def _header(message: Message, name: str) -> str:
    try:
        values = message.get_all(name) or []
        return " ".join(str(v) for v in values).strip()
    except Exception:  # noqa: BLE001 - a header the library cannot decode counts as absent
        return ""


def automatic(message: Message) -> str | None:
    """Why this message was sent by a program rather than a person (None: it was not):
    ``bounce: …`` for a delivery report, ``auto-reply: …`` for the rest."""
    content_type = _header(message, "content-type").lower()
    if "multipart/report" in content_type and "delivery-status" in content_type:
        return "bounce: a delivery status report (multipart/report)"
    if _header(message, "x-failed-recipients"):
        return "bounce: X-Failed-Recipients"
    sender = parseaddr(_header(message, "from"))[1].lower()
    local = sender.split("@", 1)[0]
    if local in BOUNCE_SENDERS or _header(message, "return-path").strip() == "<>":
        return f"bounce: sent by {local or 'the null sender'}"
    submitted = _header(message, "auto-submitted").lower()
    if submitted and not submitted.startswith("no"):
        return f"auto-reply: Auto-Submitted: {submitted.split(';')[0][:40]}"
    for name in ("x-autoreply", "x-autorespond", "x-autoresponder"):
        if message.get(name) is not None:
            return f"auto-reply: {name.title()}"
    precedence = _header(message, "precedence").lower()
    if precedence in AUTOMATIC_PRECEDENCE:
        return f"auto-reply: Precedence: {precedence}"
    return None


@dataclass(frozen=True)
class Candidate:
    case_id: UUID
    owner: str


class Cases(Protocol):
    """The cases of the mailbox's workspace, as the read tables hold them."""

    def get(self, case_id: UUID) -> Candidate | None: ...

    def with_prefix(self, prefix: str) -> list[Candidate]: ...

    def references(self) -> list[tuple[Candidate, str]]: ...


@dataclass(frozen=True)
class Match:
    case: Candidate | None
    #: "reply", "tag" or "reference"; None when nothing matched
    by: str | None
    #: what matched, or why nothing did, in words (no personal data)
    reason: str


def _reference_pattern(reference: str) -> re.Pattern[str]:
    return re.compile(
        r"(?<![A-Za-z0-9])" + re.escape(reference) + r"(?![A-Za-z0-9])", re.IGNORECASE
    )


def by_reference(texts: Iterable[str], cases: Cases) -> Match:
    haystack = "\n".join(texts)
    found: dict[UUID, Candidate] = {}
    for candidate, reference in cases.references():
        reference = reference.strip()
        if len(reference) < MIN_REFERENCE or reference == "[erased]":
            continue
        if _reference_pattern(reference).search(haystack):
            found[candidate.case_id] = candidate
    if len(found) == 1:
        (only,) = found.values()
        return Match(only, "reference", f"the ticket reference of case {only.case_id}")
    if len(found) > 1:
        return Match(
            None, None, f"ambiguous: ticket references of {len(found)} cases are mentioned"
        )
    return Match(None, None, "no reply to Reclaim's mail, no case tag, no ticket reference")


def find_case(key: bytes, message: Message, subject: str, text: str, cases: Cases) -> Match:
    """The case this message is about, and how that was found."""
    for name in ("in-reply-to", "references"):
        named = refs.case_of_message_id(key, _header(message, name))
        if named is not None:
            candidate = cases.get(named)
            if candidate is not None:
                return Match(candidate, "reply", f"a reply to mail sent from case {named}")
    for prefix, mac in refs.tag_prefixes(subject):
        for candidate in cases.with_prefix(prefix):
            if refs.tag_matches(key, candidate.case_id, mac):
                return Match(candidate, "tag", f"the case tag of case {candidate.case_id}")
    return by_reference((subject, text), cases)
