"""Scheduled charges: planning the next one, registering it at iamport, and staff changes.

A schedule row is written with its derived ``merchant_uid`` and committed before iamport is
asked to register it; ``registered_at`` records iamport's confirmation. A row left without it
(iamport was down, the answer was lost) is registered again by ``sync``, which is safe because
iamport refuses a second schedule with the same ``merchant_uid``.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func

from ..config import iamport_pg
from ..extensions import db
from ..iamport import IamportError, NotFound, Rejected, ScheduleRequest
from ..models import Payment, Schedule, Subscription
from ..text import fit_column
from . import (
    audit,
    billing_mode,
    calling_iamport,
    errors,
    load_for_update,
    merchant_uid_prefix,
    now,
    owns_transaction,
    provider,
    require_action,
    translate_iamport_error,
)
from .periods import ChargeKey

# How far ahead of now a schedule must lie for iamport to accept it.
SCHEDULE_LEAD = timedelta(minutes=1)


def next_attempt_number(subscription_id: int, period: int) -> int:
    """Return the first attempt number not yet used for a subscription's period."""
    used = [
        db.session.scalar(
            db.select(func.max(model.attempt)).where(
                model.subscription_id == subscription_id, model.period == period
            )
        )
        for model in (Schedule, Payment)
    ]
    return max([n for n in used if n is not None], default=0) + 1


def live_schedules(subscription_id: int, period: int | None = None) -> list[Schedule]:
    """Return a subscription's schedules that have not run yet (optionally for one period)."""
    query = db.select(Schedule).where(
        Schedule.subscription_id == subscription_id, Schedule.schedule_status == "scheduled"
    )
    if period is not None:
        query = query.where(Schedule.period == period)
    return list(db.session.scalars(query.order_by(Schedule.id)))


def plan_charge(subscription: Subscription, at: datetime) -> Schedule | None:
    """Plan the next attempt at the subscription's next period; the caller commits.

    In schedule mode this adds the schedule row (registered after commit); in again mode
    the ``charge-due`` runner picks the subscription up at ``next_attempt_at``.
    """
    if billing_mode() == "again":
        subscription.next_attempt_at = at
        return None
    # iamport only accepts future schedules; a period that fell due while a result was
    # late is charged a minute from now instead (the period keeps its nominal start).
    at = max(at, now() + SCHEDULE_LEAD)
    subscription.next_attempt_at = at
    period = subscription.current_period + 1
    existing = live_schedules(subscription.id, period)
    if existing:
        return existing[0]
    plan = subscription.next_plan or subscription.plan
    key = ChargeKey(subscription.id, period, next_attempt_number(subscription.id, period))
    row = Schedule(
        merchant_uid=key.merchant_uid(merchant_uid_prefix()),
        customer_id=subscription.customer_id,
        subscription_id=subscription.id,
        period=period,
        attempt=key.attempt,
        schedule_at=at,
        amount=plan.amount,
        name=plan.name,
        schedule_status="scheduled",
    )
    db.session.add(row)
    db.session.flush()
    return row


def register_unconfirmed(subscription_id: int) -> None:
    """Register at iamport every live schedule of a subscription it has not confirmed yet."""
    rows = db.session.scalars(
        db.select(Schedule).where(
            Schedule.subscription_id == subscription_id,
            Schedule.schedule_status == "scheduled",
            Schedule.registered_at.is_(None),
        )
    ).all()
    for row in rows:
        register_schedule(row)


def register_schedule(row: Schedule) -> None:
    """Ask iamport to run one schedule row and record the answer; commits."""
    customer = row.customer
    request = ScheduleRequest(
        merchant_uid=row.merchant_uid,
        schedule_at=row.schedule_at,
        amount=row.amount,
        name=row.name or "정기결제",
        buyer_name=customer.name or None,
        buyer_email=customer.email or None,
        buyer_tel=customer.phone or None,
    )
    try:
        provider().schedule_payments(customer.customer_uid, [request], pg=iamport_pg())
    except Rejected as rejection:
        if is_registered_at_iamport(row.merchant_uid):
            row.registered_at = now()
        else:
            row.schedule_status = "revoked"
            row.revoked_at = now()
            row.fail_reason = fit_column(Schedule.fail_reason, rejection.message or "rejected")
            if isinstance(rejection, NotFound):
                # iamport has no billing key under this customer_uid (deleted in its console).
                customer.billing_key_status = "missing"
                customer.billing_key_synced_at = now()
            if row.subscription is not None:
                # Nothing charges it now: attention.subscription_attention says so, and
                # sync registers it again once the customer has a key.
                row.subscription.next_attempt_at = None
            audit.record(
                "schedule.register",
                "schedule",
                row.merchant_uid,
                customer_id=row.customer_id,
                details={"error": rejection.message},
                outcome="rejected",
            )
    except IamportError:
        # Unknown or unreachable: the row stays unconfirmed and sync registers it later.
        db.session.rollback()
        return
    else:
        row.registered_at = now()
    db.session.commit()


def is_registered_at_iamport(merchant_uid: str) -> bool:
    try:
        remote = provider().get_schedule(merchant_uid)
    except NotFound:
        return False
    return remote.schedule_status == "scheduled"


def revoke_at_iamport(row: Schedule) -> None:
    """Revoke one schedule at iamport and mark it revoked here; the caller commits.

    Raises ``errors.AnswerLost`` / ``errors.IamportUnreachable`` when iamport's answer
    is lost or it cannot be reached; the row then stays live and sync retries.
    """
    try:
        provider().unschedule_payments(row.customer.customer_uid, [row.merchant_uid])
    except Rejected as rejection:
        remote = remote_schedule(row.merchant_uid)
        if remote is not None and remote.schedule_status == "scheduled":
            raise errors.IamportRefused(rejection.message or "iamport refused") from rejection
        # Nothing to revoke there: it never registered, ran already, or was revoked.
        if remote is not None and remote.schedule_status == "executed":
            row.schedule_status = "executed"
            row.payment_status = remote.payment_status
            row.imp_uid = remote.imp_uid
            row.executed_at = remote.executed_at
            return
    except IamportError as error:
        raise translate_iamport_error(
            error, unknown="iamport did not answer the revocation; sync will confirm it."
        ) from error
    row.schedule_status = "revoked"
    row.revoked_at = now()


def remote_schedule(merchant_uid: str):
    try:
        return provider().get_schedule(merchant_uid)
    except NotFound:
        return None


def revoke_live_schedules(subscription: Subscription, *, keep: str | None = None) -> list[str]:
    """Revoke every live schedule of a subscription except ``keep``; the caller commits."""
    revoked = []
    for row in live_schedules(subscription.id):
        if row.merchant_uid == keep:
            continue
        if row.registered_at is None and remote_schedule(row.merchant_uid) is None:
            row.schedule_status, row.revoked_at = "revoked", now()
        else:
            revoke_at_iamport(row)
        revoked.append(row.merchant_uid)
    return revoked


# --- staff actions -------------------------------------------------------------------------


def get_schedule_row(schedule_id: int) -> Schedule:
    """Return a schedule row locked for this transaction."""
    return load_for_update(Schedule, schedule_id, missing="No such schedule.")


def require_future(at: datetime) -> None:
    if at.tzinfo is None:
        raise errors.InvalidInput("The time must include a time zone.")
    if at <= now() + timedelta(minutes=1):
        raise errors.ScheduleInPast("The new time must be at least a minute in the future.")


@owns_transaction
def change_schedule_time(
    schedule_id: int, *, schedule_at: datetime, actor: audit.Actor, reason: str | None = None
) -> Schedule:
    """Move a waiting schedule to a new time at iamport and here."""
    require_future(schedule_at)
    row = get_schedule_row(schedule_id)
    require_action(row, "change_time")
    before = row.schedule_at
    with calling_iamport(unknown="iamport did not answer; check the schedule after the next sync."):
        provider().update_schedule_time(row.merchant_uid, schedule_at)
    row.schedule_at = schedule_at
    if row.subscription is not None and row.period == row.subscription.current_period + 1:
        row.subscription.next_attempt_at = schedule_at
    audit.record(
        "schedule.change_time",
        "schedule",
        row.merchant_uid,
        actor=actor,
        customer_id=row.customer_id,
        reason=reason,
        details={"from": before.isoformat(), "to": schedule_at.isoformat()},
    )
    db.session.commit()
    return row


@owns_transaction
def revoke_schedule(schedule_id: int, *, actor: audit.Actor, reason: str) -> Schedule:
    """Revoke a waiting schedule so it never charges."""
    row = get_schedule_row(schedule_id)
    require_action(row, "revoke")
    revoke_at_iamport(row)
    if row.subscription is not None and row.schedule_status == "revoked":
        row.subscription.next_attempt_at = None
    audit.record(
        "schedule.revoke",
        "schedule",
        row.merchant_uid,
        actor=actor,
        customer_id=row.customer_id,
        reason=reason,
        details={"amount": row.amount, "schedule_at": row.schedule_at.isoformat()},
    )
    db.session.commit()
    return row


@owns_transaction
def reschedule_failed(
    schedule_id: int, *, schedule_at: datetime, actor: audit.Actor, reason: str | None = None
) -> Schedule:
    """Schedule a failed or revoked charge again at a new time (iamport's reschedule)."""
    require_future(schedule_at)
    row = get_schedule_row(schedule_id)
    require_action(row, "reschedule")
    subscription = row.subscription
    with calling_iamport(unknown="iamport did not answer; sync will show the result."):
        provider().reschedule(row.merchant_uid, schedule_at)
    row.schedule_status, row.payment_status = "scheduled", None
    row.schedule_at, row.registered_at, row.revoked_at = schedule_at, now(), None
    if subscription is not None:
        subscription.next_attempt_at = schedule_at
    audit.record(
        "schedule.reschedule",
        "schedule",
        row.merchant_uid,
        actor=actor,
        customer_id=row.customer_id,
        reason=reason,
        details={"schedule_at": schedule_at.isoformat()},
    )
    db.session.commit()
    return row
