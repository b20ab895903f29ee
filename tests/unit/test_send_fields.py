"""What a draft sent by e-mail may carry (``infrastructure/service/send.py``), without a
store: each field with a CR or LF is refused by name (the body's line breaks stay text),
the message has the headers replies are matched by, and its Date is never before now."""

from __future__ import annotations

from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from types import SimpleNamespace
from uuid import uuid4

import pytest

from infrastructure.drafts import Draft
from infrastructure.mail import refs
from infrastructure.service.send import SendInvalid, SendRequest, check, compose

SETTINGS = SimpleNamespace(platform_mail={"temu": "support@temu.com"})
CASE = SimpleNamespace(platform="temu")
DRAFT = Draft("submit", None, "support_ticket", "TEMU", "My credit", "Hello\n", "submit.j2")
KEY = b"k" * 32
INJECTED = "\r\nBcc: eve@example.org"


def test_the_draft_and_the_platform_address_fill_what_is_left_out() -> None:
    assert check(SETTINGS, CASE, SendRequest("submit"), DRAFT) == (
        "support@temu.com",
        "My credit",
        "Hello\n",
    )


@pytest.mark.parametrize(
    ("field", "request_"),
    [
        ("to", SendRequest("submit", to="support@temu.com" + INJECTED)),
        ("to", SendRequest("submit", to="Eve <eve@example.org>")),
        ("to", SendRequest("submit", to="a@temu.com, eve@example.org")),
        ("subject", SendRequest("submit", subject="Hi" + INJECTED)),
        ("subject", SendRequest("submit", subject="Hi\rBcc: eve@example.org")),
        ("subject", SendRequest("submit", subject="Hi\u2028Bcc: eve@example.org")),
        ("reference", SendRequest("submit", reference="T-1" + INJECTED)),
        ("level", SendRequest("escalate", level="supervisor" + INJECTED)),
        ("level", SendRequest("appeal", level="supervisor")),
        ("reference", SendRequest("appeal", reference="T-1")),
        ("body", SendRequest("submit", body="Hi\x00" + INJECTED)),
        ("to", SendRequest("escalate", level="consumer_agency")),
    ],
)
def test_a_field_that_could_make_a_header_is_refused_by_name(field, request_) -> None:
    with pytest.raises(SendInvalid) as refused:
        check(SETTINGS, CASE, request_, DRAFT)
    assert field in refused.value.errors


def test_line_breaks_in_the_body_stay_in_the_body() -> None:
    case_id = uuid4()
    to, subject, body = check(
        SETTINGS, CASE, SendRequest("submit", body="Hi" + INJECTED + "\rend"), DRAFT
    )
    message = compose(
        key=KEY,
        case_id=case_id,
        sender="reclaim@mail.example.org",
        to=to,
        subject=subject,
        body=body,
        now=datetime(2026, 3, 13, 9, 0, 0, 1, tzinfo=UTC),
    )
    raw = message.as_bytes()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert parsed["Bcc"] is None and parsed.get_all("To") == ["support@temu.com"]
    assert "Bcc: eve@example.org" in parsed.get_content()
    assert parsed["Auto-Submitted"] is None
    assert refs.case_of_message_id(KEY, parsed["Message-ID"]) == case_id
    assert parsed["Message-ID"].endswith("@mail.example.org>")
    assert parsed["Subject"] == refs.tagged(KEY, "My credit", case_id)
    assert parsed["Date"] == "Fri, 13 Mar 2026 09:00:00 +0000"  # (whole seconds)
