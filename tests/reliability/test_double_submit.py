"""The same staff action sent twice in a row (a double click, a second tab, a reload).

A repeated money action must not move money a second time: the second one is refused or
returns the first one's result.
"""
from __future__ import annotations

import pytest

from dashboard.billing import audit, charges, errors, intake
from dashboard.extensions import db
from dashboard.models import Payment, Schedule, Subscription
from tests.reliability.world import check_settled

STAFF = audit.Actor("support@example.com", ip_address="127.0.0.1")


def declined_subscription(world) -> int:
    world.issue_key("cust_1", card_number="5570-4200-0007-0002")
    sub_id = intake.start_subscription("cust_1", plan_code="basic").id
    world.advance(120)
    world.run_due()  # the first charge is declined; a retry waits for tomorrow
    world.issue_key("cust_1")  # the customer gives a working card
    return sub_id


def paid_at_iamport(world) -> list[str]:
    return sorted(p.merchant_uid for p in world.remote_payments() if p.paid_at is not None)


def test_charge_now_twice_charges_the_unpaid_period_once(world):
    sub_id = declined_subscription(world)
    first = charges.retry_period_now(sub_id, actor=STAFF, reason="new card")
    assert first.status == "paid"
    with pytest.raises(errors.InvalidState):
        charges.retry_period_now(sub_id, actor=STAFF, reason="pressed twice")
    db.session.rollback()
    assert paid_at_iamport(world) == [first.merchant_uid]
    assert db.session.get(Subscription, sub_id).current_period == 1


def test_schedule_retry_twice_charges_once(world):
    sub_id = declined_subscription(world)
    failed = db.session.scalar(db.select(Schedule).where(Schedule.payment_status == "failed"))
    assert charges.retry_schedule_now(failed.id, actor=STAFF, reason="new card").status == "paid"
    with pytest.raises(errors.BillingError):
        charges.retry_schedule_now(failed.id, actor=STAFF, reason="pressed twice")
    db.session.rollback()
    assert paid_at_iamport(world) == [failed.merchant_uid]
    assert db.session.get(Subscription, sub_id).current_period == 1
    world.settle()
    findings = check_settled(world)
    assert not findings, findings.problems


def test_a_retry_failing_in_the_same_second_leaves_the_row_on_the_latest_attempt(world):
    world.issue_key("cust_1", card_number="5570-4200-0007-0002")
    intake.start_subscription("cust_1", plan_code="basic")
    world.advance(120)
    world.run_due()  # declined
    failed = db.session.scalar(db.select(Schedule).where(Schedule.payment_status == "failed"))
    retried = charges.retry_schedule_now(failed.id, actor=STAFF, reason="try again")
    assert retried.status == "failed"  # the same card, declined again, the same second
    world.settle()
    latest = world.reader.find_payment(failed.merchant_uid)
    row = db.session.scalar(db.select(Payment).where(Payment.merchant_uid == failed.merchant_uid))
    assert row.imp_uid == latest.imp_uid
