"""Database constraints that keep the money rules even when code gets them wrong."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import IntegrityError

from dashboard.extensions import db
from dashboard.models import (
    CreditEntry,
    Customer,
    Payment,
    Plan,
    Schedule,
    Subscription,
    credit_balance,
)

KST = timezone(timedelta(hours=9))


@pytest.fixture
def subscription(app):
    with app.app_context():
        plan = Plan(code="basic", name="베이직", amount=9900)
        customer = Customer(customer_uid="cust_1", name="김민준", phone="01012345678")
        sub = Subscription(customer=customer, plan=plan)
        db.session.add(sub)
        db.session.commit()
        return sub.id, customer.id


def add_and_commit(*rows):
    db.session.add_all(rows)
    db.session.commit()


def refused(*rows):
    """Return whether the database refuses to store ``rows``."""
    try:
        add_and_commit(*rows)
    except IntegrityError:
        db.session.rollback()
        return True
    return False


def test_customer_uid_is_unique(app):
    with app.app_context():
        add_and_commit(Customer(customer_uid="cust_1"))
        assert refused(Customer(customer_uid="cust_1"))


def test_payment_merchant_uid_is_unique(app, subscription):
    with app.app_context():
        add_and_commit(Payment(merchant_uid="sub1-p1-a1", amount=9900))
        assert refused(Payment(merchant_uid="sub1-p1-a1", amount=9900))


def test_payment_imp_uid_is_unique_but_may_be_unknown(app):
    with app.app_context():
        # Two pending charges have no imp_uid yet; that is allowed.
        add_and_commit(
            Payment(merchant_uid="m1", amount=100), Payment(merchant_uid="m2", amount=100)
        )
        add_and_commit(Payment(merchant_uid="m3", imp_uid="imp_000000000001", amount=100))
        assert refused(Payment(merchant_uid="m4", imp_uid="imp_000000000001", amount=100))


def test_refund_beyond_the_amount_is_refused(app):
    with app.app_context():
        payment = Payment(merchant_uid="m1", amount=9900, status="paid")
        add_and_commit(payment)
        payment.cancel_amount = 9901
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
        payment.cancel_amount = 9900
        db.session.commit()
        assert db.session.get(Payment, payment.id).cancel_amount == 9900


@pytest.mark.parametrize(
    "row",
    [
        Payment(merchant_uid="neg", amount=-1),
        Payment(merchant_uid="negc", amount=100, cancel_amount=-1),
        Payment(merchant_uid="state", amount=100, status="refunded"),
        Payment(merchant_uid="origin", amount=100, origin="magic"),
        Plan(code="free", name="free", amount=0),
        Plan(code="bad", name="bad", amount=100, interval_unit="week"),
    ],
    ids=lambda row: type(row).__name__,
)
def test_check_constraints(app, row):
    with app.app_context():
        assert refused(row)


def test_schedule_merchant_uid_is_unique(app, subscription):
    _sub_id, customer_id = subscription
    at = datetime(2026, 12, 1, tzinfo=KST)
    with app.app_context():
        add_and_commit(Schedule(merchant_uid="s1", customer_id=customer_id, schedule_at=at,
                                amount=9900))
        assert refused(Schedule(merchant_uid="s1", customer_id=customer_id, schedule_at=at,
                                amount=9900))


def test_one_live_schedule_per_subscription_period(app, subscription):
    sub_id, customer_id = subscription
    at = datetime(2026, 12, 1, tzinfo=KST)

    def schedule(uid, status="scheduled"):
        return Schedule(merchant_uid=uid, customer_id=customer_id, subscription_id=sub_id,
                        period=2, schedule_at=at, amount=9900, schedule_status=status)

    with app.app_context():
        add_and_commit(schedule("p2-a1"))
        assert refused(schedule("p2-a1-dup"))
        # Once the first is executed (or revoked), the retry for the same period may live.
        first = db.session.scalar(db.select(Schedule).where(Schedule.merchant_uid == "p2-a1"))
        first.schedule_status = "executed"
        first.payment_status = "failed"
        db.session.commit()
        add_and_commit(schedule("p2-a2"))
        add_and_commit(schedule("p2-a0", status="revoked"))


def test_times_come_back_aware_in_utc(app, subscription):
    _sub_id, customer_id = subscription
    at = datetime(2026, 12, 1, 10, 0, tzinfo=KST)
    with app.app_context():
        add_and_commit(Schedule(merchant_uid="s1", customer_id=customer_id, schedule_at=at,
                                amount=1))
        db.session.expire_all()
        stored = db.session.scalar(db.select(Schedule.schedule_at))
        assert stored == at
        assert stored.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(app, subscription):
    _sub_id, customer_id = subscription
    with app.app_context():
        db.session.add(Schedule(merchant_uid="s1", customer_id=customer_id,
                                schedule_at=datetime(2026, 12, 1), amount=1))
        with pytest.raises(Exception, match="naive datetimes"):
            db.session.commit()
        db.session.rollback()


def test_credits_are_granted_once_per_payment_and_balance_is_the_sum(app, subscription):
    _sub_id, customer_id = subscription
    with app.app_context():
        payment = Payment(merchant_uid="m1", amount=9900, status="paid", customer_id=customer_id)
        add_and_commit(payment)
        add_and_commit(CreditEntry(customer_id=customer_id, delta=100, reason="period_paid",
                                   payment_id=payment.id))
        assert refused(CreditEntry(customer_id=customer_id, delta=100, reason="period_paid",
                                   payment_id=payment.id))
        add_and_commit(
            CreditEntry(customer_id=customer_id, delta=-100, reason="refund_reversal",
                        payment_id=payment.id),
            CreditEntry(customer_id=customer_id, delta=5, reason="manual", note="goodwill"),
            CreditEntry(customer_id=customer_id, delta=5, reason="manual", note="again"),
        )
        assert credit_balance(customer_id) == 10
