"""Reconciliation: make our records match iamport's after lost webhooks, lost answers or an
outage, and resolve every outcome we do not know (money rule 2).

It is idempotent with the webhook path: after every webhook arrived, a sync changes nothing.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from .. import attention
from ..actions import has_pending_refund
from ..attention import unscheduled
from ..extensions import db
from ..iamport import IamportError, NotFound
from ..iamport import Payment as RemotePayment
from ..iamport import Schedule as RemoteSchedule
from ..models import Customer, Payment, Refund, Schedule, Subscription
from . import audit, errors, merchant_uid_prefix, now, owns_transaction, provider, schedules
from .customers import get_customer, refresh_billing_key
from .lifecycle import close_ended_subscriptions, resume_due_subscriptions
from .periods import local_anchor, parse_merchant_uid, unpaid_period_ended
from .results import (
    LocalOutcome,
    apply_local_outcome,
    apply_payment_result_with_change,
    is_earlier_attempt,
    is_stale_attempt,
)
from .webhooks import process_failed_events

# A charge or refund iamport has no record of is only given up after this long, so one that
# is still on its way is not mistaken for one that never left.
GRACE = timedelta(minutes=2)
# iamport lists payments at most 90 days at a time, schedules at most 92 days.
PAYMENT_WINDOW = timedelta(days=90)
SCHEDULE_WINDOW = timedelta(days=90)
SCHEDULE_LOOKAHEAD = timedelta(days=60)

Progress = Callable[[str, int], None]


@dataclass
class SyncSummary:
    """What a sync run fetched, changed and resolved, and what went wrong."""

    fetched: int = 0
    changed: int = 0
    resolved: int = 0
    errors: list[str] = field(default_factory=list)


def no_progress(phase: str, done: int) -> None:
    return None


def run_sync(days: int = 3, *, actor: audit.Actor = audit.SYSTEM,
             progress: Progress = no_progress) -> SyncSummary:
    """Reconcile the last ``days`` days with iamport and resolve every unknown outcome."""
    summary = SyncSummary()
    until = now()
    since = until - timedelta(days=days)
    phases = [
        ("payments", lambda: sync_payments(since, until, summary, progress)),
        ("schedules", lambda: sync_schedules(since, until, summary, progress)),
        ("pending charges", lambda: resolve_pending_charges(summary, progress)),
        ("pending refunds", lambda: resolve_pending_refunds(summary, progress)),
        ("schedule registrations", lambda: confirm_schedules(summary, progress)),
        ("unscheduled subscriptions", lambda: replan_unscheduled(summary, progress)),
        ("webhooks", lambda: reprocess_webhooks(summary, progress)),
    ]
    for name, phase in phases:
        try:
            phase()
        except IamportError as error:
            db.session.rollback()
            summary.errors.append(f"{name}: {error}")
    summary.changed += close_ended_subscriptions() + resume_due_subscriptions()
    # The attention list is kept in each change's transaction; this catches what went around.
    attention.repair()
    audit.record(
        "sync.run",
        "system",
        "sync",
        actor=actor,
        details={"days": days, "fetched": summary.fetched, "changed": summary.changed,
                 "resolved": summary.resolved, "errors": summary.errors[:20]},
        outcome="ok" if not summary.errors else "errors",
    )
    db.session.commit()
    return summary


def differs(local: Payment | None, remote: RemotePayment) -> bool:
    """Return whether applying ``remote`` would change anything we keep."""
    if local is None:
        return True
    if is_stale_attempt(local, remote):
        return False
    status = {"ready": "pending"}.get(remote.status, remote.status)
    return (
        local.imp_uid != remote.imp_uid
        or local.status != status
        or local.cancel_amount != remote.cancel_amount
        or local.amount != remote.amount
        or (local.paid_at is None) != (remote.paid_at is None)
    )


def apply_if_changed(remote: RemotePayment, summary: SyncSummary) -> None:
    local = db.session.scalar(db.select(Payment).where(Payment.imp_uid == remote.imp_uid))
    if local is None:
        local = db.session.scalar(
            db.select(Payment).where(Payment.merchant_uid == remote.merchant_uid)
        )
    if not differs(local, remote) and not (local is not None and has_pending_refund(local)):
        return
    if local is None and not belongs_to_us(remote):
        return
    unknown_before = unknown_outcomes(local)
    payment, _ = apply_payment_result_with_change(remote, source="sync")
    summary.changed += 1
    summary.resolved += unknown_before - unknown_outcomes(payment)


def unknown_outcomes(payment: Payment | None) -> int:
    """Count what is unknown about a payment: the charge itself, and pending refunds."""
    if payment is None:
        return 0
    db.session.refresh(payment)
    pending_refunds = sum(refund.status == "pending" for refund in payment.refunds)
    return int(payment.status == "pending") + pending_refunds


def belongs_to_us(remote: RemotePayment) -> bool:
    """Return whether a payment we never saw is one of our billing charges."""
    if parse_merchant_uid(remote.merchant_uid, merchant_uid_prefix()) is not None:
        return True
    return bool(remote.customer_uid) and db.session.scalar(
        db.select(Customer.id).where(Customer.customer_uid == remote.customer_uid)
    ) is not None


def sync_payments(since, until, summary: SyncSummary, progress: Progress) -> None:
    client = provider()
    start = since
    while start < until:
        end = min(start + PAYMENT_WINDOW, until)
        pages = client.iter_pages(
            lambda page, start=start, end=end: client.list_payments(
                "all", since=start, until=end, page=page, limit=100
            )
        )
        for remote in pages:
            summary.fetched += 1
            apply_if_changed(remote, summary)
            progress("payments", summary.fetched)
        start = end


def remote_schedules(since, until):
    """Yield iamport's schedules between two times, in windows it accepts."""
    client = provider()
    start = since
    while start < until:
        end = min(start + SCHEDULE_WINDOW, until)
        yield from client.iter_pages(
            lambda page, start=start, end=end: client.list_schedules(
                schedule_from=start, schedule_to=end, page=page, limit=100
            )
        )
        start = end


def sync_schedules(since, until, summary: SyncSummary, progress: Progress) -> None:
    for remote in remote_schedules(since, until + SCHEDULE_LOOKAHEAD):
        summary.fetched += 1
        progress("schedules", summary.fetched)
        reconcile_schedule(remote, summary)
    revoke_stale_schedules(summary)


def reconcile_schedule(remote: RemoteSchedule, summary: SyncSummary) -> None:
    """Make one of our schedule rows say what iamport says about it (fleet and per-customer
    sync alike); commits."""
    local = db.session.scalar(
        db.select(Schedule).where(Schedule.merchant_uid == remote.merchant_uid)
    )
    if local is None:
        return  # not one of ours
    if remote.schedule_status == "executed" and local.schedule_status != "executed":
        if remote.imp_uid:
            apply_if_changed(provider().get_payment(remote.imp_uid), summary)
    elif remote.schedule_status == "revoked" and local.schedule_status == "scheduled":
        local.schedule_status, local.revoked_at = "revoked", remote.revoked_at or now()
        subscription = local.subscription
        if subscription is not None and subscription.next_attempt_at == local.schedule_at:
            subscription.next_attempt_at = None
        db.session.commit()
        summary.changed += 1
    elif remote.schedule_status == "scheduled" and local.schedule_status == "scheduled":
        follow_remote_schedule(local, remote, summary)


def follow_remote_schedule(local: Schedule, remote, summary: SyncSummary) -> None:
    """Confirm a waiting schedule, taking iamport's time if a change's answer was lost."""
    changed = False
    if local.registered_at is None:
        local.registered_at = now()
    if remote.schedule_at is not None and remote.schedule_at != local.schedule_at:
        subscription = local.subscription
        if subscription is not None and subscription.next_attempt_at == local.schedule_at:
            subscription.next_attempt_at = remote.schedule_at
        local.schedule_at = remote.schedule_at
        changed = True
    db.session.commit()
    summary.changed += changed


def revoke_stale_schedules(summary: SyncSummary) -> None:
    """Revoke waiting schedules for periods that are already paid (money rule 1)."""
    stale = db.session.scalars(
        db.select(Schedule)
        .join(Subscription, Schedule.subscription_id == Subscription.id)
        .where(
            Schedule.schedule_status == "scheduled",
            Schedule.period <= Subscription.current_period,
        )
    ).all()
    for row in stale:
        try:
            schedules.revoke_at_iamport(row)
        except Exception as error:  # noqa: BLE001 - reported, retried on the next run
            db.session.rollback()
            summary.errors.append(f"revoke {row.merchant_uid}: {error}")
            continue
        db.session.commit()
        summary.changed += 1


def resolve_pending_charges(summary: SyncSummary, progress: Progress) -> None:
    pending = db.session.scalars(
        db.select(Payment).where(Payment.status == "pending").order_by(Payment.id)
    ).all()
    for payment in pending:
        progress("pending charges", summary.resolved)
        try:
            remote = provider().find_payment(payment.merchant_uid)
        except NotFound:
            if payment.created_at <= now() - GRACE:
                apply_local_outcome(payment, LocalOutcome.NOT_SENT)
                summary.resolved += 1
            continue
        if is_earlier_attempt(payment, remote):
            # iamport knows only the earlier failure: the retry never ran.
            if payment.updated_at <= now() - GRACE:
                apply_local_outcome(payment, LocalOutcome.RETRY_NOT_RUN)
                summary.resolved += 1
            continue
        apply_if_changed(remote, summary)


def resolve_pending_refunds(summary: SyncSummary, progress: Progress) -> None:
    pending = db.session.scalars(
        db.select(Refund).where(Refund.status == "pending").order_by(Refund.id)
    ).all()
    for refund in pending:
        progress("pending refunds", summary.resolved)
        payment = refund.payment
        remote = provider().get_payment(payment.imp_uid)
        apply_payment_result_with_change(remote, source="sync")
        db.session.refresh(refund)
        if refund.status == "pending" and refund.created_at <= now() - GRACE:
            refund.status = "rejected"
            refund.error = "iamport has no record of this refund"
            db.session.commit()
        if refund.status != "pending":
            summary.resolved += 1
            summary.changed += 1


def confirm_schedules(summary: SyncSummary, progress: Progress) -> None:
    subscription_ids = db.session.scalars(
        db.select(Schedule.subscription_id)
        .where(Schedule.schedule_status == "scheduled", Schedule.registered_at.is_(None))
        .distinct()
    ).all()
    for subscription_id in subscription_ids:
        if subscription_id is not None:
            schedules.register_unconfirmed(subscription_id)
            summary.changed += 1
        progress("schedule registrations", summary.changed)


def replan_unscheduled(summary: SyncSummary, progress: Progress,
                       customer_id: int | None = None) -> None:
    """Plan the next charge again for active subscriptions nothing charges because iamport
    refused their schedule, once their customer has a billing key at iamport again. One that
    staff left unscheduled (a revoked schedule) stays as staff left it."""
    query = db.select(Subscription.id).where(unscheduled()).order_by(Subscription.id)
    if customer_id is not None:
        query = query.where(Subscription.customer_id == customer_id)
    for subscription_id in db.session.scalars(query).all():
        subscription = db.session.get(Subscription, subscription_id)
        if not registration_was_refused(subscription_id):
            continue
        if refresh_billing_key(subscription.customer) != "active":
            db.session.commit()  # still no key: it stays on the attention list
            continue
        if unpaid_period_ended(subscription, now()):
            # Unbilled for a whole period: start again from now rather than charge every
            # missed period at once (staff can still collect them with "charge now").
            subscription.next_charge_at = now()
            subscription.billing_anchor = local_anchor(subscription.next_charge_at)
        schedules.plan_charge(subscription, max(subscription.next_charge_at or now(), now()))
        audit.record(
            "subscription.replan", "subscription", subscription.id,
            customer_id=subscription.customer_id,
            details={"next_charge_at": subscription.next_charge_at.isoformat()},
        )
        db.session.commit()
        schedules.register_unconfirmed(subscription.id)
        summary.changed += 1
        progress("unscheduled subscriptions", summary.changed)


def registration_was_refused(subscription_id: int) -> bool:
    """Return whether the subscription's latest schedule is one iamport refused to register
    (``schedules.register_schedule`` revokes it with iamport's reason, never confirmed)."""
    latest = db.session.scalar(
        db.select(Schedule).where(Schedule.subscription_id == subscription_id)
        .order_by(Schedule.id.desc()).limit(1)
    )
    return (latest is not None and latest.schedule_status == "revoked"
            and latest.registered_at is None and latest.fail_reason is not None)


def reprocess_webhooks(summary: SyncSummary, progress: Progress) -> None:
    done, failing = process_failed_events()
    summary.resolved += done
    if failing:
        summary.errors.append(f"{failing} webhook events still fail")
    progress("webhooks", done)


@dataclass(frozen=True)
class CustomerSyncSummary:
    """What a per-customer sync found and changed."""

    billing_key: str
    payments: int
    schedules: int
    changed: int


@owns_transaction
def sync_customer(customer_id: int, *, actor: audit.Actor = audit.SYSTEM) -> CustomerSyncSummary:
    """Bring one customer's billing key, schedules and payments in step with iamport."""
    customer = get_customer(customer_id)
    try:
        state = refresh_billing_key(customer)
        db.session.commit()
        payments, schedule_count, changed = sync_customer_records(customer)
        replanned = SyncSummary()
        replan_unscheduled(replanned, no_progress, customer_id=customer.id)
        changed += replanned.changed
    except IamportError as error:
        db.session.rollback()
        raise errors.IamportUnreachable("iamport could not be reached; try again.") from error
    audit.record(
        "customer.sync",
        "customer",
        customer.customer_uid,
        actor=actor,
        customer_id=customer.id,
        details={"billing_key": state, "payments": payments, "schedules": schedule_count,
                 "changed": changed},
    )
    db.session.commit()
    return CustomerSyncSummary(state, payments, schedule_count, changed)


def all_or_none(items) -> list:
    """Return every item of a customer's list, or none when iamport knows no such customer."""
    try:
        return list(items)
    except NotFound:
        return []


def sync_customer_records(customer: Customer) -> tuple[int, int, int]:
    """Reconcile one customer's payments and schedules; return (payments, schedules, changed)."""
    client = provider()
    summary = SyncSummary()
    # iamport answers 404 for the lists of a customer_uid it has no key for (deleted in its
    # console, or never issued): nothing to list, not an outage.
    payments = all_or_none(client.iter_pages(
        lambda page: client.list_customer_payments(customer.customer_uid, page=page)
    ))
    for remote in payments:
        apply_if_changed(remote, summary)
    until = now()
    found = all_or_none(client.iter_pages(
        lambda page: client.list_customer_schedules(
            customer.customer_uid, schedule_from=until - timedelta(days=30),
            schedule_to=until + SCHEDULE_LOOKAHEAD, page=page,
        )
    ))
    for remote in found:
        reconcile_schedule(remote, summary)
    return len(payments), len(found), summary.changed
