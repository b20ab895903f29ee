"""The reports page's signed session cookie."""

from __future__ import annotations

import pytest
from itsdangerous import URLSafeTimedSerializer

from infrastructure.sessions import SessionCookie, derive_secret


def test_a_sealed_key_comes_back_only_with_the_same_secret() -> None:
    cookie = SessionCookie("secret-one")
    sealed = cookie.seal("rk_abc")
    assert cookie.unseal(sealed) == "rk_abc"
    assert SessionCookie("secret-two").unseal(sealed) is None


def test_an_edited_forged_or_empty_cookie_is_nothing() -> None:
    cookie = SessionCookie("secret-one")
    sealed = cookie.seal("rk_abc")
    assert cookie.unseal(sealed[:-2] + ("AA" if not sealed.endswith("AA") else "BB")) is None
    forged = URLSafeTimedSerializer("secret-one", salt="another-purpose").dumps("rk_abc")
    assert cookie.unseal(forged) is None
    assert cookie.unseal("") is None
    assert cookie.unseal(None) is None
    assert cookie.unseal("not-a-cookie") is None


def test_an_old_cookie_has_expired(monkeypatch: pytest.MonkeyPatch) -> None:
    cookie = SessionCookie("secret-one", max_age=60)
    sealed = cookie.seal("rk_abc")
    import itsdangerous.timed

    real = itsdangerous.timed.time.time
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: real() + 61)
    assert cookie.unseal(sealed) is None


def test_bad_setup_is_refused() -> None:
    with pytest.raises(ValueError, match="secret"):
        SessionCookie("")
    with pytest.raises(ValueError, match="nothing"):
        SessionCookie("s").seal("")
    assert derive_secret(b"a") != derive_secret(b"b")
    assert derive_secret(b"a") == derive_secret(b"a")
