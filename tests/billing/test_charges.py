"""Again mode, retries and manual charges: charged once, unknown outcomes left pending."""
from __future__ import annotations

import pytest

from dashboard.billing import audit, charges, errors, intake, sync
from dashboard.extensions import db
from dashboard.models import Payment, Subscription
from tests.billing.harness import DAY, fresh, live_schedules_of, payments_of

STAFF = audit.Actor("support@example.com")


@pytest.fixture
def again_mode(app):
    app.config["BILLING_MODE"] = "again"


def start(sandbox, uid="cust_1", card="5570-4200-0007-7221"):
    sandbox.issue_key(uid, card_number=card)
    return intake.start_subscription(uid, plan_code="basic").id


def test_charge_due_charges_each_due_subscription_once(app, sandbox, plan, again_mode):
    first, second = start(sandbox, "cust_1"), start(sandbox, "cust_2")
    summary = charges.charge_due()
    assert sorted(summary.charged) == [f"sub{first}-p1-a1", f"sub{second}-p1-a1"]
    assert charges.charge_due().charged == []  # nothing is due twice
    for sub_id in (first, second):
        sub = fresh(Subscription, sub_id)
        assert (sub.current_period, sub.next_attempt_at) == (1, sub.current_period_end)
        assert live_schedules_of(sub_id) == []  # again mode registers no schedules
    sandbox.advance(31 * DAY)
    assert len(charges.charge_due().charged) == 2
    assert [p.period for p in payments_of(first)] == [1, 2]


def test_again_decline_follows_dunning(app, sandbox, plan, again_mode):
    sub_id = start(sandbox, card="5570-4200-0007-0002")
    assert charges.charge_due().declined == [f"sub{sub_id}-p1-a1"]
    sub = fresh(Subscription, sub_id)
    assert sub.failed_attempts == 1 and sub.next_attempt_at is not None
    assert charges.charge_due().declined == []  # the retry is due tomorrow
    sandbox.advance(DAY + 60)
    assert charges.charge_due().declined == [f"sub{sub_id}-p1-a2"]


def test_a_lost_answer_leaves_the_charge_pending_until_sync(app, sandbox, plan, again_mode):
    sub_id = start(sandbox)
    sandbox.fault(path="^/subscribe/payments/again", status=504, count=1, after_commit=True)
    summary = charges.charge_due()
    assert summary.unknown == [f"sub{sub_id}-p1-a1"]
    [pending] = payments_of(sub_id)
    assert pending.status == "pending"
    # Neither another run nor a staff re-charge may charge while the outcome is unknown.
    assert charges.charge_due().charged == []
    with pytest.raises(errors.ChargeInProgress):
        charges.retry_period_now(sub_id, actor=STAFF, reason="customer asked")
    with pytest.raises(errors.ChargeInProgress):
        charges.manual_charge(fresh(Subscription, sub_id).customer_id,
                              merchant_uid=charges.new_manual_merchant_uid(), amount=1000,
                              name="수동", reason="test", actor=STAFF)
    result = sync.run_sync(days=1)
    assert result.resolved == 1
    [paid] = payments_of(sub_id)
    assert (paid.status, paid.imp_uid is not None) == ("paid", True)
    assert fresh(Subscription, sub_id).current_period == 1
    # iamport saw exactly one charge.
    assert len(sandbox.client.list_payments("all").items) == 1


def test_a_timeout_before_the_charge_is_resolved_as_not_charged(app, sandbox, plan, again_mode):
    sub_id = start(sandbox)
    sandbox.fault(path="^/subscribe/payments/again", status=502, count=1)
    assert charges.charge_due().unknown == [f"sub{sub_id}-p1-a1"]
    sandbox.advance(300)  # past the grace period
    sync.run_sync(days=1)
    [lost] = payments_of(sub_id)
    assert lost.status == "failed" and "not charged" in lost.fail_reason
    sub = fresh(Subscription, sub_id)
    assert sub.failed_attempts == 0  # not the card's fault: no dunning step
    sandbox.advance(15 * 60)
    assert charges.charge_due().charged == [f"sub{sub_id}-p1-a2"]
    assert len(sandbox.client.list_payments("paid").items) == 1


def test_manual_charge_is_idempotent_per_form(app, sandbox, plan):
    sub_id = start(sandbox)
    customer_id = fresh(Subscription, sub_id).customer_id
    merchant_uid = charges.new_manual_merchant_uid()
    first = charges.manual_charge(customer_id, merchant_uid=merchant_uid, amount=3300,
                                  name="추가 이용료", reason="phone order", actor=STAFF)
    again = charges.manual_charge(customer_id, merchant_uid=merchant_uid, amount=3300,
                                  name="추가 이용료", reason="phone order", actor=STAFF)
    assert first.id == again.id and first.status == "paid" and first.origin == "manual"
    assert len(sandbox.client.list_payments("paid").items) == 1
    assert fresh(Subscription, sub_id).current_period == 0  # a manual charge pays no period


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"amount": 0}, errors.InvalidInput),
        ({"name": ""}, errors.InvalidInput),
        ({"name": "x" * 41}, errors.InvalidInput),
        ({"reason": " "}, errors.InvalidInput),
        ({"merchant_uid": "sub1-p1-a1"}, errors.InvalidInput),
    ],
)
def test_manual_charge_validation(app, sandbox, plan, kwargs, error):
    sub_id = start(sandbox)
    options = {"merchant_uid": charges.new_manual_merchant_uid(), "amount": 1000, "name": "수동",
                   "reason": "why", "actor": STAFF}
    with pytest.raises(error):
        charges.manual_charge(fresh(Subscription, sub_id).customer_id, **{**options, **kwargs})
    assert db.session.scalar(db.select(db.func.count(Payment.id))) == 0


def test_retry_now_revokes_the_waiting_retry_schedule(app, sandbox, plan):
    sub_id = start(sandbox, card="5570-4200-0007-0002")
    sandbox.advance(120)
    sandbox.run_due()
    [retry] = live_schedules_of(sub_id)
    assert retry.attempt == 2
    # The customer gives a new card; staff charge now instead of waiting for tomorrow.
    sandbox.issue_key("cust_1", card_number="5570-4200-0007-7221")
    payment = charges.retry_period_now(sub_id, actor=STAFF, reason="new card")
    assert payment.status == "paid" and payment.attempt == 3
    assert sandbox.client.get_schedule(retry.merchant_uid).schedule_status == "revoked"
    sub = fresh(Subscription, sub_id)
    assert (sub.current_period, sub.failed_attempts) == (1, 0)
    [next_period] = live_schedules_of(sub_id)
    assert next_period.period == 2
