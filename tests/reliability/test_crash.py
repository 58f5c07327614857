"""A crash between iamport's answer and our commit: the money moved, our record did not.

The commit that would record a paid charge (or a settled refund) fails once, as if the
database connection dropped or the process died right there. The charge must then be found
and applied by a webhook or by ``sync``, and never made a second time: iamport shows exactly
one payment for that ``merchant_uid``.
"""
from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from dashboard.billing import audit, charges, errors, intake, refunds
from dashboard.extensions import db
from dashboard.models import CreditEntry, Payment, Refund, Schedule, Subscription, WebhookEvent
from tests.reliability.world import check_settled
from tests.webhook_queue import drain

STAFF = audit.Actor("support@example.com", ip_address="127.0.0.1")


class CommitCrash:
    """Make the next commit that writes a matching row fail, once."""

    def __init__(self, matches):
        self.matches = matches
        self.crashes = 0

    def after_flush(self, session, context):
        if any(self.matches(row) for row in (*session.new, *session.dirty)):
            session.info["crash_on_commit"] = True

    def before_commit(self, session):
        if session.info.pop("crash_on_commit", False) and self.crashes == 0:
            self.crashes += 1
            raise OperationalError("COMMIT", {}, ConnectionError("server closed the connection"))

    def forget(self, session, *args):
        session.info.pop("crash_on_commit", None)


@contextmanager
def crash_on_commit(matches):
    """Fail the first commit of a transaction that flushed a row ``matches`` accepts."""
    crash = CommitCrash(matches)
    hooks = [("after_flush", crash.after_flush), ("before_commit", crash.before_commit),
             ("after_soft_rollback", crash.forget)]
    for name, hook in hooks:
        event.listen(db.session, name, hook)
    try:
        yield crash
    finally:
        for name, hook in hooks:
            event.remove(db.session, name, hook)


def paid_payment(row) -> bool:
    return isinstance(row, Payment) and row.status == "paid"


def settled_refund(row) -> bool:
    return isinstance(row, Refund) and row.status == "succeeded"


def start(world, uid: str = "cust_1", card: str = "5570-4200-0007-7221") -> int:
    world.issue_key(uid, card_number=card)
    return intake.start_subscription(uid, plan_code="basic").id


def at_iamport(world, merchant_uid: str) -> list:
    return [p for p in world.remote_payments() if p.merchant_uid == merchant_uid]


def assert_settled(world) -> None:
    findings = check_settled(world)
    assert not findings, findings.problems


def credits(sub_id: int) -> list[tuple[str, int]]:
    customer_id = db.session.get(Subscription, sub_id).customer_id
    return [(c.reason, c.delta) for c in db.session.scalars(
        db.select(CreditEntry).where(CreditEntry.customer_id == customer_id)
        .order_by(CreditEntry.id))]


@pytest.mark.parametrize("webhook", ["lost", "delivered"])
def test_crash_after_an_again_charge_is_repaired_never_repeated(again_world, webhook):
    world = again_world
    sub_id = start(world)
    merchant_uid = f"sub{sub_id}-p1-a1"
    world.relay.mode = "drop" if webhook == "lost" else "pass"
    with crash_on_commit(paid_payment) as crash, pytest.raises(OperationalError):
        charges.charge_due()
    db.session.rollback()  # the runner died; its transaction is gone
    assert crash.crashes == 1
    assert db.session.scalar(db.select(Payment.status)) == "pending"
    # Another run finds the charge unresolved and leaves it alone.
    assert charges.charge_due().charged == []
    world.run_due()  # iamport sends its paid webhook (or it is lost on the way)
    world.settle()
    assert_settled(world)
    assert [p.status for p in at_iamport(world, merchant_uid)] == ["paid"]
    sub = db.session.get(Subscription, sub_id)
    assert (sub.current_period, sub.next_attempt_at) == (1, sub.current_period_end)
    assert credits(sub_id) == [("period_paid", 100)]
    assert charges.charge_due().charged == []


def test_crash_after_a_manual_charge_and_the_form_sent_again(world):
    sub_id = start(world)
    customer_id = db.session.get(Subscription, sub_id).customer_id
    merchant_uid = charges.new_manual_merchant_uid()
    form = {"merchant_uid": merchant_uid, "amount": 5000, "name": "추가 이용료",
            "reason": "phone order", "actor": STAFF}
    world.relay.mode = "drop"
    with crash_on_commit(paid_payment), pytest.raises(OperationalError):
        charges.manual_charge(customer_id, **form)
    db.session.rollback()
    # The staff member reloads and submits the same form: nothing is charged again.
    assert charges.manual_charge(customer_id, **form).status == "pending"
    world.settle()
    assert_settled(world)
    assert [p.status for p in at_iamport(world, merchant_uid)] == ["paid"]
    assert db.session.scalar(
        db.select(Payment.status).where(Payment.merchant_uid == merchant_uid)) == "paid"


def test_crash_while_applying_a_scheduled_charges_webhook(world):
    """The webhook's apply fails at commit: stored and answered 200, marked failed, retried by
    the queue, applied."""
    sub_id = start(world)
    with crash_on_commit(paid_payment):
        world.advance(120)
        [merchant_uid] = world.run_due()
    assert world.relay.answers == [200]
    assert db.session.scalars(db.select(WebhookEvent.state)).all() == ["failed"]
    world.advance(60)  # the queue's retry is due
    drain(world.app)
    db.session.expire_all()
    assert db.session.scalars(db.select(WebhookEvent.state)).all() == ["processed"]
    world.settle()
    assert_settled(world)
    assert [p.status for p in at_iamport(world, merchant_uid)] == ["paid"]
    assert db.session.get(Subscription, sub_id).current_period == 1
    assert credits(sub_id) == [("period_paid", 100)]


def test_crash_after_a_retried_schedule_charged(world):
    """Staff retry a declined schedule; iamport charges; our commit fails. No pending row was
    written first (iamport's retry reuses the schedule's merchant_uid), so sync must find it."""
    sub_id = start(world, card="5570-4200-0007-0002")
    world.advance(120)
    world.run_due()  # declined
    failed = db.session.scalar(db.select(Schedule).where(Schedule.payment_status == "failed"))
    world.issue_key("cust_1")  # a working card
    world.relay.mode = "drop"
    with crash_on_commit(paid_payment), pytest.raises(OperationalError):
        charges.retry_schedule_now(failed.id, actor=STAFF, reason="new card")
    db.session.rollback()
    # Pressing retry again cannot charge twice: iamport refuses the paid merchant_uid.
    with pytest.raises(errors.BillingError):
        charges.retry_schedule_now(failed.id, actor=STAFF, reason="again")
    db.session.rollback()
    world.settle()
    assert_settled(world)
    assert sorted(p.status for p in at_iamport(world, failed.merchant_uid)) == ["failed", "paid"]
    assert db.session.get(Subscription, sub_id).current_period == 1


def test_crash_after_a_refund_is_settled_by_sync_once(world):
    sub_id = start(world)
    world.advance(120)
    world.run_due()
    payment = db.session.scalar(db.select(Payment).where(Payment.subscription_id == sub_id))
    with crash_on_commit(settled_refund), pytest.raises(OperationalError):
        refunds.refund_payment(payment.id, amount=4000, reason="goodwill", actor=STAFF)
    db.session.rollback()
    assert db.session.scalar(db.select(Refund.status)) == "pending"
    with pytest.raises(errors.InvalidState):
        refunds.refund_payment(payment.id, amount=4000, reason="pressed again", actor=STAFF)
    db.session.rollback()
    world.settle()
    assert_settled(world)
    assert world.reader.get_payment(payment.imp_uid).cancel_amount == 4000
    assert db.session.scalars(db.select(Refund.status)).all() == ["succeeded"]
