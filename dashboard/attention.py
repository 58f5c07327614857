"""Why a subscription needs staff attention: the one place that decides it.

A subscription that is supposed to be billed but will not be (its billing key is gone, nothing
is scheduled, or a charge's outcome is unknown) must never look healthy. The API, the overview
and the subscription page all ask ``subscription_attention``; the overview finds candidates
with ``needs_attention`` (the same rules in SQL) before asking it per row.

It reads the models only, so both the write side and the read side can ask it.
"""
from __future__ import annotations

from sqlalchemy import and_, exists, not_, or_, select

from .config import billing_mode
from .extensions import db
from .models import Customer, Payment, Schedule, Subscription

#: In the order they are listed.
ATTENTION_CODES = ("billing_key_missing", "not_scheduled", "charge_outcome_unknown")


def _expects_charges():
    return and_(Subscription.status.in_(("active", "past_due", "paused")),
                Subscription.cancel_at_period_end.is_(False))


def _key_missing():
    return exists(select(Customer.id).where(Customer.id == Subscription.customer_id,
                                            Customer.billing_key_status != "active"))


def _charge_pending():
    return exists(select(Payment.id).where(Payment.subscription_id == Subscription.id,
                                           Payment.status == "pending"))


def _unscheduled():
    """An active subscription with nothing that will charge it next."""
    if billing_mode() == "again":
        nothing_next = Subscription.next_attempt_at.is_(None)
    else:
        nothing_next = not_(exists(select(Schedule.id).where(
            Schedule.subscription_id == Subscription.id,
            Schedule.schedule_status == "scheduled")))
    return and_(Subscription.status == "active", Subscription.cancel_at_period_end.is_(False),
                not_(_charge_pending()), nothing_next)


def needs_attention():
    """Return the SQL condition for subscriptions with at least one attention code."""
    return or_(and_(_expects_charges(), _key_missing()), _unscheduled(), _charge_pending())


def unscheduled():
    """Return the SQL condition for active subscriptions nothing will charge next."""
    return _unscheduled()


def next_charge_at(subscription: Subscription):
    """Return when the subscription is charged next, as things stand: the time of its waiting
    attempt (moved with its schedule), or None when nothing will charge it (cancelled, ending
    at period end, paused, retries exhausted, or its schedule revoked)."""
    if subscription.status not in ("active", "past_due") or subscription.cancel_at_period_end:
        return None
    return subscription.next_attempt_at


def subscription_attention(subscription: Subscription) -> list[str]:
    """Return the attention codes of one subscription (``[]`` when all is well)."""
    found = db.session.execute(
        select(
            and_(_expects_charges(), _key_missing()),
            _unscheduled(),
            _charge_pending(),
        ).where(Subscription.id == subscription.id)
    ).one_or_none()
    if found is None:
        return []
    return [code for code, present in zip(ATTENTION_CODES, found, strict=True) if present]
