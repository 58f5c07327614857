"""Phone numbers as stored and as searched: digits only, one rule for both."""
from __future__ import annotations

import re

PHONE_LIKE = re.compile(r"[\d\s\-+().]+")


def phone_digits(value: str | None) -> str:
    """Return only the digits of a phone number, so any formatting finds the same person."""
    return re.sub(r"\D", "", value or "")[:20]


def looks_like_phone(text: str) -> bool:
    """Return whether a search is a phone number (or part of one) rather than a name."""
    return bool(PHONE_LIKE.fullmatch(text)) and len(phone_digits(text)) >= 3
