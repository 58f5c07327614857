"""The subscription state machine: which actions apply in which state, what a paid or failed
period does (extend, dunning), and the staff actions that pause, resume, cancel, reinstate or
change a subscription.

Results reach this module only through ``results``, which calls ``extend_period`` and
``follow_dunning`` once per change; ``allowed_actions`` is the one guard every service, detail
page and button asks.
"""
from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from flask import current_app

from ..extensions import db
from ..models import Payment, Plan, Subscription
from . import audit, errors, load_for_update, now, owns_transaction, require_action, schedules
from .periods import anchor_of, local_anchor, period_end_after


def extend_period(subscription: Subscription, payment: Payment, *, paid_at: datetime) -> None:
    """Start the paid period and plan the next charge, once per period."""
    if payment.period is None:
        return  # a manual charge pays for no period
    if payment.period <= subscription.current_period:
        audit.record(
            "charge.duplicate_period",
            "payment",
            payment.merchant_uid,
            customer_id=payment.customer_id,
            details={"period": payment.period, "amount": payment.amount},
            outcome="attention",
        )
        return
    start = subscription.next_charge_at or paid_at
    if subscription.next_plan_id is not None:
        subscription.plan_id, subscription.next_plan_id = subscription.next_plan_id, None
        db.session.flush()
        db.session.refresh(subscription)
    subscription.current_period = payment.period
    subscription.current_period_start = start
    subscription.current_period_end = period_end_after(
        anchor_of(subscription, start), subscription.plan, start
    )
    subscription.next_charge_at = subscription.current_period_end
    subscription.next_attempt_at = None
    subscription.failed_attempts = 0
    if subscription.status == "past_due":
        subscription.status = "active"
    # Any other charge still waiting for this period must never run (money rule 1). If
    # iamport cannot be told now, the row stays live and sync revokes it.
    for row in schedules.live_schedules(subscription.id):
        if row.merchant_uid != payment.merchant_uid and row.period <= payment.period:
            with contextlib.suppress(errors.BillingError):
                schedules.revoke_at_iamport(row)
    if subscription.status == "active" and not subscription.cancel_at_period_end:
        schedules.plan_charge(subscription, subscription.next_charge_at)


def follow_dunning(subscription: Subscription, payment: Payment, *, failed_at: datetime) -> None:
    """Plan the next retry of a failed period charge, or take the final action."""
    if payment.period is None or payment.period != subscription.current_period + 1:
        return  # a manual charge, or a late failure of a period already paid
    if subscription.status not in ("active", "past_due"):
        return
    subscription.failed_attempts += 1
    subscription.next_attempt_at = None
    retry_days = current_app.config["DUNNING_RETRY_DAYS"]
    if subscription.failed_attempts <= len(retry_days):
        delay = timedelta(days=retry_days[subscription.failed_attempts - 1])
        schedules.plan_charge(subscription, max(failed_at, now()) + delay)
        return
    if current_app.config["DUNNING_FINAL_ACTION"] == "cancel":
        subscription.status = "cancelled"
        subscription.cancelled_at = now()
        subscription.cancel_reason = "dunning: every retry failed"
    else:
        subscription.status = "past_due"
    audit.record(
        "subscription.dunning_exhausted",
        "subscription",
        subscription.id,
        customer_id=subscription.customer_id,
        details={"attempts": subscription.failed_attempts, "status": subscription.status},
        outcome="attention",
    )


def get_subscription(subscription_id: int) -> Subscription:
    """Return a subscription locked for this transaction."""
    return load_for_update(Subscription, subscription_id, missing="No such subscription.")


def revoke_future_charges(subscription: Subscription) -> list[str]:
    """Revoke the subscription's waiting charges; the caller commits (or, refused, rolls back)."""
    return schedules.revoke_live_schedules(subscription)


@owns_transaction
def pause_subscription(
    subscription_id: int, *, actor: audit.Actor, reason: str, resume_at: datetime | None = None
) -> Subscription:
    """Stop charging a subscription until it is resumed; revokes waiting schedules."""
    subscription = get_subscription(subscription_id)
    require_action(subscription, "pause")
    if resume_at is not None and resume_at <= now():
        raise errors.ScheduleInPast("The resume date must be in the future.")
    revoked = revoke_future_charges(subscription)
    subscription.status = "paused"
    subscription.paused_at = now()
    subscription.resume_at = resume_at
    subscription.next_attempt_at = None
    audit.record(
        "subscription.pause",
        "subscription",
        subscription.id,
        actor=actor,
        customer_id=subscription.customer_id,
        reason=reason,
        details={"revoked": revoked, "resume_at": resume_at.isoformat() if resume_at else None},
    )
    db.session.commit()
    return subscription


@owns_transaction
def resume_subscription(
    subscription_id: int, *, actor: audit.Actor, reason: str | None = None
) -> Subscription:
    """Start charging a paused subscription again from its next due date (or now)."""
    subscription = get_subscription(subscription_id)
    require_action(subscription, "resume")
    subscription.paused_at = None
    subscription.resume_at = None
    return restart_billing(subscription, "subscription.resume", actor=actor, reason=reason)


def restart_billing(
    subscription: Subscription, action: str, *, actor: audit.Actor, reason: str | None
) -> Subscription:
    """Make a subscription active again and plan its next charge: at the end of the period
    already paid, or in a few minutes when that has passed; commits."""
    subscription.status = "active"
    subscription.failed_attempts = 0
    lapsed = subscription.next_charge_at is None or subscription.next_charge_at <= now()
    due = max(subscription.next_charge_at or now(), now() + timedelta(minutes=5))
    if lapsed:
        # The paid period is over: billing starts again from now, and so does the anchor.
        subscription.billing_anchor = local_anchor(due)
    subscription.next_charge_at = due
    schedules.plan_charge(subscription, due)
    audit.record(
        action,
        "subscription",
        subscription.id,
        actor=actor,
        customer_id=subscription.customer_id,
        reason=reason,
        details={"next_charge_at": due.isoformat()},
    )
    db.session.commit()
    schedules.register_unconfirmed(subscription.id)
    return subscription


@owns_transaction
def cancel_subscription(
    subscription_id: int, *, actor: audit.Actor, reason: str, at_period_end: bool
) -> Subscription:
    """Cancel now, or at the end of the paid period; revokes waiting schedules either way."""
    subscription = get_subscription(subscription_id)
    require_action(subscription, "cancel")
    revoked = revoke_future_charges(subscription)
    subscription.cancel_reason = reason[:256]
    subscription.next_attempt_at = None
    if (at_period_end and subscription.current_period_end
            and subscription.current_period_end > now()):
        subscription.cancel_at_period_end = True
    else:
        subscription.status = "cancelled"
        subscription.cancelled_at = now()
    audit.record(
        "subscription.cancel",
        "subscription",
        subscription.id,
        actor=actor,
        customer_id=subscription.customer_id,
        reason=reason,
        details={"at_period_end": subscription.cancel_at_period_end, "revoked": revoked},
    )
    db.session.commit()
    return subscription


@owns_transaction
def reinstate_subscription(
    subscription_id: int, *, actor: audit.Actor, reason: str | None = None
) -> Subscription:
    """Undo a cancellation: keep billing from the next due date (or now)."""
    subscription = get_subscription(subscription_id)
    require_action(subscription, "reinstate")
    subscription.cancel_at_period_end = False
    subscription.cancelled_at = None
    subscription.cancel_reason = None
    return restart_billing(subscription, "subscription.reinstate", actor=actor, reason=reason)


@owns_transaction
def change_plan(
    subscription_id: int, *, plan_id: int, actor: audit.Actor, reason: str | None = None
) -> Subscription:
    """Switch plans from the next period: the waiting charge is re-registered at the new price."""
    subscription = get_subscription(subscription_id)
    plan = db.session.get(Plan, plan_id)
    if plan is None or not plan.active:
        raise errors.InvalidInput("Choose an active plan.")
    require_action(subscription, "change_plan")
    if plan.id == subscription.plan_id and subscription.next_plan_id is None:
        raise errors.InvalidInput("The subscription is already on this plan.")
    previous = subscription.plan.code
    subscription.next_plan_id = None if plan.id == subscription.plan_id else plan.id
    waiting = schedules.live_schedules(subscription.id)
    revoke_future_charges(subscription)
    db.session.flush()
    db.session.refresh(subscription)
    if waiting:
        schedules.plan_charge(subscription, waiting[0].schedule_at)
    audit.record(
        "subscription.change_plan",
        "subscription",
        subscription.id,
        actor=actor,
        customer_id=subscription.customer_id,
        reason=reason,
        details={"from": previous, "to": plan.code},
    )
    db.session.commit()
    schedules.register_unconfirmed(subscription.id)
    return subscription


def close_ended_subscriptions() -> int:
    """Cancel subscriptions whose cancel-at-period-end date has passed; return how many."""
    ended = db.session.scalars(
        db.select(Subscription).where(
            Subscription.cancel_at_period_end.is_(True),
            Subscription.status != "cancelled",
            Subscription.current_period_end <= now(),
        )
    ).all()
    for subscription in ended:
        subscription.status = "cancelled"
        subscription.cancelled_at = subscription.current_period_end
    db.session.commit()
    return len(ended)


def resume_due_subscriptions() -> int:
    """Resume paused subscriptions whose resume date has come; return how many."""
    due = db.session.scalars(
        db.select(Subscription.id).where(
            Subscription.status == "paused", Subscription.resume_at <= now()
        )
    ).all()
    resumed = 0
    for subscription_id in due:
        try:
            resume_subscription(subscription_id, actor=audit.SYSTEM, reason="resume date reached")
        except errors.BillingError:
            continue  # changed meanwhile (resumed or cancelled by staff)
        resumed += 1
    return resumed

