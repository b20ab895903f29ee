"""The reports page's session cookie: the API key, signed and time-limited.

The browser keeps it in an HttpOnly, SameSite=Strict cookie (set by the page's
router), so scripts cannot read it and other sites cannot send it. The signature
stops a forged or edited cookie; it does not hide the key, so the cookie is
marked Secure whenever the page is served over HTTPS. Every request still checks
the key against the key store, so revoking the key ends the session at once.
"""

from __future__ import annotations

import hashlib
import hmac

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE_NAME = "reclaim_session"
MAX_AGE_SECONDS = 12 * 60 * 60
_SALT = "reclaim-reports-session-v1"


def derive_secret(root_key: bytes) -> bytes:
    """A session secret of its own from another server secret (the audit signing key),
    for when ``RECLAIM_SESSION_SECRET`` is not set."""
    return hmac.new(root_key, b"reclaim-session-secret-v1", hashlib.sha256).digest()


class SessionCookie:
    def __init__(self, secret: str | bytes, max_age: int = MAX_AGE_SECONDS) -> None:
        if not secret:
            raise ValueError("the session cookie needs a secret")
        if max_age <= 0:
            raise ValueError("max_age must be positive")
        self.max_age = max_age
        self._serializer = URLSafeTimedSerializer(secret, salt=_SALT)

    def seal(self, api_key: str) -> str:
        if not api_key:
            raise ValueError("nothing to keep in the session")
        return self._serializer.dumps(api_key)

    def unseal(self, value: str | None) -> str | None:
        """The API key, or None for a missing, forged, edited or expired cookie."""
        if not value:
            return None
        try:
            key = self._serializer.loads(value, max_age=self.max_age)
        except BadSignature:  # SignatureExpired is a BadSignature too
            return None
        return key if isinstance(key, str) else None
