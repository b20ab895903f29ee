"""The daily digest: what is overdue, due or expiring in the next days, with a link to
each case, as one message in plain text and HTML.

The items are ``GET /v1/reminders``' (``read/reminders.py``) over the cases the person
sees in the case book. It is marked as sent by a machine (``Auto-Submitted``, RFC 3834,
so that out-of-office replies stay quiet) and carries a one-click unsubscribe (RFC 8058:
``List-Unsubscribe`` with an HTTPS link and ``List-Unsubscribe-Post``).
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, time, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from infrastructure.mail.store import MailPrefs

SUBJECT = "Reclaim: what is due"


def local_day(prefs: MailPrefs, now: datetime) -> date:
    return now.astimezone(ZoneInfo(prefs.time_zone)).date()


def is_due(prefs: MailPrefs, now: datetime) -> bool:
    """Whether today's digest (in the person's zone) is due: its time has come."""
    local = now.astimezone(ZoneInfo(prefs.time_zone))
    return local.time() >= time.fromisoformat(prefs.digest_time)


def digest_id(prefs: MailPrefs, day: date) -> str:
    return f"digest:{prefs.workspace}:{prefs.user_id}:{day.isoformat()}"


def mail_domain(sender: str) -> str:
    return sender.rsplit("@", 1)[-1].strip(" >").lower() or "reclaim.invalid"


def message_id(kind: str, name: str, sender: str) -> str:
    """A Message-ID on Reclaim's own mail domain, the same for the same mail."""
    digest = hashlib.sha256(f"{kind}\n{name}".encode()).hexdigest()[:24]
    return f"<{kind}.{digest}@{mail_domain(sender)}>"


def _line(item: dict[str, Any], link: str) -> str:
    case = item["case"]
    when = (
        f"overdue by {-item['days_left']} day{'s' if item['days_left'] != -1 else ''}"
        if item["overdue"]
        else ("today" if item["days_left"] == 0 else f"in {item['days_left']} days")
    )
    return (
        f"- {item['due']} ({when}): {item['title']}\n"
        f"  {case['platform']} {case['kind']}, {case['amount_claimed']} {case['currency']}"
        f"{', ' + case['account_reference'] if case.get('account_reference') else ''}\n"
        f"  {item['description']}\n  {link}"
    )


def _groups(items: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    overdue = [i for i in items if i["overdue"]]
    expiring = [i for i in items if not i["overdue"] and i["kind"].startswith("expiry")]
    due = [i for i in items if not i["overdue"] and not i["kind"].startswith("expiry")]
    named = [("Overdue", overdue), ("Due", due), ("Expiring", expiring)]
    return [(name, group) for name, group in named if group]


def compose(
    prefs: MailPrefs,
    items: list[dict[str, Any]],
    *,
    day: date,
    sender: str,
    public_url: str,
    within_days: int,
    now: datetime,
) -> EmailMessage:
    """The digest of ``items`` (reminders, overdue first) for ``prefs``' person."""
    base = public_url.rstrip("/")
    unsubscribe = f"{base}/mail/unsubscribe/{prefs.unsubscribe_token}"
    settings_link = f"{base}/app/mail"
    until = day + timedelta(days=within_days)
    message = EmailMessage()
    message["From"] = Address("Reclaim", addr_spec=sender)
    message["To"] = Address(addr_spec=prefs.address)
    message["Subject"] = f"{SUBJECT} on {day.isoformat()} ({len(items)})"
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(
        "digest", f"{prefs.workspace}\n{prefs.user_id}\n{day}", sender
    )
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message["List-Id"] = f"Reclaim reminders <reminders.{mail_domain(sender)}>"
    message["List-Unsubscribe"] = f"<{unsubscribe}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"

    groups = _groups(items)
    text = [f"What is due in your Reclaim cases up to {until.isoformat()}:", ""]
    for name, group in groups:
        text.append(f"{name} ({len(group)})")
        text += [_line(i, f"{base}/app/cases/{i['case']['id']}") for i in group]
        text.append("")
    text += [
        f"Change when this arrives, or stop it: {settings_link}",
        f"Unsubscribe in one step: {unsubscribe}",
    ]
    message.set_content("\n".join(text) + "\n")

    html = [
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(SUBJECT)}</title></head><body>",
        f"<h1>What is due up to {until.isoformat()}</h1>",
    ]
    for name, group in groups:
        html.append(f"<h2>{escape(name)} ({len(group)})</h2><ul>")
        for i in group:
            case = i["case"]
            link = f"{base}/app/cases/{case['id']}"
            html.append(
                f"<li><strong>{escape(str(i['due']))}</strong>: "
                f'<a href="{escape(link)}">{escape(i["title"])}</a> '
                f"({escape(case['platform'])} {escape(case['kind'])}, "
                f"{escape(str(case['amount_claimed']))} {escape(case['currency'])})"
                f"<br>{escape(i['description'])}</li>"
            )
        html.append("</ul>")
    html.append(
        f'<p><a href="{escape(settings_link)}">Change when this arrives</a> · '
        f'<a href="{escape(unsubscribe)}">Unsubscribe</a></p></body></html>'
    )
    message.add_alternative("\n".join(html), subtype="html")
    return message
