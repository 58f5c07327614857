"""Phone numbers as stored and as searched: digits only, one rule for both.

Korean numbers are stored in their domestic form (``01012345678``): the country code of a
number typed as ``+82 10-1234-5678`` (or ``0082…``) becomes the leading ``0``, so every way
people write one number finds the same customer.
"""
from __future__ import annotations

import re

PHONE_LIKE = re.compile(r"[\d\s\-+().]+")
KOREA_PREFIXES = ("0082", "82")
# A last-four search lists customers by the end of their number.
LAST_DIGITS = 4


def phone_digits(value: str | None) -> str:
    """Return the domestic digits of a phone number, so any formatting finds the same person."""
    text = (value or "").strip()
    digits = re.sub(r"\D", "", text)
    international = text.startswith("+") or digits.startswith("0082")
    if international:
        for prefix in KOREA_PREFIXES:
            if digits.startswith(prefix):
                rest = digits[len(prefix):]
                digits = rest if rest.startswith("0") else "0" + rest
                break
    return digits[:20]


def looks_like_phone(text: str) -> bool:
    """Return whether a search is a phone number (or part of one) rather than a name."""
    return bool(PHONE_LIKE.fullmatch(text)) and len(phone_digits(text)) >= 3


def is_last_digits(text: str) -> bool:
    """Return whether a search is the last four digits of a phone number (``5678``)."""
    return text.strip().isdigit() and len(text.strip()) == LAST_DIGITS
