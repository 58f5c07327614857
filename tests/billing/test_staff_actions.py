"""Staff actions on subscriptions, schedules and customers, against the sandbox."""
from __future__ import annotations

from datetime import timedelta

import pytest

from dashboard.billing import audit, charges, customers, errors, intake, lifecycle, schedules, sync
from dashboard.extensions import db
from dashboard.models import AuditEntry, Customer, Plan, Schedule, Subscription
from tests.billing.harness import DAY, fresh, live_schedules_of, payments_of

STAFF = audit.Actor("agent@example.com", ip_address="10.1.2.3")


@pytest.fixture
def subscription(app, sandbox, plan):
    sandbox.issue_key("cust_1", customer_name="한지민", customer_tel="01055556666")
    sub_id = intake.start_subscription("cust_1", plan_code="basic").id
    sandbox.advance(120)
    sandbox.run_due()  # period 1 paid, period 2 scheduled
    return sub_id


def remote_status(sandbox, merchant_uid):
    return sandbox.client.get_schedule(merchant_uid).schedule_status


def actions() -> list[tuple[str, str, str | None]]:
    return [(a.action, a.actor_label, a.reason) for a in
            db.session.scalars(db.select(AuditEntry).where(AuditEntry.actor_label == STAFF.label)
                               .order_by(AuditEntry.id))]


def test_pause_revokes_and_resume_reschedules(app, sandbox, subscription):
    [waiting] = live_schedules_of(subscription)
    lifecycle.pause_subscription(subscription, actor=STAFF, reason="해외 출장")
    sub = fresh(Subscription, subscription)
    assert (sub.status, sub.next_attempt_at) == ("paused", None)
    assert remote_status(sandbox, waiting.merchant_uid) == "revoked"
    assert live_schedules_of(subscription) == []
    with pytest.raises(errors.InvalidState):
        lifecycle.pause_subscription(subscription, actor=STAFF, reason="again")

    lifecycle.resume_subscription(subscription, actor=STAFF)
    sub = fresh(Subscription, subscription)
    [renewed] = live_schedules_of(subscription)
    assert sub.status == "active" and renewed.period == 2 and renewed.attempt == 2
    assert renewed.schedule_at == sub.current_period_end
    assert remote_status(sandbox, renewed.merchant_uid) == "scheduled"
    assert actions() == [("subscription.pause", STAFF.label, "해외 출장"),
                         ("subscription.resume", STAFF.label, None)]


def test_cancel_at_period_end_then_reinstate(app, sandbox, subscription):
    [waiting] = live_schedules_of(subscription)
    lifecycle.cancel_subscription(subscription, actor=STAFF, reason="고객 요청",
                                  at_period_end=True)
    sub = fresh(Subscription, subscription)
    assert (sub.status, sub.cancel_at_period_end) == ("active", True)
    assert remote_status(sandbox, waiting.merchant_uid) == "revoked"
    lifecycle.reinstate_subscription(subscription, actor=STAFF, reason="마음을 바꿈")
    sub = fresh(Subscription, subscription)
    assert (sub.status, sub.cancel_at_period_end) == ("active", False)
    assert len(live_schedules_of(subscription)) == 1


def test_cancel_at_period_end_takes_effect_when_the_period_ends(app, sandbox, subscription):
    lifecycle.cancel_subscription(subscription, actor=STAFF, reason="x", at_period_end=True)
    sandbox.advance(32 * DAY)
    assert sandbox.run_due() == []  # nothing left to charge
    assert lifecycle.close_ended_subscriptions() == 1
    assert fresh(Subscription, subscription).status == "cancelled"
    assert [p.period for p in payments_of(subscription)] == [1]


def test_cancel_now(app, sandbox, subscription):
    lifecycle.cancel_subscription(subscription, actor=STAFF, reason="환불 후 해지",
                                  at_period_end=False)
    sub = fresh(Subscription, subscription)
    assert sub.status == "cancelled" and sub.cancelled_at is not None
    with pytest.raises(errors.InvalidState):
        lifecycle.cancel_subscription(subscription, actor=STAFF, reason="x", at_period_end=False)


def test_change_plan_from_the_next_period(app, sandbox, subscription):
    premium = Plan(code="premium", name="프리미엄", amount=19900, credits_per_period=300)
    db.session.add(premium)
    db.session.commit()
    lifecycle.change_plan(subscription, plan_id=premium.id, actor=STAFF)
    [renewed] = live_schedules_of(subscription)
    assert renewed.amount == 19900
    assert sandbox.client.get_schedule(renewed.merchant_uid).amount == 19900
    sub = fresh(Subscription, subscription)
    assert (sub.plan.code, sub.next_plan.code) == ("basic", "premium")
    sandbox.advance(32 * DAY)
    sandbox.run_due()
    sub = fresh(Subscription, subscription)
    assert (sub.plan.code, sub.next_plan_id, sub.current_period) == ("premium", None, 2)
    assert [p.amount for p in payments_of(subscription)] == [9900, 19900]
    with pytest.raises(errors.InvalidInput):
        lifecycle.change_plan(subscription, plan_id=premium.id, actor=STAFF)


def test_change_schedule_time(app, sandbox, subscription):
    [waiting] = live_schedules_of(subscription)
    later = waiting.schedule_at + timedelta(days=3)
    schedules.change_schedule_time(waiting.id, schedule_at=later, actor=STAFF, reason="급여일")
    assert fresh(Schedule, waiting.id).schedule_at == later
    assert sandbox.client.get_schedule(waiting.merchant_uid).schedule_at == later
    with pytest.raises(errors.ScheduleInPast):
        schedules.change_schedule_time(waiting.id, schedule_at=lifecycle.now(), actor=STAFF)


def test_revoke_then_reschedule_a_schedule(app, sandbox, subscription):
    [waiting] = live_schedules_of(subscription)
    schedules.revoke_schedule(waiting.id, actor=STAFF, reason="보류")
    assert remote_status(sandbox, waiting.merchant_uid) == "revoked"
    with pytest.raises(errors.InvalidState):
        schedules.revoke_schedule(waiting.id, actor=STAFF, reason="again")
    when = lifecycle.now() + timedelta(days=2)
    schedules.reschedule_failed(waiting.id, schedule_at=when, actor=STAFF)
    assert remote_status(sandbox, waiting.merchant_uid) == "scheduled"
    assert fresh(Schedule, waiting.id).schedule_status == "scheduled"


def test_retry_a_failed_schedule_now(app, sandbox, plan):
    sandbox.issue_key("cust_2", card_number="5570-4200-0007-0002")
    sub_id = intake.start_subscription("cust_2", plan_code="basic").id
    sandbox.advance(120)
    sandbox.run_due()
    failed = db.session.scalar(db.select(Schedule).where(Schedule.payment_status == "failed"))
    sandbox.control("PUT", "/customers/cust_2/behavior", outcome="approve")
    payment = charges.retry_schedule_now(failed.id, actor=STAFF, reason="카드 한도 복구")
    assert payment.status == "paid" and payment.merchant_uid == failed.merchant_uid
    sub = fresh(Subscription, sub_id)
    assert (sub.current_period, sub.failed_attempts) == (1, 0)
    # The dunning retry that was waiting for the same period is revoked.
    assert [s.period for s in live_schedules_of(sub_id)] == [2]
    superseded = db.session.scalar(
        db.select(AuditEntry).where(AuditEntry.action == "payment.superseded"))
    assert superseded.details["status"] == "failed"


def test_register_replace_and_delete_a_billing_key(app, sandbox, subscription):
    customer_id = fresh(Subscription, subscription).customer_id
    with pytest.raises(errors.InvalidInput):
        customers.register_billing_key(customer_id, card_number="1234", expiry="2030-01",
                                       birth="900101", pwd_2digit="12", actor=STAFF)
    customers.register_billing_key(customer_id, card_number="4518 4200 0003 1234",
                                   expiry="2031-06", birth="900101", pwd_2digit="12", actor=STAFF)
    customer = fresh(Customer, customer_id)
    assert customer.card_name == "신한카드" and customer.card_number.endswith("1234")
    entry = db.session.scalar(db.select(AuditEntry).where(
        AuditEntry.action == "customer.billing_key.replace"))
    assert "4518420000031234" not in str(entry.details) and "2031" not in str(entry.details)

    [waiting] = live_schedules_of(subscription)
    customers.delete_billing_key(customer_id, actor=STAFF, reason="고객 요청 카드 삭제")
    assert fresh(Customer, customer_id).billing_key_status == "deleted"
    assert remote_status(sandbox, waiting.merchant_uid) == "revoked"
    with pytest.raises(errors.InvalidState):
        customers.delete_billing_key(customer_id, actor=STAFF, reason="again")


def test_sync_one_customer(app, sandbox, subscription):
    customer_id = fresh(Subscription, subscription).customer_id
    summary = sync.sync_customer(customer_id, actor=STAFF)
    assert (summary.billing_key, summary.payments, summary.changed) == ("active", 1, 0)
    sandbox.client.delete_billing_key("cust_1")
    assert sync.sync_customer(customer_id, actor=STAFF).billing_key == "missing"
    assert fresh(Customer, customer_id).billing_key_status == "missing"


def test_manual_credit_adjustments(app, sandbox, subscription):
    from dashboard.models import credit_balance

    customer_id = fresh(Subscription, subscription).customer_id
    customers.adjust_credits(customer_id, delta=-30, reason="사용분 차감", actor=STAFF)
    customers.adjust_credits(customer_id, delta=5, reason="보상", actor=STAFF)
    assert credit_balance(customer_id) == 100 - 30 + 5
    with pytest.raises(errors.InvalidInput):
        customers.adjust_credits(customer_id, delta=0, reason="x", actor=STAFF)
    with pytest.raises(errors.InvalidInput):
        customers.adjust_credits(customer_id, delta=3, reason="", actor=STAFF)


def test_a_lost_retry_answer_leaves_the_charge_pending_until_sync(app, sandbox, plan):
    from dashboard.billing import charges, sync
    from dashboard.models import Payment

    sandbox.issue_key("cust_3", card_number="5570-4200-0007-0002")
    intake.start_subscription("cust_3", plan_code="basic")
    sandbox.advance(120)
    sandbox.run_due()
    failed = db.session.scalar(db.select(Schedule).where(Schedule.payment_status == "failed"))
    sandbox.control("PUT", "/customers/cust_3/behavior", outcome="approve")
    sandbox.fault(path="/retry$", status=504, count=1, after_commit=True)
    with pytest.raises(errors.AnswerLost):
        charges.retry_schedule_now(failed.id, actor=STAFF, reason="x")
    payment = db.session.scalar(
        db.select(Payment).where(Payment.merchant_uid == failed.merchant_uid))
    assert payment.status == "pending"
    with pytest.raises(errors.ChargeInProgress):
        charges.retry_period_now(failed.subscription_id, actor=STAFF, reason="again")
    sync.run_sync(days=1)
    assert fresh(Payment, payment.id).status == "paid"
    assert fresh(Subscription, failed.subscription_id).current_period == 1


def test_a_retry_that_never_reached_iamport_is_failed_again_by_sync(app, sandbox, plan):
    from dashboard.billing import sync
    from dashboard.models import Payment

    sandbox.issue_key("cust_4", card_number="5570-4200-0007-0002")
    intake.start_subscription("cust_4", plan_code="basic")
    sandbox.advance(120)
    sandbox.run_due()
    failed = db.session.scalar(db.select(Schedule).where(Schedule.payment_status == "failed"))
    sandbox.fault(path="/retry$", status=504, count=1)  # refused before it ran
    with pytest.raises(errors.AnswerLost):
        charges.retry_schedule_now(failed.id, actor=STAFF, reason="x")
    row = db.session.scalar(db.select(Payment).where(Payment.merchant_uid == failed.merchant_uid))
    sync.run_sync(days=1)  # within the grace period: still unknown
    assert fresh(Payment, row.id).status == "pending"
    sandbox.advance(600)
    sync.run_sync(days=1)
    assert fresh(Payment, row.id).status == "failed"
    assert len(sandbox.client.list_payments("paid").items) == 0


def test_a_pause_with_a_resume_date_resumes_itself(app, sandbox, subscription):
    from dashboard.billing import sync

    resume_at = lifecycle.now() + timedelta(days=45)
    lifecycle.pause_subscription(subscription, actor=STAFF, reason="한 달 쉬기",
                                 resume_at=resume_at)
    sandbox.advance(10 * DAY)
    sync.run_sync(days=1)
    assert fresh(Subscription, subscription).status == "paused"  # not yet

    sandbox.advance(36 * DAY)
    sync.run_sync(days=1)
    sub = fresh(Subscription, subscription)
    assert (sub.status, sub.resume_at) == ("active", None)
    [waiting] = live_schedules_of(subscription)
    assert waiting.period == 2 and waiting.registered_at is not None
    assert remote_status(sandbox, waiting.merchant_uid) == "scheduled"
    sandbox.advance(600)
    sandbox.run_due()
    assert fresh(Subscription, subscription).current_period == 2
    resumed = db.session.scalar(db.select(AuditEntry).where(
        AuditEntry.action == "subscription.resume"))
    assert (resumed.actor_label, resumed.reason) == ("system", "resume date reached")


def test_charge_due_resumes_and_charges_in_again_mode(app, sandbox, plan):
    from dashboard.billing import charges

    app.config["BILLING_MODE"] = "again"
    sandbox.issue_key("cust_9")
    sub_id = intake.start_subscription("cust_9", plan_code="basic").id
    assert charges.charge_due().charged == [f"sub{sub_id}-p1-a1"]
    lifecycle.pause_subscription(sub_id, actor=STAFF, reason="x",
                                 resume_at=lifecycle.now() + timedelta(days=40))
    sandbox.advance(35 * DAY)
    assert charges.charge_due().charged == []  # paused through its due date
    sandbox.advance(6 * DAY)
    assert charges.charge_due().charged == []  # resumed now; the next charge in 5 minutes
    assert fresh(Subscription, sub_id).status == "active"
    sandbox.advance(600)
    assert charges.charge_due().charged == [f"sub{sub_id}-p2-a1"]
