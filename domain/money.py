"""Money: a ``Decimal`` amount with a validated ISO 4217 currency. Never float."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from domain.errors import InvalidValue

# Active ISO 4217 codes (list one, 2024 edition), without funds and precious metals.
ISO_4217 = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL
    BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP
    ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR
    IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL
    LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR
    NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD
    SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX
    USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
    """.split()  # noqa: SIM905 - a table reads better as text
)

# Minor units where they differ from two.
_MINOR_UNITS = {
    **dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
}

MAX_AMOUNT = Decimal("1000000000000")


def minor_units(currency: str) -> int:
    return _MINOR_UNITS.get(currency, 2)


def validate_currency(currency: object, field: str = "currency") -> str:
    if not isinstance(currency, str) or currency not in ISO_4217:
        raise InvalidValue(field, f"{currency!r} is not an ISO 4217 currency code")
    return currency


def validate_amount(amount: object, currency: str, field: str) -> Decimal:
    """A finite, positive Decimal with no more decimals than the currency has, written with
    exactly its decimal places ("120" in USD is kept as 120.00), so every event, timeline
    title and letter shows an amount the same way."""
    if isinstance(amount, float | bool):
        raise InvalidValue(field, "must be a decimal string, not a float")
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        raise InvalidValue(field, f"{amount!r} is not a number") from None
    if not value.is_finite():
        raise InvalidValue(field, "must be a finite number")
    if value <= 0:
        raise InvalidValue(field, "must be greater than zero")
    if value > MAX_AMOUNT:
        raise InvalidValue(field, "is implausibly large")
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > minor_units(currency):
        raise InvalidValue(
            field, f"{currency} has {minor_units(currency)} decimal places, got {value}"
        )
    return value.quantize(Decimal(1).scaleb(-minor_units(currency)))


def format_amount(amount: Decimal | str | int, currency: str) -> str:
    """The amount with exactly the currency's decimal places, as text: "25.00" in EUR."""
    places = minor_units(currency)
    return str(Decimal(str(amount)).quantize(Decimal(1).scaleb(-places)))


def format_money(amount: Decimal | str | int, currency: str) -> str:
    """Money as every page, letter, reminder, calendar event and report writes it: the
    amount with the currency's decimal places, a space and the code ("25.00 EUR",
    "1500 JPY")."""
    return f"{format_amount(amount, currency)} {currency}"
