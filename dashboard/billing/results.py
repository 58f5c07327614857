"""Applying iamport's answers: the one place a payment's outcome changes our records.

``apply_payment_result`` takes what iamport says about a payment, whether it came from a
webhook, an ``again`` answer, a staff action or reconciliation; ``apply_local_outcome`` records
what we know without iamport (a charge refused before it was sent, one never sent, a retry that
never ran). Both compare with what we had and act on the *change*, under a row lock on the
owning subscription (or customer), so the same result applied twice, twice at once, or out of
order leaves the same state: each period is extended once, credits granted once, the next
charge planned once. What a change means for the subscription (extend, dunning) is decided by
``lifecycle``.
"""
from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import timedelta

from .. import iamport
from ..extensions import db
from ..models import CreditEntry, Customer, Payment, Refund, Schedule, Subscription
from ..text import fit_column
from . import audit, lifecycle, merchant_uid_prefix, now, provider, schedules
from .customers import get_or_create_customer
from .periods import parse_merchant_uid

log = logging.getLogger(__name__)

STATUS_FROM_IAMPORT = {
    "paid": "paid", "failed": "failed", "cancelled": "cancelled", "ready": "pending",
}


@dataclass(frozen=True)
class Change:
    """What one application of a result changed, for callers that report it."""

    payment_id: int
    became_paid: bool
    became_failed: bool
    refunded: int


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
            lifecycle.extend_period(subscription, payment, paid_at=result.paid_at)
        elif change.became_failed:
            lifecycle.follow_dunning(subscription, payment, failed_at=result.failed_at or now())
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
    key = parse_merchant_uid(result.merchant_uid, merchant_uid_prefix())
    if key is not None:
        subscription = db.session.get(Subscription, key.subscription_id)
        if subscription is not None:
            return subscription.id, subscription.customer_id
    if result.customer_uid:
        return None, get_or_create_customer(result.customer_uid).id
    return None, None


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
    key = parse_merchant_uid(result.merchant_uid, merchant_uid_prefix())
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
    # iamport's strings can be longer than our columns (a PG's message): keep what fits.
    payment.card_name = fit_column(Payment.card_name, result.card_name)
    payment.card_number = fit_column(Payment.card_number, result.card_number)
    payment.pg_tid = fit_column(Payment.pg_tid, result.pg_tid)
    payment.apply_num = fit_column(Payment.apply_num, result.apply_num)
    payment.receipt_url = fit_column(Payment.receipt_url, result.receipt_url)
    payment.fail_reason = fit_column(Payment.fail_reason, result.fail_reason)
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
        cancellation_id = fit_column(
            Refund.cancellation_id, entry.cancellation_id or f"{entry.pg_tid}:{entry.cancelled_at}"
        )
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
            refund = Refund(payment_id=payment.id, amount=entry.amount,
                            reason=fit_column(Refund.reason, entry.reason or ""))
            db.session.add(refund)
        refund.status = "succeeded"
        refund.cancellation_id = cancellation_id
        refund.pg_tid = fit_column(Refund.pg_tid, entry.pg_tid)
        refund.receipt_url = fit_column(Refund.receipt_url, entry.receipt_url)
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
    schedule.fail_reason = fit_column(Schedule.fail_reason, result.fail_reason)
    schedule.executed_at = result.paid_at or result.failed_at or schedule.executed_at or now()


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



# --- outcomes we know without iamport ------------------------------------------------------


class LocalOutcome(enum.Enum):
    """How a pending charge ended without iamport saying so."""

    #: iamport refused the request before charging: a failed attempt, dunning follows.
    REFUSED = "refused"
    #: the request never left (iamport unreachable): nothing charged, due again soon.
    NOT_SENT = "not_sent"
    #: a retry of a failed attempt never ran (refused, unsent, or unknown to iamport): the row
    #: is failed again, as before the retry.
    RETRY_NOT_RUN = "retry_not_run"


# How long to wait before charging again after iamport could not be reached at all.
UNREACHABLE_RETRY = timedelta(minutes=10)


def apply_local_outcome(
    payment: Payment, outcome: LocalOutcome, *, message: str | None = None
) -> Payment:
    """Record how a pending charge ended when iamport never charged it; commits.

    Like ``apply_payment_result`` it works under the owner's row lock and acts only on a row
    that is still pending, so a result that arrived meanwhile is never overwritten.
    """
    lock_owner(payment.subscription_id, payment.customer_id)
    db.session.refresh(payment)
    if payment.status != "pending":
        db.session.rollback()
        return payment
    subscription = payment.subscription
    if outcome is LocalOutcome.RETRY_NOT_RUN:
        payment.status = "failed"  # only a failed or revoked charge is ever retried
        payment.fail_reason = payment.fail_reason or (message or "the retry did not run")[:256]
        if subscription is not None:
            plan_unpaid_period_again(subscription, payment)
    elif outcome is LocalOutcome.REFUSED:
        payment.status = "failed"
        payment.fail_reason = (message or "iamport refused the charge")[:256]
        payment.failed_at = now()
        if subscription is not None:
            lifecycle.follow_dunning(subscription, payment, failed_at=payment.failed_at)
    else:
        payment.status = "failed"
        payment.fail_reason = "iamport could not be reached; not charged"
        payment.failed_at = now()
        if subscription is not None and subscription.status == "active":
            subscription.next_attempt_at = now() + UNREACHABLE_RETRY
    db.session.commit()
    log.info("recorded local outcome of %s: %s", payment.merchant_uid, outcome.value)
    if outcome is not LocalOutcome.NOT_SENT and payment.subscription_id is not None:
        schedules.register_unconfirmed(payment.subscription_id)
    return payment


def plan_unpaid_period_again(subscription: Subscription, payment: Payment) -> None:
    """Give a still-unpaid period a next attempt when none waits: a retry revokes the period's
    waiting attempt before it asks iamport, so a retry that never ran must bring it back."""
    period = subscription.current_period + 1
    if payment.period != period or subscription.status not in ("active", "past_due"):
        return
    if schedules.live_schedules(subscription.id, period):
        return
    schedules.plan_charge(subscription, subscription.next_attempt_at or now())
