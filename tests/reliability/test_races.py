"""Races on purpose, on PostgreSQL: threads with their own app contexts start together.

Already covered in tests/billing/test_concurrency.py and not repeated: two ``charge-due``
runners, two staff refunding the same payment, webhook and sync on the same payment. Here:
the same webhook 20 times from 8 senders, the same manual-charge form twice at once, a staff
pause while iamport runs the schedule, a refund racing sync and iamport's webhook, two syncs
resolving the same unknown outcomes, and charge-due racing sync and the webhook.
"""
from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pytest

from dashboard.billing import audit, charges, errors, intake, lifecycle, refunds, sync
from dashboard.extensions import db
from dashboard.models import CreditEntry, Payment, Refund, Schedule, Subscription, WebhookEvent
from tests.harness import DAY
from tests.reliability.world import Delivery, check_settled

pytestmark = pytest.mark.postgres

STAFF = audit.Actor("support@example.com", ip_address="127.0.0.1")


def in_threads(app, works: list) -> list:
    """Run each callable in its own thread and app context, started together; return results
    (or the exception each raised)."""
    barrier = threading.Barrier(len(works))

    def run(work):
        with app.app_context():
            barrier.wait()
            try:
                return work()
            except Exception as error:  # noqa: BLE001 - returned for the test to inspect
                db.session.rollback()
                return error
            finally:
                db.session.remove()

    with ThreadPoolExecutor(len(works)) as pool:
        return list(pool.map(run, works))


def start(world, uid: str = "cust_1", card: str = "5570-4200-0007-7221") -> int:
    world.issue_key(uid, card_number=card)
    return intake.start_subscription(uid, plan_code="basic").id


def assert_settled(world) -> None:
    world.settle()
    findings = check_settled(world)
    assert not findings, findings.problems


def credits(customer_id: int) -> list[tuple[str, int]]:
    db.session.expire_all()
    return [(c.reason, c.delta) for c in db.session.scalars(
        db.select(CreditEntry).where(CreditEntry.customer_id == customer_id)
        .order_by(CreditEntry.id))]


def post(world, body: bytes, content_type: str) -> int:
    """Send one webhook body to the dashboard (through the relay, which counts it)."""
    return world.relay.forward(Delivery(body, content_type))


def test_one_webhook_twenty_times_from_eight_senders(world):
    sub_id = start(world)
    world.relay.mode = "drop"
    world.advance(120)
    [merchant_uid] = world.run_due()
    payload = world.relay.dropped[-1].payload
    bodies = [(json.dumps(payload).encode(), "application/json"),
              (urlencode(payload).encode(), "application/x-www-form-urlencoded")]
    # Exactly 20 posts: four senders post three times, four post twice.
    shares = [3, 3, 3, 3, 2, 2, 2, 2]
    results = in_threads(world.app, [
        (lambda n=n, share=share: [post(world, *bodies[(n + i) % 2]) for i in range(share)])
        for n, share in enumerate(shares)
    ])
    statuses = [status for answer in results for status in answer]
    assert statuses == [200] * 20
    db.session.expire_all()
    events = db.session.scalars(db.select(WebhookEvent)).all()
    assert len(events) == 20 and {e.state for e in events} == {"processed"}
    sub = db.session.get(Subscription, sub_id)
    assert (sub.current_period, sub.failed_attempts) == (1, 0)
    assert db.session.scalars(db.select(Payment.status)).all() == ["paid"]
    live = db.session.scalars(db.select(Schedule.merchant_uid).where(
        Schedule.schedule_status == "scheduled")).all()
    assert live == [f"sub{sub_id}-p2-a1"]
    assert world.reader.get_schedule(live[0]).schedule_status == "scheduled"
    assert credits(sub.customer_id) == [("period_paid", 100)]
    assert [p.merchant_uid for p in world.remote_payments()] == [merchant_uid]
    assert_settled(world)


def test_the_same_manual_charge_form_submitted_twice_at_once(world):
    sub_id = start(world)
    customer_id = db.session.get(Subscription, sub_id).customer_id
    form = {"merchant_uid": charges.new_manual_merchant_uid(), "amount": 5000,
            "name": "추가 이용료", "reason": "phone order", "actor": STAFF}
    results = in_threads(world.app, [
        lambda: charges.manual_charge(customer_id, **form).merchant_uid for _ in range(2)])
    # One charges; the other returns the same record or says a charge is in flight.
    assert all(r == form["merchant_uid"] or isinstance(r, errors.ChargeInProgress)
               for r in results), results
    assert [p.merchant_uid for p in world.remote_payments()] == [form["merchant_uid"]]
    assert_settled(world)


def test_staff_pause_while_iamport_runs_the_schedule(world):
    sub_id = start(world)
    world.advance(60 * 60)  # the first charge is due at iamport
    results = in_threads(world.app, [
        lambda: lifecycle.pause_subscription(sub_id, actor=STAFF, reason="trip").status,
        world.run_due,
    ])
    assert not [r for r in results if isinstance(r, Exception)
                and not isinstance(r, errors.BillingError)], results
    assert_settled(world)
    db.session.expire_all()
    sub = db.session.get(Subscription, sub_id)
    charged = [p for p in world.remote_payments() if p.paid_at is not None]
    assert len(charged) <= 1 and sub.current_period == len(charged)
    if sub.status == "paused":
        # A paused subscription has nothing waiting at iamport.
        assert db.session.scalars(db.select(Schedule).where(
            Schedule.schedule_status == "scheduled")).all() == []
    world.advance(40 * DAY)
    world.run_due()
    assert len([p for p in world.remote_payments() if p.paid_at is not None]) == len(charged)


def test_refund_racing_sync_and_the_webhook(world):
    sub_id = start(world)
    world.relay.mode = "drop"  # the paid webhook is lost: sync and a resend race the refund
    world.advance(120)
    world.run_due()
    payload = world.relay.dropped[-1].payload
    paid = world.reader.get_payment(payload["imp_uid"])
    # Our row exists as iamport's webhook would have made it, without the period applied.
    sync.run_sync(days=1)
    payment_id = db.session.scalar(db.select(Payment.id))
    results = in_threads(world.app, [
        lambda: refunds.refund_payment(payment_id, amount=3000, reason="goodwill",
                                       actor=STAFF).status,
        lambda: sync.run_sync(days=1).errors,
        lambda: post(world, json.dumps(payload).encode(), "application/json"),
        lambda: refunds.refund_payment(payment_id, amount=9900, reason="all of it",
                                       actor=STAFF).status,
    ])
    assert not [r for r in results if isinstance(r, Exception)
                and not isinstance(r, errors.BillingError)], results
    assert_settled(world)
    remote = world.reader.get_payment(paid.imp_uid)
    assert remote.cancel_amount in (3000, 9900)  # one of the two refunds, never both
    # The payment's row lock refuses the other one here; iamport is asked once.
    assert len(world.calls("POST", "/payments/cancel")) == 1
    assert db.session.get(Payment, payment_id).cancel_amount == remote.cancel_amount
    assert db.session.get(Subscription, sub_id).current_period == 1


def test_two_syncs_resolve_the_same_unknown_outcomes_once(again_world):
    world = again_world
    ids = [start(world, f"cust_{n}") for n in range(3)]
    world.relay.mode = "drop"
    world.fault(r"^/subscribe/payments/again$", status=504, after_commit=True, count=3)
    assert len(charges.charge_due().unknown) == 3
    payment = db.session.scalar(db.select(Payment).order_by(Payment.id))
    world.fault(r"^/payments/cancel$", status=504, after_commit=True)
    # The first charge's answer is lost but it is paid at iamport; a refund of it is lost too.
    sync.run_sync(days=1)
    db.session.expire_all()
    with pytest.raises(errors.AnswerLost):
        refunds.refund_payment(payment.id, amount=2000, reason="goodwill", actor=STAFF)
    db.session.rollback()
    assert db.session.scalar(db.select(Refund.status)) == "pending"
    world.advance(int(sync.GRACE.total_seconds()) + 60)
    results = in_threads(world.app, [lambda: sync.run_sync(days=1).errors for _ in range(2)])
    assert not [r for r in results if isinstance(r, Exception)], results
    assert_settled(world)
    for sub_id in ids:
        sub = db.session.get(Subscription, sub_id)
        assert sub.current_period == 1
        assert credits(sub.customer_id) == [("period_paid", 100)]
    assert db.session.scalars(db.select(Refund.status)).all() == ["succeeded"]


def test_charge_due_racing_sync_and_webhooks(again_world):
    world = again_world
    ids = [start(world, f"cust_{n}") for n in range(6)]
    results = in_threads(world.app, [
        lambda: charges.charge_due().charged,
        lambda: charges.charge_due().charged,
        lambda: sync.run_sync(days=1).errors,
        world.run_due,  # iamport sends the paid webhooks while the runners charge
    ])
    assert not [r for r in results if isinstance(r, Exception)], results
    charged = results[0] + results[1]
    assert sorted(charged) == sorted(f"sub{i}-p1-a1" for i in ids)
    assert_settled(world)
    assert len(world.remote_payments()) == 6
