"""Reading saved mail, no store: encodings, an inline forward in the forwarder's zone,
HTML as readable text."""

from __future__ import annotations

from datetime import UTC, datetime

from infrastructure.service.mail import html_to_text, read_mail
from tests.support.mail import eml


def test_encodings_are_decoded() -> None:
    latin = read_mail(eml("temu_latin1.eml"), 10**6)
    assert latin.subject == "Réponse à votre demande de crédit"
    assert "Nous avons bien reçu votre demande concernant votre crédit expiré." in latin.text
    assert "« T-1001 »" in latin.text
    reply = read_mail(eml("temu_reply_alternative_pdf.eml"), 10**6)  # quoted-printable
    assert "statement is attached \u2013 total 25.00 USD" in reply.text
    html_only = read_mail(eml("temu_reply_html_only.eml"), 10**6)  # base64 HTML
    assert html_only.text == reply.text


def test_a_gmail_inline_forward_is_read_in_the_forwarders_zone() -> None:
    from infrastructure.service.mail import effective

    outer = read_mail(eml("tiktok_gmail_forward.eml"), 10**6)
    inner = effective(outer, "tiktok")
    assert inner is outer.forwarded and inner.sender == "ads-support@tiktok.com"
    # "Fri, Mar 20, 2026 at 4:05 PM" shown by Gmail in the forwarder's zone (-07:00)
    assert inner.date.astimezone(UTC) == datetime(2026, 3, 20, 23, 5, tzinfo=UTC)
    assert inner.text.startswith("Hello,\n\nWe have reviewed campaign CAMPAIGN-042")
    # forwarded by the platform itself, a message is its own
    assert effective(outer, "gmail") is outer


def test_html_becomes_readable_text() -> None:
    markup = (
        "<html><head><style>p{x:y}</style><script>alert(1)</script></head><body>"
        "<p>Hello&nbsp;there,</p><ul><li>one</li><li>two</li></ul>"
        '<p>See <a href="https://temu.com/help">help</a>.<br>Bye</p></body></html>'
    )
    assert html_to_text(markup) == (
        "Hello there,\n\n- one\n- two\n\nSee help (https://temu.com/help).\nBye"
    )
