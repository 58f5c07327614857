"""Charging billing keys with ``again``: the again-mode runner, retries and manual charges.

Every charge is written as a ``pending`` payment with its ``merchant_uid`` and committed
before iamport is called (money rule 1). A lost answer leaves it pending; only asking iamport
resolves it (money rule 2), which ``sync`` does.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..iamport import IamportError, OutcomeUnknown, Rejected
from ..models import MAX_KRW, Customer, Payment, Subscription
from . import audit, calling_iamport, errors, now, owns_transaction, provider, schedules
from .lifecycle import apply_payment_result, follow_dunning, lock_owner, resume_due_subscriptions
from .periods import ChargeKey

# How long to wait before charging again after iamport could not be reached at all.
UNREACHABLE_RETRY = timedelta(minutes=10)


@dataclass
class ChargeRunSummary:
    """What one ``charge-due`` run did."""

    charged: list[str] = field(default_factory=list)
    declined: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def new_manual_merchant_uid() -> str:
    """Return a fresh ``merchant_uid`` for a manual charge form (reused on resubmission)."""
    return f"manual-{now():%Y%m%d}-{secrets.token_hex(6)}"


def charge_due(*, limit: int = 1000) -> ChargeRunSummary:
    """Charge every subscription whose next attempt is due (again mode); safe to run twice."""
    resume_due_subscriptions()
    summary = ChargeRunSummary()
    for _ in range(limit):
        payment = claim_next_due_charge()
        if payment is None:
            break
        try:
            result = send_again(payment)
        except errors.OutcomeUnknown:
            summary.unknown.append(payment.merchant_uid)
        except errors.BillingError as error:
            summary.errors.append(f"{payment.merchant_uid}: {error.message}")
        else:
            bucket = summary.charged if result.status == "paid" else summary.declined
            bucket.append(result.merchant_uid)
    return summary


def claim_next_due_charge() -> Payment | None:
    """Take one due subscription (skipping any another worker holds) and record its charge."""
    subscription = db.session.scalar(
        db.select(Subscription)
        .where(Subscription.status == "active", Subscription.next_attempt_at <= now())
        .order_by(Subscription.next_attempt_at, Subscription.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if subscription is None:
        db.session.rollback()
        return None
    try:
        payment = new_period_charge(subscription, origin="again")
    except errors.ChargeInProgress:
        # Its last charge is unresolved: park it until sync applies that result.
        subscription.next_attempt_at = None
        db.session.commit()
        return claim_next_due_charge()
    db.session.commit()
    return payment


def new_period_charge(subscription: Subscription, *, origin: str) -> Payment:
    """Record the pending charge of a subscription's next period; the caller commits."""
    if db.session.scalar(
        db.select(Payment.id).where(
            Payment.subscription_id == subscription.id, Payment.status == "pending"
        )
    ):
        raise errors.ChargeInProgress(
            "An earlier charge for this subscription has an unknown outcome; run sync first."
        )
    period = subscription.current_period + 1
    key = ChargeKey(subscription.id, period, schedules.next_attempt_number(subscription.id, period))
    plan = subscription.next_plan or subscription.plan
    payment = Payment(
        merchant_uid=key.merchant_uid(schedules.merchant_uid_prefix()),
        customer_id=subscription.customer_id,
        subscription_id=subscription.id,
        period=period,
        attempt=key.attempt,
        origin=origin,
        name=plan.name,
        amount=plan.amount,
        status="pending",
    )
    db.session.add(payment)
    # Claimed: no other runner picks this subscription until the result is applied.
    subscription.next_attempt_at = None
    db.session.flush()
    return payment


def send_again(payment: Payment) -> Payment:
    """Send a recorded pending charge to iamport and apply the answer."""
    customer = payment.customer
    try:
        result = provider().pay_again(
            customer_uid=customer.customer_uid,
            merchant_uid=payment.merchant_uid,
            amount=payment.amount,
            name=payment.name or "정기결제",
            buyer_name=customer.name or None,
            buyer_email=customer.email or None,
            buyer_tel=customer.phone or None,
        )
    except Rejected as rejection:
        record_refused_charge(payment, rejection.message or "iamport refused the charge")
        raise errors.ProviderRejected(rejection.message or "iamport refused the charge") from rejection
    except OutcomeUnknown as error:
        raise errors.OutcomeUnknown(
            "iamport did not answer; the charge stays pending until sync asks iamport."
        ) from error
    except IamportError as error:
        record_unsent_charge(payment)
        raise errors.ProviderUnavailable("iamport could not be reached; nothing was charged.") from error
    return apply_payment_result(result, source="again")


def record_refused_charge(payment: Payment, message: str) -> None:
    """iamport refused before charging: a failed attempt, followed by the dunning policy."""
    lock_owner(payment.subscription_id, payment.customer_id)
    db.session.refresh(payment)
    if payment.status != "pending":
        db.session.rollback()
        return
    payment.status = "failed"
    payment.fail_reason = message[:256]
    payment.failed_at = now()
    if payment.subscription is not None:
        follow_dunning(payment.subscription, payment, failed_at=payment.failed_at)
    db.session.commit()
    if payment.subscription_id is not None:
        schedules.register_unconfirmed(payment.subscription_id)


def record_unsent_charge(payment: Payment) -> None:
    """The request never left: nothing was charged, so the attempt is simply due again soon."""
    lock_owner(payment.subscription_id, payment.customer_id)
    db.session.refresh(payment)
    if payment.status != "pending":
        db.session.rollback()
        return
    payment.status = "failed"
    payment.fail_reason = "iamport could not be reached; not charged"
    payment.failed_at = now()
    subscription = payment.subscription
    if subscription is not None and subscription.status == "active":
        subscription.next_attempt_at = now() + UNREACHABLE_RETRY
    db.session.commit()


@owns_transaction
def retry_period_now(subscription_id: int, *, actor: audit.Actor, reason: str) -> Payment:
    """Charge a subscription's unpaid period now (after a decline or a new card)."""
    subscription = db.session.scalar(
        db.select(Subscription).where(Subscription.id == subscription_id).with_for_update()
    )
    if subscription is None:
        raise errors.RecordNotFound("No such subscription.")
    if subscription.status not in ("active", "past_due"):
        raise errors.InvalidState("Only an active or past-due subscription can be charged.")
    if subscription.customer.billing_key_status != "active":
        raise errors.InvalidState("The customer has no billing key; register a card first.")
    if not period_is_unpaid(subscription):
        raise errors.InvalidState(
            "The current period is paid; the next charge is not due yet."
        )
    # A waiting schedule for the same period would charge again: revoke it first. One that
    # turns out to have run already carries a result we have not seen: apply it and decide
    # again, so a period paid a moment ago is never charged twice.
    waiting = schedules.live_schedules(subscription.id)
    try:
        schedules.revoke_live_schedules(subscription)
    except errors.BillingError:
        db.session.rollback()
        raise
    ran = [row.imp_uid for row in waiting if row.schedule_status == "executed" and row.imp_uid]
    if ran:
        db.session.commit()
        with calling_iamport(unknown="iamport did not answer; try again after a sync."):
            for imp_uid in ran:
                apply_payment_result(provider().get_payment(imp_uid), source="sync")
        return retry_period_now(subscription_id, actor=actor, reason=reason)
    payment = new_period_charge(subscription, origin="again")
    payment.reason = reason[:256]
    payment.requested_by_id = actor.user_id
    audit.record(
        "charge.retry_now",
        "payment",
        payment.merchant_uid,
        actor=actor,
        customer_id=subscription.customer_id,
        reason=reason,
        details={"amount": payment.amount, "period": payment.period},
    )
    db.session.commit()
    return send_again(payment)


def period_is_unpaid(subscription: Subscription) -> bool:
    """Return whether the subscription's next period is owed now: it failed, or it is due."""
    if subscription.failed_attempts > 0 or subscription.status == "past_due":
        return True
    return subscription.next_charge_at is not None and subscription.next_charge_at <= now()


@owns_transaction
def manual_charge(
    customer_id: int,
    *,
    merchant_uid: str,
    amount: int,
    name: str,
    reason: str,
    actor: audit.Actor,
    subscription_id: int | None = None,
) -> Payment:
    """Charge a customer's billing key once, by hand; a resubmitted form charges nothing more."""
    if not 0 < amount <= MAX_KRW:
        raise errors.InvalidInput(f"The amount must be between ₩1 and ₩{MAX_KRW:,}.")
    if not name.strip() or len(name) > 40:
        raise errors.InvalidInput("The order name must be 1 to 40 characters.")
    if not reason.strip():
        raise errors.InvalidInput("Give a reason for the charge.")
    if not merchant_uid.startswith("manual-") or len(merchant_uid) > 40:
        raise errors.InvalidInput("The form is out of date; open it again.")
    existing = db.session.scalar(db.select(Payment).where(Payment.merchant_uid == merchant_uid))
    if existing is not None:
        return existing_charge(existing, customer_id)
    customer = db.session.scalar(
        db.select(Customer).where(Customer.id == customer_id).with_for_update()
    )
    if customer is None:
        raise errors.RecordNotFound("No such customer.")
    if customer.billing_key_status != "active":
        raise errors.InvalidState("The customer has no billing key; register a card first.")
    if db.session.scalar(
        db.select(Payment.id).where(Payment.customer_id == customer_id, Payment.status == "pending")
    ):
        raise errors.ChargeInProgress(
            "An earlier charge for this customer has an unknown outcome; run sync first."
        )
    payment = Payment(
        merchant_uid=merchant_uid,
        customer_id=customer_id,
        subscription_id=subscription_id,
        origin="manual",
        name=name.strip(),
        amount=amount,
        status="pending",
        reason=reason.strip()[:256],
        requested_by_id=actor.user_id,
    )
    db.session.add(payment)
    audit.record(
        "charge.manual",
        "payment",
        merchant_uid,
        actor=actor,
        customer_id=customer_id,
        reason=reason,
        details={"amount": amount, "name": name},
    )
    try:
        db.session.commit()
    except IntegrityError:
        # The same form was submitted twice at once; the other request charges.
        db.session.rollback()
        existing = db.session.scalar(db.select(Payment).where(Payment.merchant_uid == merchant_uid))
        return existing_charge(existing, customer_id)
    return send_again(payment)


def existing_charge(payment: Payment, customer_id: int) -> Payment:
    if payment.customer_id != customer_id:
        raise errors.InvalidInput("The form is out of date; open it again.")
    return payment
