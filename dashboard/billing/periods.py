"""Billing periods and the charge identifiers derived from them (money rule 1).

Every automatic charge has a ``merchant_uid`` decided from (subscription, period, attempt)
before iamport is called, so a retry, a second worker or a replayed webhook names the same
charge and iamport refuses a duplicate.
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..models import Plan

MERCHANT_UID = re.compile(r"^(?P<prefix>[A-Za-z]+)(?P<subscription>\d+)-p(?P<period>\d+)-a(?P<attempt>\d+)$")


@dataclass(frozen=True)
class ChargeKey:
    """Which subscription, period and attempt an automatic charge belongs to."""

    subscription_id: int
    period: int
    attempt: int

    def merchant_uid(self, prefix: str = "sub") -> str:
        return f"{prefix}{self.subscription_id}-p{self.period}-a{self.attempt}"


def parse_merchant_uid(merchant_uid: str | None, prefix: str = "sub") -> ChargeKey | None:
    """Return the charge key encoded in a derived ``merchant_uid``, or None for other ids."""
    match = MERCHANT_UID.match(merchant_uid or "")
    if match is None or match["prefix"] != prefix:
        return None
    return ChargeKey(int(match["subscription"]), int(match["period"]), int(match["attempt"]))


def add_interval(start: datetime, plan: Plan, count: int = 1) -> datetime:
    """Return ``start`` moved forward by ``count`` billing intervals of ``plan``.

    Monthly periods keep the day of the month, clamped to the last day of a shorter month.
    """
    if plan.interval_unit == "day":
        return start + timedelta(days=plan.interval_count * count)
    months = start.month - 1 + plan.interval_count * count
    year, month = start.year + months // 12, months % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)
