"""Billing periods and the charge identifiers derived from them (money rule 1).

Every automatic charge has a ``merchant_uid`` decided from (subscription, period, attempt)
before iamport is called, so a retry, a second worker or a replayed webhook names the same
charge and iamport refuses a duplicate.
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..formatting import display_zone
from ..models import Plan, Subscription

MERCHANT_UID = re.compile(
    r"^(?P<prefix>[A-Za-z]+)(?P<subscription>\d+)-p(?P<period>\d+)-a(?P<attempt>\d+)$"
)


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
    Works on naive local wall-clock times (a billing anchor) as on aware ones.
    """
    if plan.interval_unit == "day":
        return start + timedelta(days=plan.interval_count * count)
    months = start.month - 1 + plan.interval_count * count
    year, month = start.year + months // 12, months % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


# --- the billing anchor ---------------------------------------------------------------------


def local_anchor(start: datetime) -> datetime:
    """Return the billing anchor of a start at ``start``: its local wall-clock time in
    DISPLAY_TIMEZONE, naive, to the second."""
    return start.astimezone(display_zone()).replace(tzinfo=None, microsecond=0)


def anchor_occurrence(anchor: datetime, plan: Plan, count: int) -> datetime:
    """Return the ``count``-th period boundary after ``anchor`` as an aware UTC time.

    Counted from the anchor every time, never from the previous boundary, so a clamp to a
    short month does not stick (31 Jan, 28 Feb, 31 Mar), and in local time, so a start at
    00:30 KST stays on its local day.
    """
    local = add_interval(anchor, plan, count)
    return local.replace(tzinfo=display_zone()).astimezone(UTC)


def period_end_after(anchor: datetime, plan: Plan, start: datetime) -> datetime:
    """Return the first period boundary of ``anchor`` strictly after ``start``."""
    local = start.astimezone(display_zone()).replace(tzinfo=None)
    if plan.interval_unit == "day":
        estimate = (local - anchor).days // plan.interval_count
    else:
        months = (local.year - anchor.year) * 12 + local.month - anchor.month
        estimate = months // plan.interval_count
    count = max(estimate - 1, 0)
    while (end := anchor_occurrence(anchor, plan, count)) <= start:
        count += 1
    return end


def anchor_of(subscription: Subscription, start: datetime) -> datetime:
    """Return the subscription's anchor, taking ``start`` as it when none was stored yet."""
    if subscription.billing_anchor is None:
        subscription.billing_anchor = local_anchor(start)
    return subscription.billing_anchor


# --- what charging an unpaid period now will do ----------------------------------------------


@dataclass(frozen=True)
class PlannedCharge:
    """One charge that charging the unpaid period now leads to, for its confirmation."""

    period: int
    start: datetime
    end: datetime
    amount: int
    #: When it is charged: now for the first, None for "right after the charge before",
    #: the period's start for the next regular charge.
    at: datetime | None
    regular: bool = False


def unpaid_period_ended(subscription: Subscription, at: datetime) -> bool:
    """Return whether the period a subscription owes has already ended by ``at``."""
    start = subscription.next_charge_at
    if start is None:
        return False
    anchor = subscription.billing_anchor or local_anchor(start)
    return period_end_after(anchor, subscription.next_plan or subscription.plan, start) <= at


def charges_after_charge_now(
    subscription: Subscription, *, restart: bool, at: datetime
) -> list[PlannedCharge]:
    """Return every charge that charging the unpaid period at ``at`` makes, then the next
    regular one: restarting from ``at`` makes one; collecting the missed period charges each
    period that has already started, one right after the other."""
    plan = subscription.next_plan or subscription.plan
    period = subscription.current_period + 1
    if restart or subscription.next_charge_at is None:
        anchor, start = local_anchor(at), at
    else:
        start = subscription.next_charge_at
        anchor = subscription.billing_anchor or local_anchor(start)
    planned, when = [], at
    while True:
        end = period_end_after(anchor, plan, start)
        planned.append(PlannedCharge(period, start, end, plan.amount, when))
        if end > at:
            break
        period, start, when = period + 1, end, None
    following = period_end_after(anchor, plan, end)
    planned.append(PlannedCharge(period + 1, end, following, plan.amount, end, regular=True))
    return planned
