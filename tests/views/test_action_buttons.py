"""One guard per action: for every state of a subscription, a schedule, a payment and a
webhook event, the console shows exactly the buttons ``allowed_actions`` names, and the
billing service refuses (``InvalidState``) exactly the actions it does not name.

The services run against the sandbox in process. Rows are seeded straight into the database,
so an allowed action may still fail at iamport (the sandbox never heard of the row); what
matters here is that only a disallowed one is refused for its state.
"""
from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta

import pytest

from dashboard.actions import allowed_actions
from dashboard.billing import audit, charges, errors, lifecycle, refunds, schedules, webhooks
from dashboard.extensions import db
from dashboard.models import Payment, Plan, Schedule, Subscription, WebhookEvent

from .conftest import (
    make_customer,
    make_event,
    make_payment,
    make_plan,
    make_refund,
    make_schedule,
    make_subscription,
)

STAFF = audit.Actor(user_id=None, label="test")
LATER = timedelta(days=3)


@pytest.fixture
def app_config(app_config, sandbox):
    return {**app_config, "IAMPORT_CLIENT": sandbox.client, "CLOCK": sandbox.clock()}


def shown(html: str, kind: str, row_id: int, actions: dict[str, str]) -> set[str]:
    """Return the actions whose URL for ``row_id`` appears on a page."""
    found = set(re.findall(rf"/{kind}/{row_id}/([a-z-]+)", html))
    return {name for name, path in actions.items() if path in found}


def refused(call) -> bool:
    """Return whether a service call was refused for the record's state."""
    try:
        call()
    except errors.InvalidState:
        db.session.rollback()
        return True
    except errors.BillingError:
        db.session.rollback()  # refused by iamport or by the input, not by the state
    return False


# --- subscriptions ---------------------------------------------------------------------------

SUBSCRIPTION_BUTTONS = {
    "charge_now": "charge-now", "pause": "pause", "resume": "resume", "change_plan": "plan",
    "cancel": "cancel", "reinstate": "reinstate",
}
SUBSCRIPTION_STATES = list(itertools.product(
    ("active", "past_due", "paused", "cancelled"),  # status
    (False, True),  # cancel at period end
    (0, 1),  # failed attempts
    (False, True),  # next charge already due
    ("active", "deleted"),  # billing key
))


def make_subscription_in(state, plan: Plan) -> int:
    status, at_end, failed, due, key = state
    subscription = make_subscription(
        make_customer(billing_key_status=key), plan,
        status=status, cancel_at_period_end=at_end, failed_attempts=failed,
        next_charge_at=datetime.now(UTC) + (-timedelta(hours=1) if due else LATER),
    )
    return subscription.id


def subscription_calls(subscription_id: int, other_plan: int) -> dict:
    return {
        "charge_now": lambda: charges.retry_period_now(subscription_id, actor=STAFF, reason="t"),
        "pause": lambda: lifecycle.pause_subscription(subscription_id, actor=STAFF, reason="t"),
        "resume": lambda: lifecycle.resume_subscription(subscription_id, actor=STAFF),
        "change_plan": lambda: lifecycle.change_plan(subscription_id, plan_id=other_plan,
                                                     actor=STAFF),
        "cancel": lambda: lifecycle.cancel_subscription(subscription_id, actor=STAFF, reason="t",
                                                        at_period_end=False),
        "reinstate": lambda: lifecycle.reinstate_subscription(subscription_id, actor=STAFF),
    }


@pytest.mark.parametrize("state", SUBSCRIPTION_STATES, ids=lambda s: "-".join(map(str, s)))
def test_subscription_buttons_are_the_allowed_actions(app, admin_client, state):
    with app.app_context():
        plan, other_plan = make_plan(), make_plan(code="other", name="다른 플랜", amount=19900)
        plan_id, other_plan_id = plan.id, other_plan.id
        subscription_id = make_subscription_in(state, plan)
        allowed = allowed_actions(db.session.get(Subscription, subscription_id))
    html = admin_client.get(f"/subscriptions/{subscription_id}").get_data(as_text=True)
    assert shown(html, "subscriptions", subscription_id, SUBSCRIPTION_BUTTONS) == allowed

    for action in SUBSCRIPTION_BUTTONS:
        with app.app_context():
            fresh = make_subscription_in(state, db.session.get(Plan, plan_id))
            call = subscription_calls(fresh, other_plan_id)[action]
            assert refused(call) == (action not in allowed), action


# --- schedules -------------------------------------------------------------------------------

SCHEDULE_BUTTONS = {"change_time": "time", "revoke": "revoke", "retry": "retry",
                    "reschedule": "reschedule"}
# (schedule status, payment status, period already paid, another live schedule of the period);
# a waiting schedule cannot have a live twin (one live schedule per period).
SCHEDULE_STATES = [
    *[("scheduled", None, paid, False) for paid in (False, True)],
    *[("revoked", None, paid, live) for paid in (False, True) for live in (False, True)],
    *[("executed", outcome, paid, live) for outcome in ("paid", "failed")
      for paid in (False, True) for live in (False, True)],
]


def make_schedule_in(state) -> int:
    status, outcome, period_paid, another_live = state
    plan = db.session.scalar(db.select(Plan).limit(1)) or make_plan()
    customer = make_customer()
    subscription = make_subscription(customer, plan, current_period=2 if period_paid else 1)
    row = make_schedule(customer, schedule_status=status, payment_status=outcome,
                        subscription_id=subscription.id, period=2, attempt=1)
    if another_live:
        make_schedule(customer, subscription_id=subscription.id, period=2, attempt=2)
    return row.id


def schedule_calls(schedule_id: int) -> dict:
    later = datetime.now(UTC) + LATER
    return {
        "change_time": lambda: schedules.change_schedule_time(schedule_id, schedule_at=later,
                                                              actor=STAFF),
        "revoke": lambda: schedules.revoke_schedule(schedule_id, actor=STAFF, reason="t"),
        "retry": lambda: charges.retry_schedule_now(schedule_id, actor=STAFF, reason="t"),
        "reschedule": lambda: schedules.reschedule_failed(schedule_id, schedule_at=later,
                                                          actor=STAFF),
    }


@pytest.mark.parametrize("state", SCHEDULE_STATES, ids=lambda s: "-".join(map(str, s)))
def test_schedule_buttons_are_the_allowed_actions(app, admin_client, state):
    with app.app_context():
        schedule_id = make_schedule_in(state)
        row = db.session.get(Schedule, schedule_id)
        allowed = allowed_actions(row)
        pages = [f"/subscriptions/{row.subscription_id}", f"/customers/{row.customer_id}",
                 "/schedules?status="]
    for page in pages:
        html = admin_client.get(page).get_data(as_text=True)
        assert shown(html, "schedules", schedule_id, SCHEDULE_BUTTONS) == allowed, page

    for action in SCHEDULE_BUTTONS:
        with app.app_context():
            call = schedule_calls(make_schedule_in(state))[action]
            assert refused(call) == (action not in allowed), action


# --- payments --------------------------------------------------------------------------------

PAYMENT_STATES = [
    ("paid", 0, None), ("paid", 3000, None), ("paid", 3000, "pending"),
    ("paid", 0, "rejected"), ("cancelled", 9900, None), ("failed", 0, None),
    ("pending", 0, None),
]


def make_payment_in(state) -> int:
    status, refunded, refund_status = state
    payment = make_payment(make_customer(), status=status)
    if refunded:
        make_refund(payment, refunded)
    if refund_status:
        make_refund(payment, 1000, status=refund_status)
    db.session.commit()
    return payment.id


@pytest.mark.parametrize("state", PAYMENT_STATES, ids=lambda s: "-".join(map(str, s)))
def test_payment_buttons_are_the_allowed_actions(app, admin_client, state):
    with app.app_context():
        payment_id = make_payment_in(state)
        payment = db.session.get(Payment, payment_id)
        allowed = allowed_actions(payment)
        pages = [f"/payments/{payment_id}", f"/customers/{payment.customer_id}"]
    for page in pages:
        html = admin_client.get(page).get_data(as_text=True)
        assert shown(html, "payments", payment_id, {"refund": "refund"}) == allowed, page

    with app.app_context():
        fresh = make_payment_in(state)
        refused_here = False
        try:
            refunds.refund_payment(fresh, amount=None, reason="t", actor=STAFF)
        except (errors.InvalidState, errors.NotRefundable):
            refused_here = True
        except errors.BillingError:
            pass
        db.session.rollback()
        assert refused_here == ("refund" not in allowed)


# --- webhook events --------------------------------------------------------------------------

EVENT_STATES = list(itertools.product(("received", "processed", "failed", "ignored"),
                                      (None, "imp_000000000001")))


@pytest.mark.parametrize("state", EVENT_STATES, ids=lambda s: "-".join(map(str, s)))
def test_event_buttons_are_the_allowed_actions(app, admin_client, state):
    with app.app_context():
        event_id = make_event(state=state[0], imp_uid=state[1]).id
        allowed = allowed_actions(db.session.get(WebhookEvent, event_id))
    html = admin_client.get("/webhook-events").get_data(as_text=True)
    assert shown(html, "webhook-events", event_id, {"reprocess": "reprocess"}) == allowed
    with app.app_context():
        fresh = make_event(state=state[0], imp_uid=state[1]).id
        assert refused(lambda: webhooks.reprocess_event(fresh, actor=STAFF)) == (
            "reprocess" not in allowed
        )
