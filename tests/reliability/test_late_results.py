"""Staff acting on a period whose result has not reached us yet (the webhook is late).

iamport has already run the schedule and charged; its webhook is still on its way. What
staff do meanwhile must not charge the period again.
"""
from __future__ import annotations

from dashboard.billing import audit, charges, errors, intake, lifecycle, refunds
from dashboard.extensions import db
from dashboard.models import Payment, Subscription
from tests.harness import DAY
from tests.reliability.world import check_settled

STAFF = audit.Actor("support@example.com", ip_address="127.0.0.1")


def charged_while_webhook_held(world) -> int:
    """Start a subscription, let iamport charge its first period, and hold the webhook."""
    world.issue_key("cust_1")
    sub_id = intake.start_subscription("cust_1", plan_code="basic").id
    world.relay.mode = "hold"
    world.advance(120)
    assert world.run_due() == [f"sub{sub_id}-p1-a1"]
    assert db.session.get(Subscription, sub_id).current_period == 0  # we do not know yet
    return sub_id


def paid_periods_at_iamport(world) -> list[str]:
    return sorted(p.merchant_uid for p in world.remote_payments() if p.paid_at is not None)


def finish(world) -> None:
    world.relay.mode = "pass"
    world.relay.release()
    world.settle()
    findings = check_settled(world)
    assert not findings, findings.problems


def test_charge_now_while_the_paid_webhook_is_late_does_not_charge_again(world):
    sub_id = charged_while_webhook_held(world)
    try:
        charges.retry_period_now(sub_id, actor=STAFF, reason="customer says the card is new")
    except errors.BillingError:
        db.session.rollback()  # refusing is fine; charging again is not
    assert paid_periods_at_iamport(world) == [f"sub{sub_id}-p1-a1"]
    finish(world)


def test_pause_while_the_paid_webhook_is_late(world):
    sub_id = charged_while_webhook_held(world)
    lifecycle.pause_subscription(sub_id, actor=STAFF, reason="trip")
    finish(world)
    sub = db.session.get(Subscription, sub_id)
    assert (sub.status, sub.current_period) == ("paused", 1)
    world.advance(40 * DAY)
    world.run_due()
    assert paid_periods_at_iamport(world) == [f"sub{sub_id}-p1-a1"]


def test_cancel_now_while_the_paid_webhook_is_late(world):
    sub_id = charged_while_webhook_held(world)
    lifecycle.cancel_subscription(sub_id, actor=STAFF, reason="moving", at_period_end=False)
    finish(world)
    assert db.session.get(Subscription, sub_id).status == "cancelled"
    world.advance(40 * DAY)
    world.run_due()
    assert paid_periods_at_iamport(world) == [f"sub{sub_id}-p1-a1"]


def test_manual_charge_while_the_paid_webhook_is_late_is_a_separate_charge(world):
    sub_id = charged_while_webhook_held(world)
    customer_id = db.session.get(Subscription, sub_id).customer_id
    merchant_uid = charges.new_manual_merchant_uid()
    charges.manual_charge(customer_id, merchant_uid=merchant_uid, amount=2000, name="추가",
                          reason="phone order", actor=STAFF)
    finish(world)
    assert paid_periods_at_iamport(world) == sorted([f"sub{sub_id}-p1-a1", merchant_uid])
    payment = db.session.scalar(db.select(Payment).where(Payment.merchant_uid == merchant_uid))
    refunds.refund_payment(payment.id, amount=None, reason="wrong amount", actor=STAFF)
    finish(world)
