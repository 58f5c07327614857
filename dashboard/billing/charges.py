"""Charging billing keys with ``again``: the again-mode runner, retries and manual charges.

Every charge is written as a ``pending`` payment with its ``merchant_uid`` and committed
before iamport is called (money rule 1). A lost answer leaves it pending; only asking iamport
resolves it (money rule 2), which ``sync`` does.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..iamport import IamportError, OutcomeUnknown, Rejected
from ..models import MAX_KRW, Customer, Payment, Schedule, Subscription
from . import (
    audit,
    calling_iamport,
    checkpoint,
    errors,
    load_for_update,
    merchant_uid_prefix,
    now,
    owns_transaction,
    provider,
    require_action,
    schedules,
    translate_iamport_error,
)
from .lifecycle import resume_due_subscriptions
from .periods import ChargeKey, local_anchor, unpaid_period_ended
from .results import LocalOutcome, apply_local_outcome, apply_payment_result


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
        except errors.AnswerLost:
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
    refuse_while_unresolved(subscription_id=subscription.id)
    period = subscription.current_period + 1
    key = ChargeKey(subscription.id, period, schedules.next_attempt_number(subscription.id, period))
    plan = subscription.next_plan or subscription.plan
    payment = Payment(
        merchant_uid=key.merchant_uid(merchant_uid_prefix()),
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
        apply_local_outcome(payment, LocalOutcome.REFUSED, message=rejection.message)
        raise translate_iamport_error(rejection, unknown="") from rejection
    except OutcomeUnknown as error:
        raise translate_iamport_error(
            error, unknown="iamport did not answer; the charge stays pending until sync asks "
            "iamport."
        ) from error
    except IamportError as error:
        apply_local_outcome(payment, LocalOutcome.NOT_SENT)
        raise translate_iamport_error(
            error, unknown="", unavailable="iamport could not be reached; nothing was charged."
        ) from error
    return apply_payment_result(result, source="again")


def refuse_while_unresolved(
    *, customer_id: int | None = None, subscription_id: int | None = None
) -> None:
    """Refuse a new charge while an earlier one of the customer (or subscription) has an
    unknown outcome: only asking iamport may resolve it (money rule 2)."""
    owner = Payment.subscription_id == subscription_id if subscription_id is not None else (
        Payment.customer_id == customer_id
    )
    if db.session.scalar(
        db.select(Payment.id).where(owner, Payment.status == "pending").limit(1)
    ) is not None:
        whose = "subscription" if subscription_id is not None else "customer"
        raise errors.ChargeInProgress(
            f"An earlier charge for this {whose} has an unknown outcome; run sync first."
        )


@owns_transaction
def retry_period_now(
    subscription_id: int, *, actor: audit.Actor, reason: str, restart: bool | None = None
) -> Payment:
    """Charge a subscription's unpaid period now (after a decline or a new card).

    ``restart`` (the default when that period has already ended) makes this the one charge of
    a new period starting now, and moves the billing anchor to now; otherwise the missed
    period is charged as it was, and each period after it that has already started falls due
    right after (``periods.charges_after_charge_now`` lists them for the confirmation).
    """
    subscription = load_for_update(Subscription, subscription_id, missing="No such subscription.")
    require_action(subscription, "charge_now")
    ended = unpaid_period_ended(subscription, now())
    if restart is None:
        restart = ended
    elif restart and not ended:
        raise errors.InvalidInput("The unpaid period has not ended yet; charge it as it is.")
    # A waiting schedule for the same period would charge again: revoke it first. One that
    # turns out to have run already carries a result we have not seen: apply it and decide
    # again, so a period paid a moment ago is never charged twice.
    waiting = schedules.live_schedules(subscription.id)
    schedules.revoke_live_schedules(subscription)
    ran = [row.imp_uid for row in waiting if row.schedule_status == "executed" and row.imp_uid]
    if ran:
        checkpoint()
        with calling_iamport(unknown="iamport did not answer; try again after a sync."):
            for imp_uid in ran:
                apply_payment_result(provider().get_payment(imp_uid), source="sync")
        return retry_period_now(subscription_id, actor=actor, reason=reason, restart=restart)
    if restart:
        # The new period starts now: the paid result extends from here (lifecycle).
        subscription.next_charge_at = now()
        subscription.billing_anchor = local_anchor(subscription.next_charge_at)
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
        details={"amount": payment.amount, "period": payment.period,
                 "restart": restart},
    )
    checkpoint()
    return send_again(payment)


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
    if subscription_id is not None and db.session.scalar(
        db.select(Subscription.customer_id).where(Subscription.id == subscription_id)
    ) != customer_id:
        raise errors.InvalidInput("Choose one of this customer's subscriptions, or none.")
    refuse_while_unresolved(customer_id=customer_id)
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
        checkpoint()
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


@owns_transaction
def retry_schedule_now(schedule_id: int, *, actor: audit.Actor, reason: str) -> Payment:
    """Charge a failed or revoked schedule again right now (iamport's retry)."""
    row = load_for_update(Schedule, schedule_id, missing="No such schedule.")
    require_action(row, "retry")
    refuse_while_unresolved(customer_id=row.customer_id)
    # Dunning's next attempt of the same period must not run as well (money rule 1): revoke it
    # first; if iamport cannot be told, nothing is retried.
    waiting = []
    if row.subscription_id is not None and row.period is not None:
        waiting = [other for other in schedules.live_schedules(row.subscription_id, row.period)
                   if other.id != row.id]
    for other in waiting:
        schedules.revoke_at_iamport(other)
    # Mark the charge pending before asking (money rule 2): a lost answer leaves it for sync.
    payment = db.session.scalar(db.select(Payment).where(Payment.merchant_uid == row.merchant_uid))
    if payment is None:
        payment = Payment(
            merchant_uid=row.merchant_uid, customer_id=row.customer_id,
            subscription_id=row.subscription_id, period=row.period, attempt=row.attempt,
            origin="schedule", name=row.name, amount=row.amount,
        )
        db.session.add(payment)
    payment.status = "pending"
    audit.record(
        "schedule.retry",
        "schedule",
        row.merchant_uid,
        actor=actor,
        customer_id=row.customer_id,
        reason=reason,
        details={"amount": row.amount},
    )
    checkpoint()
    try:
        result = provider().retry_schedule(row.merchant_uid)
    except IamportError as error:
        if not isinstance(error, OutcomeUnknown):
            # Refused or never sent: nothing was charged (the period's next attempt is planned
            # again if the retry revoked it).
            message = error.message if isinstance(error, Rejected) else None
            apply_local_outcome(payment, LocalOutcome.RETRY_NOT_RUN, message=message)
        raise translate_iamport_error(
            error, unknown="iamport did not answer the retry; sync will find out whether it "
            "charged."
        ) from error
    return apply_payment_result(result, source="retry")
