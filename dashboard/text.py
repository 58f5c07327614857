"""Fitting text to a length limit: a column's, or a field's in iamport's schema."""
from __future__ import annotations

from typing import Any


def fit(value: str | None, limit: int) -> str | None:
    """Return ``value`` cut to at most ``limit`` characters (code points, as JSON Schema's
    ``maxLength`` and our columns count them), never leaving half a surrogate pair."""
    if value is None or len(value) <= limit:
        return value
    cut = value[:limit]
    if cut and "\ud800" <= cut[-1] <= "\udbff":
        cut = cut[:-1]  # a high surrogate whose partner was cut off
    return cut


def fit_column(column: Any, value: str | None) -> str | None:
    """Return ``value`` cut to the length of a String column (e.g. ``Payment.fail_reason``)."""
    length = getattr(column.property.columns[0].type, "length", None)
    return fit(value, length) if length else value
