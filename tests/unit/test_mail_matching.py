"""Which case a message read from the mailbox answers, and which mail a program sent:
``infrastructure/mail/matching.py`` with the cases given in memory."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from uuid import UUID, uuid4

import pytest

from infrastructure.mail import refs
from infrastructure.mail.matching import Candidate, automatic, find_case

KEY = b"k" * 32


class Cases:
    def __init__(self, *cases: tuple[UUID, str | None]) -> None:
        self.cases = cases

    def get(self, case_id):
        return next((Candidate(c, "alice") for c, _ in self.cases if c == case_id), None)

    def with_prefix(self, prefix):
        return [Candidate(c, "alice") for c, _ in self.cases if c.hex.startswith(prefix)]

    def references(self):
        return [(Candidate(c, "alice"), r) for c, r in self.cases if r]


def message(**headers: str):
    text = "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in headers.items())
    return BytesParser(policy=policy.default).parsebytes((text + "\r\nbody\r\n").encode())


def test_a_reply_to_our_mail_names_its_case_first() -> None:
    ours, other = uuid4(), uuid4()
    sent = refs.message_id(KEY, ours, "mail.test")
    cases = Cases((ours, None), (other, "T-1001"))
    found = find_case(KEY, message(In_Reply_To=sent), "Re: T-1001", "", cases)
    assert (found.case.case_id, found.by) == (ours, "reply")
    # in References only (a reply further down the thread)
    found = find_case(KEY, message(References=f"<a@b> {sent}"), "", "", cases)
    assert found.case.case_id == ours


def test_a_forged_or_foreign_reference_names_nothing() -> None:
    ours = uuid4()
    sent = refs.message_id(KEY, ours, "mail.test")
    forged = sent[:-20] + ("0" if sent[-20] != "0" else "1") + sent[-19:]
    cases = Cases((ours, None))
    assert find_case(KEY, message(In_Reply_To=forged), "", "", cases).case is None
    # made with another store's key
    assert find_case(b"x" * 32, message(In_Reply_To=sent), "", "", cases).case is None
    # a case not in this workspace
    assert find_case(KEY, message(In_Reply_To=sent), "", "", Cases()).case is None


def test_the_subject_tag_is_checked_against_the_cases_with_its_prefix() -> None:
    tagged = uuid4()
    cases = Cases((tagged, None), (uuid4(), None))
    subject = refs.tagged(KEY, "Your appeal", tagged)
    found = find_case(KEY, message(), subject, "", cases)
    assert (found.case.case_id, found.by) == (tagged, "tag")
    wrong = subject.replace(subject[-3], "0" if subject[-3] != "0" else "1")
    assert find_case(KEY, message(), wrong, "", cases).case is None


@pytest.mark.parametrize(
    ("subject", "text", "expected"),
    [
        ("Update on T-2002", "", "T-2002"),
        ("Update", "your ticket t-2002 is open", "T-2002"),
        ("Update on T-20021", "", None),  # a longer number is another ticket
        ("Update on XT-2002", "", None),
        ("About DUP-7777", "", None),  # two cases share it
        ("T-2002 and T-3003", "", None),  # two cases named
        ("ab", "", None),  # too short to trust
    ],
)
def test_a_ticket_reference_matches_one_case_or_none(subject, text, expected) -> None:
    one, two, twin_a, twin_b, short = uuid4(), uuid4(), uuid4(), uuid4(), uuid4()
    cases = Cases(
        (one, "T-2002"), (two, "T-3003"), (twin_a, "DUP-7777"), (twin_b, "DUP-7777"), (short, "ab")
    )
    found = find_case(KEY, message(), subject, text, cases)
    if expected is None:
        assert found.case is None and found.reason
    else:
        assert (found.case.case_id, found.by) == (one, "reference")
    if subject == "About DUP-7777":
        assert found.reason.startswith("ambiguous")


@pytest.mark.parametrize(
    ("headers", "starts"),
    [
        ({"Auto_Submitted": "auto-replied"}, "auto-reply"),
        ({"Auto_Submitted": "auto-generated"}, "auto-reply"),
        ({"X_Autoreply": "yes"}, "auto-reply"),
        ({"X_Autorespond": "Out of office"}, "auto-reply"),
        ({"Precedence": "auto_reply"}, "auto-reply"),
        ({"Precedence": "bulk"}, "auto-reply"),
        ({"Precedence": "junk"}, "auto-reply"),
        ({"From": "MAILER-DAEMON@mx.example"}, "bounce"),
        ({"From": "Mail Delivery <postmaster@mx.example>"}, "bounce"),
        ({"Return_Path": "<>"}, "bounce"),
        ({"X_Failed_Recipients": "x@example.org"}, "bounce"),
        (
            {"Content_Type": 'multipart/report; report-type=delivery-status; boundary="b"'},
            "bounce",
        ),
    ],
)
def test_mail_a_program_sent_is_told_by_its_headers(headers, starts) -> None:
    reason = automatic(message(**{"From": "support@temu.com", **headers}))
    assert reason is not None and reason.startswith(starts + ": ")


def test_a_person_s_mail_is_not_automatic() -> None:
    assert automatic(message(From="support@temu.com", Auto_Submitted="no")) is None
    assert automatic(message(From="support@temu.com", Precedence="first-class")) is None
    assert automatic(message(From="support@temu.com")) is None


def test_a_refused_imap_url_is_not_repeated_in_the_error() -> None:
    from pydantic import ValidationError

    from infrastructure.settings import Settings

    for url in ("imap://user:pa/ss-9z@host/INBOX", "http://user:pass-9z@host/INBOX"):
        with pytest.raises(ValidationError) as refused:
            Settings(imap_url=url)
        assert "-9z" not in str(refused.value)
