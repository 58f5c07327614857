"""Applying charge results: periods, next schedules, dunning, credits, idempotency."""
from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest

from dashboard.billing import intake, lifecycle
from dashboard.extensions import db
from dashboard.models import Customer, Payment, Schedule, Subscription, WebhookEvent
from tests.billing.harness import (
    DAY,
    credits_of,
    event_states,
    fresh,
    live_schedules_of,
    payments_of,
    post_webhook,
    state_of,
)

DECLINING_CARD = "5570-4200-0007-0002"


def subscribe(sandbox, uid: str, *, card: str = "5570-4200-0007-7221", plan: str = "basic"):
    sandbox.issue_key(uid, card_number=card, customer_name="김민준", customer_tel="010-1234-5678")
    return intake.start_subscription(uid, plan_code=plan).id


def test_start_registers_the_first_schedule_at_iamport(app, sandbox, plan):
    sub_id = subscribe(sandbox, "cust_1")
    [schedule] = live_schedules_of(sub_id)
    assert schedule.merchant_uid == f"sub{sub_id}-p1-a1"
    assert schedule.registered_at is not None
    remote = sandbox.client.get_schedule(schedule.merchant_uid)
    assert (remote.schedule_status, remote.amount) == ("scheduled", 9900)
    customer = fresh(Customer, fresh(Subscription, sub_id).customer_id)
    key = sandbox.client.get_billing_key("cust_1")
    # The customer row copies iamport's billing key: its masked card and holder's phone.
    assert (customer.phone, customer.card_number, customer.card_name) \
        == ("01012345678", key.card_number, key.card_name)
    assert customer.card_number.endswith("7221") and "*" in customer.card_number


def test_start_refuses_an_unknown_billing_key(app, sandbox, plan):
    from dashboard.billing.errors import RecordNotFound

    with pytest.raises(RecordNotFound, match="no billing key"):
        intake.start_subscription("nobody", plan_code="basic")
    assert db.session.scalar(db.select(db.func.count(Subscription.id))) == 0


def test_a_paid_period_extends_once_and_schedules_the_next(app, sandbox, plan):
    sub_id = subscribe(sandbox, "cust_1")
    sandbox.advance(120)
    assert sandbox.run_due() == [f"sub{sub_id}-p1-a1"]

    sub = fresh(Subscription, sub_id)
    assert (sub.status, sub.current_period, sub.failed_attempts) == ("active", 1, 0)
    [paid] = payments_of(sub_id)
    assert (paid.status, paid.amount, paid.origin, paid.period) == ("paid", 9900, "schedule", 1)
    assert paid.receipt_url and paid.imp_uid.startswith("imp_")
    [next_schedule] = live_schedules_of(sub_id)
    assert next_schedule.merchant_uid == f"sub{sub_id}-p2-a1"
    assert next_schedule.schedule_at == sub.current_period_end == sub.next_charge_at
    assert credits_of(sub.customer_id) == [("period_paid", 100)]
    assert event_states() == ["processed"]


def test_the_same_webhook_twice_changes_nothing_more(app, sandbox, plan):
    sub_id = subscribe(sandbox, "cust_1")
    sandbox.advance(120)
    sandbox.run_due()
    before = state_of(sub_id)
    delivered = sandbox.webhooks()[-1]["payload"]
    for form in (False, True):
        response = post_webhook(app, delivered, form=form)
        assert response.status_code == 200
    assert state_of(sub_id) == before
    assert event_states() == ["processed"] * 3


def test_dunning_retries_the_next_day_then_marks_past_due(app, sandbox, plan):
    sub_id = subscribe(sandbox, "cust_1", card=DECLINING_CARD)
    executed = []
    for _ in range(6):
        sandbox.advance(DAY)
        executed += sandbox.run_due()
    assert executed == [f"sub{sub_id}-p1-a{n}" for n in (1, 2, 3, 4)]
    sub = fresh(Subscription, sub_id)
    assert (sub.status, sub.current_period, sub.failed_attempts) == ("past_due", 0, 4)
    failed = payments_of(sub_id)
    assert [p.status for p in failed] == ["failed"] * 4
    assert all("CC" in p.fail_reason for p in failed)
    assert live_schedules_of(sub_id) == []
    # Each retry was registered about a day after the previous failure.
    times = [s.schedule_at for s in db.session.scalars(
        db.select(Schedule).where(Schedule.subscription_id == sub_id).order_by(Schedule.id))]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert all(DAY <= gap <= 2 * DAY for gap in gaps)


def test_dunning_final_action_can_cancel(app, sandbox, plan):
    app.config["DUNNING_RETRY_DAYS"] = [1]
    app.config["DUNNING_FINAL_ACTION"] = "cancel"
    sub_id = subscribe(sandbox, "cust_1", card=DECLINING_CARD)
    for _ in range(3):
        sandbox.advance(DAY)
        sandbox.run_due()
    sub = fresh(Subscription, sub_id)
    assert (sub.status, sub.failed_attempts) == ("cancelled", 2)
    assert sub.cancel_reason.startswith("dunning")


def test_a_recovered_retry_keeps_the_period_anchor(app, sandbox, plan):
    sub_id = subscribe(sandbox, "cust_1")
    sandbox.control("PUT", "/customers/cust_1/behavior", outcome="decline")
    sandbox.advance(120)
    sandbox.run_due()
    sandbox.control("PUT", "/customers/cust_1/behavior", outcome="approve")
    sandbox.advance(DAY)
    sandbox.run_due()
    sub = fresh(Subscription, sub_id)
    first_due = db.session.scalar(
        db.select(Schedule.schedule_at).where(Schedule.merchant_uid == f"sub{sub_id}-p1-a1"))
    assert (sub.current_period, sub.failed_attempts, sub.status) == (1, 0, "active")
    assert sub.current_period_start == first_due
    assert [p.status for p in payments_of(sub_id)] == ["failed", "paid"]


def test_out_of_order_webhooks_end_in_the_same_state(app, sandbox, plan):
    """A late 'failed' for attempt 1 arriving after 'paid' for attempt 2 changes nothing."""
    sandbox.lose_webhooks()  # we replay them by hand

    sub_id = subscribe(sandbox, "cust_1")
    sandbox.control("PUT", "/customers/cust_1/behavior", outcome="decline")
    sandbox.advance(120)
    sandbox.run_due()
    # The failure was lost, so the dashboard plans nothing; staff retry through iamport.
    sandbox.control("PUT", "/customers/cust_1/behavior", outcome="approve")
    sandbox.client.reschedule(f"sub{sub_id}-p1-a1", lifecycle.now().replace(microsecond=0)
                              + __import__("datetime").timedelta(minutes=5))
    sandbox.advance(600)
    sandbox.run_due()
    bodies = [delivery["payload"] for delivery in sandbox.webhooks()]
    assert [b["status"] for b in bodies] == ["failed", "paid"]

    for body in reversed(bodies):
        assert post_webhook(app, body).status_code == 200
    reordered = state_of(sub_id)
    for body in bodies + list(reversed(bodies)):
        post_webhook(app, body)
    assert state_of(sub_id) == reordered
    sub = fresh(Subscription, sub_id)
    assert (sub.current_period, sub.failed_attempts) == (1, 0)
    assert credits_of(sub.customer_id) == [("period_paid", 100)]


@pytest.mark.timeout(300)  # long by design; a minute on a heavily shared machine
def test_a_year_of_monthly_billing(app, sandbox, plan):
    """Many customers, random first-attempt declines, a year of days: exactly the expected
    payments, periods and retries, and every webhook stored and processed."""
    # Frozen: on a slow machine a minute of wall time would otherwise bring the 13th charge.
    sandbox.control("POST", "/clock", frozen=True)
    rng = random.Random(20261127)
    customers = {}
    for n in range(12):
        card = DECLINING_CARD if n == 11 else "5570-4200-0007-7221"
        uid = f"cust_{n}"
        sub_id = subscribe(sandbox, uid, card=card)
        declines = set(rng.sample(range(1, 13), k=rng.randint(0, 3))) if n < 11 else set()
        customers[uid] = (sub_id, declines)

    for _ in range(365):
        sandbox.advance(DAY)
        for uid, (sub_id, declines) in customers.items():
            live = live_schedules_of(sub_id)
            if live and uid != "cust_11":
                decline = live[0].period in declines and live[0].attempt == 1
                sandbox.control("PUT", f"/customers/{uid}/behavior",
                                outcome="decline" if decline else "approve")
        sandbox.run_due()

    for uid, (sub_id, declines) in customers.items():
        sub = fresh(Subscription, sub_id)
        statuses = Counter(p.status for p in payments_of(sub_id))
        if uid == "cust_11":
            assert (sub.status, sub.current_period, statuses) == ("past_due", 0, {"failed": 4})
            continue
        assert sub.status == "active"
        assert sub.current_period == 12
        assert (statuses["paid"], statuses["failed"]) == (12, len(declines)), uid
        periods = [p.period for p in payments_of(sub_id) if p.status == "paid"]
        assert periods == list(range(1, 13))
        assert len(live_schedules_of(sub_id)) == 1
        assert credits_of(sub.customer_id) == [("period_paid", 100)] * 12

    deliveries = sandbox.webhooks()
    assert all(d["response_status"] == 200 for d in deliveries)
    stored = db.session.scalars(db.select(WebhookEvent)).all()
    assert len(stored) == len(deliveries)
    assert {(e.imp_uid, e.status) for e in stored} == {
        (d["payload"]["imp_uid"], d["payload"]["status"]) for d in deliveries
    }
    assert {e.state for e in stored} == {"processed"}
    assert db.session.scalar(db.select(db.func.count(Payment.id))) == len(deliveries)
