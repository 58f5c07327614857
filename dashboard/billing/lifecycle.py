"""The subscription state machine: one way to apply a charge's result, dunning, and the staff
actions that pause, resume, cancel, reinstate or change a subscription.

``apply_payment_result`` is the only place a payment's outcome changes our records, whether
the result came from a webhook, an ``again`` answer, a staff action or reconciliation. It
compares what iamport says with what we had and acts on the *change*, under a row lock on the
subscription, so the same result applied twice, twice at once, or out of order leaves the same
state: each period is extended once, credits granted once, the next charge planned once.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy.exc import IntegrityError

from .. import iamport
from ..extensions import db
from ..models import CreditEntry, Customer, Payment, Refund, Schedule, Subscription
from . import audit, errors, now, owns_transaction, provider, schedules
from .periods import add_interval, parse_merchant_uid

log = logging.getLogger(__name__)

STATUS_FROM_IAMPORT = {"paid": "paid", "failed": "failed", "cancelled": "cancelled", "ready": "pending"}


@dataclass(frozen=True)
class Change:
    """What one application of a result changed, for callers that report it."""

    payment_id: int
    became_paid: bool
    became_failed: bool
    refunded: int


# --- applying results ----------------------------------------------------------------------


def apply_payment_result(result: iamport.Payment, *, source: str) -> Payment:
    """Make our records say what iamport says about one payment, exactly once."""
    payment, _ = apply_payment_result_with_change(result, source=source)
    return payment


def apply_payment_result_with_change(
    result: iamport.Payment, *, source: str
) -> tuple[Payment, Change]:
    """Apply a result and also say what changed (``sync`` counts the changes)."""
    subscription_id, customer_id = find_owners(result)
    lock_owner(subscription_id, customer_id)
    payment = find_payment_row(result)
    if payment is not None and is_stale_attempt(payment, result):
        db.session.commit()
        return payment, Change(payment.id, False, False, 0)
    was_paid = payment is not None and payment.paid_at is not None
    was_failed = payment is not None and payment.status == "failed"
    if payment is None:
        payment = new_payment_row(result, subscription_id, customer_id)
    elif payment.imp_uid and payment.imp_uid != result.imp_uid:
        # iamport's retry re-uses the merchant_uid with a new imp_uid: keep the earlier
        # attempt on the record before the row follows the new one.
        audit.record(
            "payment.superseded",
            "payment",
            payment.merchant_uid,
            customer_id=payment.customer_id,
            details={"imp_uid": payment.imp_uid, "status": earlier_outcome(payment),
                     "fail_reason": payment.fail_reason},
        )
    refunded = mirror_payment(payment, result)
    mirror_schedule(payment, result)
    change = Change(
        payment_id=payment.id,
        became_paid=result.paid_at is not None and not was_paid,
        became_failed=result.status == "failed" and not was_failed and not was_paid,
        refunded=refunded,
    )
    subscription = db.session.get(Subscription, subscription_id) if subscription_id else None
    if subscription is not None:
        if change.became_paid:
            extend_period(subscription, payment, paid_at=result.paid_at)
        elif change.became_failed:
            follow_dunning(subscription, payment, failed_at=result.failed_at or now())
    if change.became_paid:
        grant_period_credits(payment)
    if refunded and payment.cancel_amount >= payment.amount:
        reverse_period_credits(payment)
    db.session.commit()
    log.info("applied %s result: %s %s (%s)", source, result.merchant_uid, result.status, change)
    if subscription is not None:
        schedules.register_unconfirmed(subscription.id)
    return payment, change


def is_earlier_attempt(payment: Payment, result: iamport.Payment) -> bool:
    """Return whether ``result`` is an attempt the row has already moved past.

    iamport's retry re-uses a ``merchant_uid``, so one row follows several attempts; a late
    result of an earlier one must not overwrite a later one (a failure never replaces a paid
    attempt, and an older failure never replaces a newer one).
    """
    if payment.imp_uid is None:
        return False
    if payment.imp_uid == result.imp_uid:
        # The row is pending again because a retry of this failed attempt is in flight.
        return payment.status == "pending" and result.status == "failed"
    if payment.paid_at is not None:
        return result.paid_at is None
    if payment.failed_at is not None and result.failed_at is not None:
        return result.failed_at < payment.failed_at
    return False


def is_stale_attempt(payment: Payment, result: iamport.Payment) -> bool:
    """Return whether ``result`` is older than the attempt the row follows, asking iamport
    which attempt is the latest when two failures of one ``merchant_uid`` share a second."""
    if is_earlier_attempt(payment, result):
        return True
    tied = (
        payment.imp_uid not in (None, result.imp_uid)
        and payment.paid_at is None
        and result.paid_at is None
        and payment.failed_at == result.failed_at
    )
    return tied and provider().find_payment(result.merchant_uid).imp_uid != result.imp_uid


def earlier_outcome(payment: Payment) -> str:
    """Return how the attempt a row recorded ended (a retry marks the row pending first)."""
    if payment.paid_at is not None:
        return "paid"
    return "failed" if payment.failed_at is not None else payment.status


def find_owners(result: iamport.Payment) -> tuple[int | None, int | None]:
    """Return the (subscription id, customer id) a payment belongs to, creating the customer
    when iamport names a ``customer_uid`` we have never seen."""
    for model in (Payment, Schedule):
        row = db.session.scalar(db.select(model).where(model.merchant_uid == result.merchant_uid))
        if row is not None and row.customer_id is not None:
            return row.subscription_id, row.customer_id
    key = parse_merchant_uid(result.merchant_uid, schedules.merchant_uid_prefix())
    if key is not None:
        subscription = db.session.get(Subscription, key.subscription_id)
        if subscription is not None:
            return subscription.id, subscription.customer_id
    if result.customer_uid:
        return None, get_or_create_customer(result.customer_uid).id
    return None, None


def get_or_create_customer(customer_uid: str) -> Customer:
    """Return the customer for a billing key, creating (and committing) it if new."""
    customer = db.session.scalar(db.select(Customer).where(Customer.customer_uid == customer_uid))
    if customer is not None:
        return customer
    customer = Customer(customer_uid=customer_uid, billing_key_status="active")
    db.session.add(customer)
    try:
        db.session.commit()
    except IntegrityError:
        # Another worker created it a moment ago.
        db.session.rollback()
        customer = db.session.scalar(
            db.select(Customer).where(Customer.customer_uid == customer_uid)
        )
    return customer


def lock_owner(subscription_id: int | None, customer_id: int | None) -> None:
    """Serialise every change to one subscription (or one customer's loose payments)."""
    if subscription_id is not None:
        db.session.execute(
            db.select(Subscription.id).where(Subscription.id == subscription_id).with_for_update()
        )
    elif customer_id is not None:
        db.session.execute(
            db.select(Customer.id).where(Customer.id == customer_id).with_for_update()
        )


def find_payment_row(result: iamport.Payment) -> Payment | None:
    row = db.session.scalar(db.select(Payment).where(Payment.imp_uid == result.imp_uid))
    if row is None:
        row = db.session.scalar(
            db.select(Payment).where(Payment.merchant_uid == result.merchant_uid)
        )
    return row


def new_payment_row(
    result: iamport.Payment, subscription_id: int | None, customer_id: int | None
) -> Payment:
    schedule = db.session.scalar(
        db.select(Schedule).where(Schedule.merchant_uid == result.merchant_uid)
    )
    key = parse_merchant_uid(result.merchant_uid, schedules.merchant_uid_prefix())
    if schedule is not None:
        period, attempt = schedule.period, schedule.attempt
    elif key is not None and subscription_id == key.subscription_id:
        period, attempt = key.period, key.attempt
    else:
        period, attempt = None, 1
    origin = "schedule" if result.customer_uid_usage == "payment.scheduled" else "again"
    payment = Payment(
        merchant_uid=result.merchant_uid,
        customer_id=customer_id,
        subscription_id=subscription_id,
        period=period,
        attempt=attempt,
        origin=origin,
        amount=result.amount,
        status="pending",
    )
    db.session.add(payment)
    db.session.flush()
    return payment


def mirror_payment(payment: Payment, result: iamport.Payment) -> int:
    """Copy iamport's view of a payment onto our row; return the newly refunded amount."""
    payment.imp_uid = result.imp_uid
    payment.status = STATUS_FROM_IAMPORT.get(result.status, payment.status)
    payment.amount = result.amount
    payment.name = (result.name or payment.name or "")[:40]
    payment.card_name = result.card_name
    payment.card_number = result.card_number
    payment.pg_tid = result.pg_tid
    payment.apply_num = result.apply_num
    payment.receipt_url = result.receipt_url
    payment.fail_reason = result.fail_reason
    payment.paid_at = result.paid_at
    payment.failed_at = result.failed_at
    payment.cancelled_at = result.cancelled_at
    payment.synced_at = now()
    refunded = mirror_cancellations(payment, result.cancel_history)
    payment.cancel_amount = result.cancel_amount
    db.session.flush()
    return refunded


def mirror_cancellations(payment: Payment, history) -> int:
    """Match iamport's cancel history to our refund rows; return the newly settled amount."""
    settled = 0
    for entry in history:
        cancellation_id = entry.cancellation_id or f"{entry.pg_tid}:{entry.cancelled_at}"
        known = db.session.scalar(
            db.select(Refund).where(Refund.cancellation_id == cancellation_id)
        )
        if known is not None:
            continue
        # A refund we asked for whose answer we have not seen yet: the oldest pending one
        # of the same amount is this entry.
        refund = db.session.scalar(
            db.select(Refund)
            .where(
                Refund.payment_id == payment.id,
                Refund.status == "pending",
                Refund.amount == entry.amount,
            )
            .order_by(Refund.id)
        )
        if refund is None:
            refund = Refund(payment_id=payment.id, amount=entry.amount, reason=entry.reason or "")
            db.session.add(refund)
        refund.status = "succeeded"
        refund.cancellation_id = cancellation_id
        refund.pg_tid = entry.pg_tid
        refund.receipt_url = entry.receipt_url
        refund.cancelled_at = entry.cancelled_at
        settled += entry.amount
    return settled


def mirror_schedule(payment: Payment, result: iamport.Payment) -> None:
    schedule = db.session.scalar(
        db.select(Schedule).where(Schedule.merchant_uid == result.merchant_uid)
    )
    if schedule is None or result.status not in ("paid", "failed", "cancelled"):
        return
    schedule.schedule_status = "executed"
    schedule.payment_status = result.status
    schedule.imp_uid = result.imp_uid
    schedule.fail_reason = result.fail_reason
    schedule.executed_at = result.paid_at or result.failed_at or schedule.executed_at or now()


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
    subscription.current_period_end = add_interval(start, subscription.plan)
    subscription.next_charge_at = subscription.current_period_end
    subscription.next_attempt_at = None
    subscription.failed_attempts = 0
    if subscription.status == "past_due":
        subscription.status = "active"
    # Any other charge still waiting for this period must never run (money rule 1). If
    # iamport cannot be told now, the row stays live and sync revokes it.
    for row in schedules.live_schedules(subscription.id):
        if row.merchant_uid != payment.merchant_uid and row.period <= payment.period:
            try:
                schedules.revoke_at_iamport(row)
            except errors.BillingError:
                pass
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


def grant_period_credits(payment: Payment) -> None:
    subscription = payment.subscription
    if subscription is None or payment.period is None or not subscription.plan.credits_per_period:
        return
    add_credit_once(payment, subscription.plan.credits_per_period, "period_paid")


def reverse_period_credits(payment: Payment) -> None:
    granted = db.session.scalar(
        db.select(CreditEntry.delta).where(
            CreditEntry.payment_id == payment.id, CreditEntry.reason == "period_paid"
        )
    )
    if granted:
        add_credit_once(payment, -granted, "refund_reversal")


def add_credit_once(payment: Payment, delta: int, reason: str) -> None:
    exists = db.session.scalar(
        db.select(CreditEntry.id).where(
            CreditEntry.payment_id == payment.id, CreditEntry.reason == reason
        )
    )
    if exists is None:
        db.session.add(
            CreditEntry(
                customer_id=payment.customer_id, delta=delta, reason=reason, payment_id=payment.id
            )
        )


# --- staff actions on subscriptions ----------------------------------------------------------


def get_subscription(subscription_id: int) -> Subscription:
    subscription = db.session.scalar(
        db.select(Subscription).where(Subscription.id == subscription_id).with_for_update()
    )
    if subscription is None:
        raise errors.RecordNotFound("No such subscription.")
    return subscription


def revoke_future_charges(subscription: Subscription) -> list[str]:
    try:
        return schedules.revoke_live_schedules(subscription)
    except errors.BillingError:
        db.session.rollback()
        raise


@owns_transaction
def pause_subscription(
    subscription_id: int, *, actor: audit.Actor, reason: str, resume_at: datetime | None = None
) -> Subscription:
    """Stop charging a subscription until it is resumed; revokes waiting schedules."""
    subscription = get_subscription(subscription_id)
    if subscription.status not in ("active", "past_due"):
        raise errors.InvalidState("Only an active or past-due subscription can be paused.")
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
    if subscription.status != "paused":
        raise errors.InvalidState("Only a paused subscription can be resumed.")
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
    due = max(subscription.next_charge_at or now(), now() + timedelta(minutes=5))
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
    if subscription.status == "cancelled":
        raise errors.InvalidState("This subscription is already cancelled.")
    revoked = revoke_future_charges(subscription)
    subscription.cancel_reason = reason[:256]
    subscription.next_attempt_at = None
    if at_period_end and subscription.current_period_end and subscription.current_period_end > now():
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
    if subscription.status != "cancelled" and not subscription.cancel_at_period_end:
        raise errors.InvalidState("Only a cancelled subscription can be reinstated.")
    subscription.cancel_at_period_end = False
    subscription.cancelled_at = None
    subscription.cancel_reason = None
    return restart_billing(subscription, "subscription.reinstate", actor=actor, reason=reason)


@owns_transaction
def change_plan(
    subscription_id: int, *, plan_id: int, actor: audit.Actor, reason: str | None = None
) -> Subscription:
    """Switch plans from the next period: the waiting charge is re-registered at the new price."""
    from ..models import Plan

    subscription = get_subscription(subscription_id)
    plan = db.session.get(Plan, plan_id)
    if plan is None or not plan.active:
        raise errors.InvalidInput("Choose an active plan.")
    if subscription.status == "cancelled":
        raise errors.InvalidState("A cancelled subscription cannot change plans.")
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
