"""Refunds: never more than was paid, checksum sent, lost answers left pending."""
from __future__ import annotations

import pytest

from dashboard.billing import audit, errors, intake, refunds, sync
from dashboard.extensions import db
from dashboard.models import AuditEntry, Payment, Refund
from tests.billing.harness import credits_of, fresh

STAFF = audit.Actor("support@example.com", user_id=None, ip_address="127.0.0.1")


@pytest.fixture
def paid(app, sandbox, plan):
    sandbox.issue_key("cust_1")
    intake.start_subscription("cust_1", plan_code="basic")
    sandbox.advance(120)
    sandbox.run_due()
    return db.session.scalar(db.select(Payment).where(Payment.status == "paid")).id


def test_partial_then_full_refund(app, sandbox, paid):
    first = refunds.refund_payment(paid, amount=3000, reason="duplicate charge", actor=STAFF)
    assert (first.status, first.amount, first.checksum) == ("succeeded", 3000, 9900)
    payment = fresh(Payment, paid)
    assert (payment.cancel_amount, payment.refundable_amount) == (3000, 6900)
    remote = sandbox.client.get_payment(payment.imp_uid)
    assert remote.cancel_amount == 3000 and len(remote.cancel_history) == 1
    assert first.cancellation_id == remote.cancel_history[0].cancellation_id

    rest = refunds.refund_payment(paid, amount=None, reason="cancel service", actor=STAFF)
    assert rest.amount == 6900
    payment = fresh(Payment, paid)
    assert (payment.status, payment.cancel_amount) == ("cancelled", 9900)
    # A full refund reverses the period's credits once.
    assert credits_of(payment.customer_id) == [("period_paid", 100), ("refund_reversal", -100)]
    actions = db.session.scalars(
        db.select(AuditEntry).where(AuditEntry.action == "payment.refund")).all()
    assert [(a.outcome, a.details["amount"], a.reason) for a in actions] == [
        ("ok", 3000, "duplicate charge"), ("ok", 6900, "cancel service")]


@pytest.mark.parametrize("amount", [9901, 0, -5])
def test_refund_beyond_the_balance_or_not_positive_is_refused(app, sandbox, paid, amount):
    with pytest.raises((errors.NotRefundable, errors.InvalidInput)):
        refunds.refund_payment(paid, amount=amount, reason="x", actor=STAFF)
    assert db.session.scalar(db.select(db.func.count(Refund.id))) == 0
    assert sandbox.client.get_payment(fresh(Payment, paid).imp_uid).cancel_amount == 0


def test_fully_refunded_payment_is_not_refundable(app, sandbox, paid):
    refunds.refund_payment(paid, amount=None, reason="x", actor=STAFF)
    with pytest.raises(errors.NotRefundable, match="fully refunded"):
        refunds.refund_payment(paid, amount=1, reason="again", actor=STAFF)


def test_a_refund_made_elsewhere_makes_our_checksum_stale(app, sandbox, paid):
    """Someone refunded in PortOne's console; our balance is stale, iamport refuses."""
    sandbox.client.cancel_payment(imp_uid=fresh(Payment, paid).imp_uid, amount=5000,
                                  reason="console")
    with pytest.raises(errors.IamportRefused):
        refunds.refund_payment(paid, amount=9900, reason="x", actor=STAFF)
    assert db.session.scalar(db.select(Refund.status)) == "rejected"
    assert sandbox.client.get_payment(fresh(Payment, paid).imp_uid).cancel_amount == 5000
    # After a sync the console refund is on record and the true balance can be refunded.
    sync.run_sync(days=1)
    assert fresh(Payment, paid).cancel_amount == 5000
    done = refunds.refund_payment(paid, amount=None, reason="rest", actor=STAFF)
    assert done.amount == 4900


def test_a_lost_refund_answer_stays_pending_and_sync_settles_it(app, sandbox, paid):
    sandbox.fault(path="^/payments/cancel", status=504, count=1, after_commit=True)
    with pytest.raises(errors.AnswerLost):
        refunds.refund_payment(paid, amount=2000, reason="x", actor=STAFF)
    assert db.session.scalar(db.select(Refund.status)) == "pending"
    with pytest.raises(errors.InvalidState, match="unknown outcome"):
        refunds.refund_payment(paid, amount=1000, reason="again", actor=STAFF)
    summary = sync.run_sync(days=1)
    assert summary.resolved >= 1
    refund = db.session.scalar(db.select(Refund))
    assert (refund.status, refund.amount) == ("succeeded", 2000)
    assert db.session.scalar(db.select(db.func.count(Refund.id))) == 1
    assert fresh(Payment, paid).cancel_amount == 2000


def test_a_refund_that_never_reached_iamport_is_rejected_after_grace(app, sandbox, paid):
    sandbox.fault(path="^/payments/cancel", status=502, count=1)
    with pytest.raises(errors.AnswerLost):
        refunds.refund_payment(paid, amount=2000, reason="x", actor=STAFF)
    sandbox.advance(600)
    sync.run_sync(days=1)
    assert db.session.scalar(db.select(Refund.status)) == "rejected"
    assert fresh(Payment, paid).cancel_amount == 0
    assert refunds.refund_payment(paid, amount=2000, reason="x", actor=STAFF).status == "succeeded"


def test_the_same_refund_form_submitted_twice_refunds_once(app, sandbox, paid):
    key = refunds.new_refund_key()
    first = refunds.refund_payment(paid, amount=2000, reason="x", actor=STAFF, request_key=key)
    again = refunds.refund_payment(paid, amount=2000, reason="x", actor=STAFF, request_key=key)
    assert again.id == first.id
    assert fresh(Payment, paid).cancel_amount == 2000
    assert sandbox.client.get_payment(fresh(Payment, paid).imp_uid).cancel_amount == 2000
    # A new form (a new key) is a new refund.
    refunds.refund_payment(paid, amount=1000, reason="y", actor=STAFF,
                           request_key=refunds.new_refund_key())
    assert fresh(Payment, paid).cancel_amount == 3000
