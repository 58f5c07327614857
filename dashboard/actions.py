"""Which staff actions apply to a record in its current state: the one guard.

Billing services refuse with ``billing.require_action`` (which says why with ``refusal``);
detail queries attach ``allowed_actions`` to what
they return; templates only ask ``"pause" in detail.actions``. So every button the console
shows is one the server accepts, and none it would accept is hidden. Roles are a separate
question (``views.access``): this module knows states, not people.

It reads the models only, so both the write side (``billing``) and the read side
(``queries``) can ask it.
"""
from __future__ import annotations

from functools import singledispatch

from .clock import now
from .extensions import db
from .models import Payment, Schedule, Subscription, WebhookEvent

# Why an action is refused, per action: what a service raises with ``require``.
REFUSALS = {
    "pause": "Only an active or past-due subscription can be paused.",
    "resume": "Only a paused subscription can be resumed.",
    "cancel": "This subscription is already cancelled.",
    "reinstate": "Only a cancelled subscription can be reinstated.",
    "change_plan": "A cancelled subscription cannot change plans.",
    "charge_now": "Only an unpaid period of an active or past-due subscription can be charged.",
    "change_time": "Only a schedule that has not run yet can be moved.",
    "revoke": "This schedule is not waiting to run.",
    "reschedule": "Only a failed or revoked schedule of an unpaid period can be rescheduled.",
    "retry": "Only a failed or revoked schedule of an unpaid period can be retried.",
    "refund": "Only a paid payment with a refundable balance can be refunded.",
    "reprocess": "This event has no payment to verify, or it was processed already.",
}


@singledispatch
def allowed_actions(record) -> frozenset[str]:
    """Return the names of the staff actions that apply to ``record`` now."""
    raise TypeError(f"no actions for {type(record).__name__}")


def refusal(record, action: str) -> str:
    """Return why ``action`` does not apply to ``record`` now, as staff should read it."""
    if (isinstance(record, Subscription) and action == "charge_now"
            and record.status in ("active", "past_due")):
        if not period_is_unpaid(record):
            return "The current period is paid; the next charge is not due yet."
        return "The customer has no billing key; register a card first."
    if isinstance(record, Schedule) and action in ("reschedule", "retry"):
        subscription = record.subscription
        failed = record.schedule_status == "revoked" or record.payment_status == "failed"
        if failed and subscription is not None and record.period is not None:
            if record.period <= subscription.current_period:
                return "This period is already paid."
            return "Another charge for this period is already scheduled."
    if isinstance(record, Payment) and action == "refund":
        if record.imp_uid is None or record.status not in ("paid", "cancelled"):
            return "Only a paid payment can be refunded."
        if record.refundable_amount <= 0:
            return "This payment is already fully refunded."
        return "An earlier refund of this payment has an unknown outcome; run sync first."
    if isinstance(record, WebhookEvent) and record.imp_uid is None:
        return "This event has no payment to verify; its body was unreadable."
    return REFUSALS[action]


@allowed_actions.register
def _subscription_actions(subscription: Subscription) -> frozenset[str]:
    actions = set()
    if subscription.status in ("active", "past_due"):
        actions.add("pause")
        if period_is_unpaid(subscription) and subscription.customer.billing_key_status == "active":
            actions.add("charge_now")
    if subscription.status == "paused":
        actions.add("resume")
    if subscription.status != "cancelled":
        actions.update(("cancel", "change_plan"))
    if subscription.status == "cancelled" or subscription.cancel_at_period_end:
        actions.add("reinstate")
    return frozenset(actions)


def period_is_unpaid(subscription: Subscription) -> bool:
    """Return whether the subscription's next period is owed now: it failed, or it is due."""
    if subscription.failed_attempts > 0 or subscription.status == "past_due":
        return True
    return subscription.next_charge_at is not None and subscription.next_charge_at <= now()


@allowed_actions.register
def schedule_actions(schedule: Schedule) -> frozenset[str]:
    """A scheduled payment's actions; the schedules list's plain rows answer the same
    questions and are registered with this rule too."""
    if schedule.schedule_status == "scheduled":
        return frozenset(("change_time", "revoke"))
    if not (schedule.schedule_status == "revoked" or schedule.payment_status == "failed"):
        return frozenset()
    subscription = schedule.subscription
    if subscription is not None and schedule.period is not None:
        if schedule.period <= subscription.current_period:
            return frozenset()  # the period is paid
        if another_live_schedule(schedule):
            # A retry may run (a paid retry revokes the waiting one); a second waiting
            # charge for one period may not exist (money rule 1).
            return frozenset(("retry",))
    return frozenset(("reschedule", "retry"))


def another_live_schedule(schedule: Schedule) -> bool:
    """Return whether another schedule of the same period is still waiting to run."""
    return db.session.scalar(
        db.select(Schedule.id).where(
            Schedule.subscription_id == schedule.subscription_id,
            Schedule.period == schedule.period,
            Schedule.schedule_status == "scheduled",
            Schedule.id != schedule.id,
        ).limit(1)
    ) is not None


@allowed_actions.register
def payment_actions(payment: Payment) -> frozenset[str]:
    """A payment's actions; the customer page's payments, read as plain rows, are registered
    with this rule too."""
    if payment.imp_uid is None or payment.refundable_amount <= 0:
        return frozenset()
    if has_pending_refund(payment):
        return frozenset()
    return frozenset(("refund",))


def has_pending_refund(payment: Payment) -> bool:
    """Return whether a refund of the payment waits for iamport's answer."""
    return any(refund.status == "pending" for refund in payment.refunds)


@allowed_actions.register
def event_actions(event: WebhookEvent) -> frozenset[str]:
    """A received webhook's actions; the webhook list's plain rows are registered with this
    rule too."""
    if event.imp_uid is not None and event.state in ("received", "failed", "ignored"):
        return frozenset(("reprocess",))
    return frozenset()
