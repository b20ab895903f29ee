"""What a person may set for mail, checked once for the API and the case book: an address
(one plain addr-spec: no name, no CR or LF, nothing a header could be smuggled in by),
a daily digest time and an IANA time zone."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

#: local@domain.tld, printable ASCII without spaces, quotes, brackets, commas or semicolons
ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
DIGEST_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
MAX_ADDRESS = 254


@lru_cache(maxsize=1)
def time_zones() -> frozenset[str]:
    return frozenset(available_timezones() | {"UTC"})


def problems(address: str, digest_time: str, time_zone: str) -> dict[str, str]:
    """Each field's problem, by field name (none: all good)."""
    found = {}
    if len(address) > MAX_ADDRESS or not ADDRESS.fullmatch(address):
        found["address"] = "must be one e-mail address, such as you@example.org"
    if not DIGEST_TIME.fullmatch(digest_time):
        found["digest_time"] = "must be a time of day as HH:MM, such as 08:00"
    if time_zone not in time_zones():
        found["time_zone"] = "must be a time zone name, such as Europe/Berlin or UTC"
    return found


def sending_state(store: Any) -> tuple[bool, str]:
    """Whether mail goes out, and a sentence saying so (never the server's address or
    credentials): for the case book, the API and ``/readyz``."""
    settings = store.settings
    if not settings.smtp_url:
        return False, "No mail server is configured (RECLAIM_SMTP_URL): nothing is sent."
    if not settings.mail_from:
        return False, "No sender address is configured (RECLAIM_MAIL_FROM): nothing is sent."
    health = store.mail.health().get("smtp")
    if health is None:
        return True, "A mail server is configured; nothing has been sent yet."
    if health["ok"]:
        return True, f"The mail server took the last mail at {health['at']}."
    return True, (
        f"The mail server failed at {health['at']}: {health['detail']}. "
        "Mail is tried again later; nothing is lost."
    )


def overview(store: Any, workspace: str, user_id: str) -> dict[str, Any]:
    """A person's mail settings and their last digest, as the API and the page show them."""
    prefs = store.mail.prefs(workspace, user_id)
    sending, detail = sending_state(store)
    last = store.mail.latest(workspace, user_id, "digest")
    return {
        "address": prefs.address if prefs else None,
        "digest_time": prefs.digest_time if prefs else "08:00",
        "time_zone": prefs.time_zone if prefs else "UTC",
        "digests": bool(prefs and prefs.digests),
        "sending": sending,
        "sending_detail": detail,
        "last_digest": None
        if last is None
        else {
            "day": last["day"],
            "status": last["status"],
            "sent_at": last["sent_at"],
            "detail": last["detail"] if last["status"] != "sent" else None,
        },
    }
