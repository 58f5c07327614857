"""Races on a real PostgreSQL server: row locks and unique keys keep each effect single."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from sqlalchemy import event, text

from dashboard.billing import audit, charges, errors, intake, refunds, sync
from dashboard.extensions import db
from dashboard.models import Payment, Refund, Subscription
from tests.billing.harness import credits_of, fresh, live_schedules_of, payments_of, post_webhook

pytestmark = pytest.mark.postgres


def in_threads(app, count: int, work) -> list:
    """Run ``work(n)`` in ``count`` threads, each with its own app context, started together."""
    barrier = threading.Barrier(count)

    def run(n):
        with app.app_context():
            barrier.wait()
            try:
                return work(n)
            except Exception as error:  # noqa: BLE001 - returned for the test to inspect
                db.session.rollback()
                return error
            finally:
                db.session.remove()

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_one_webhook_from_eight_senders_twenty_times(app, sandbox, plan):
    sandbox.issue_key("cust_1")
    sub_id = intake.start_subscription("cust_1", plan_code="basic").id
    sandbox.lose_webhooks()
    sandbox.advance(120)
    sandbox.run_due()
    body = sandbox.webhooks()[-1]["payload"]

    def send(n):
        return [post_webhook(app, body, form=bool(i % 2)).status_code for i in range(20 // 8 + 1)]

    answers = in_threads(app, 8, send)
    assert all(status == 200 for statuses in answers for status in statuses)
    sub = fresh(Subscription, sub_id)
    assert (sub.current_period, sub.failed_attempts) == (1, 0)
    assert [p.status for p in payments_of(sub_id)] == ["paid"]
    assert [s.period for s in live_schedules_of(sub_id)] == [2]
    assert credits_of(sub.customer_id) == [("period_paid", 100)]
    # iamport holds exactly one schedule for period 2.
    remote = sandbox.client.list_customer_schedules(
        "cust_1", schedule_from=sub.current_period_start, schedule_to=sub.current_period_end
        + (sub.current_period_end - sub.current_period_start), schedule_status="scheduled")
    assert [s.merchant_uid for s in remote.items] == [f"sub{sub_id}-p2-a1"]


def test_two_charge_due_runners_charge_each_subscription_once(app, sandbox, plan):
    app.config["BILLING_MODE"] = "again"
    ids = []
    for n in range(10):
        sandbox.issue_key(f"cust_{n}")
        ids.append(intake.start_subscription(f"cust_{n}", plan_code="basic").id)
    results = in_threads(app, 2, lambda n: charges.charge_due())
    charged = [uid for summary in results for uid in summary.charged]
    assert sorted(charged) == sorted(f"sub{i}-p1-a1" for i in ids)
    assert len(sandbox.client.list_payments("paid", limit=100).items) == 10
    for sub_id in ids:
        assert [p.status for p in payments_of(sub_id)] == ["paid"]


@contextmanager
def together_at_refund_insert(count: int = 2, patience: float = 10.0):
    """Hold each refund INSERT until ``count`` sessions reach it or another one of this
    database's sessions waits for a row lock, so two refunds check the balance side by side
    whenever nothing makes one of them wait.

    Without the wait, whether the second refund reads the first one's pending row depends on
    thread timing, and a missing lock could go unnoticed."""
    arrived = threading.Condition()
    reached = []

    def someone_waits_for_a_lock() -> bool:
        with db.engine.connect() as probe:
            return bool(probe.scalar(text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'")))

    def hold(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith("INSERT INTO REFUND "):
            return
        give_up = time.monotonic() + patience
        with arrived:
            reached.append(threading.get_ident())
            arrived.notify_all()
            while len(reached) < count and time.monotonic() < give_up:
                if someone_waits_for_a_lock():
                    return
                arrived.wait(0.05)

    event.listen(db.engine, "before_cursor_execute", hold)
    try:
        yield
    finally:
        event.remove(db.engine, "before_cursor_execute", hold)


def test_two_staff_refunding_the_same_payment_at_once(app, sandbox, plan):
    """The payment's row lock lets one refund through to iamport; the other is refused here.

    iamport's checksum would also refuse a second refund sent with a stale balance, so what
    the lock adds is that the second refund is never sent: it waits, then sees the first one
    pending (or the balance left) and is refused before calling iamport."""
    sandbox.issue_key("cust_1")
    intake.start_subscription("cust_1", plan_code="basic")
    sandbox.advance(120)
    sandbox.run_due()
    payment_id = db.session.scalar(db.select(Payment.id).where(Payment.status == "paid"))
    staff = audit.Actor("agent@example.com")

    with together_at_refund_insert():
        results = in_threads(
            app, 2, lambda n: refunds.refund_payment(payment_id, amount=6000,
                                                     reason=f"agent {n}", actor=staff).amount
        )
    succeeded = [r for r in results if r == 6000]
    refused_here = [r for r in results
                    if isinstance(r, errors.InvalidState | errors.NotRefundable)]
    assert len(succeeded) == 1 and len(refused_here) == 1, results
    # iamport was asked once: the second refund never left the dashboard.
    assert len(sandbox.calls("POST", "/payments/cancel")) == 1
    assert db.session.execute(db.select(Refund.amount, Refund.status)).all() \
        == [(6000, "succeeded")]
    payment = fresh(Payment, payment_id)
    assert payment.cancel_amount == 6000
    assert sandbox.client.get_payment(payment.imp_uid).cancel_amount == 6000


def test_webhook_and_sync_on_the_same_payment_at_once(app, sandbox, plan):
    sandbox.issue_key("cust_1")
    sub_id = intake.start_subscription("cust_1", plan_code="basic").id
    sandbox.lose_webhooks()
    sandbox.advance(120)
    sandbox.run_due()
    body = sandbox.webhooks()[-1]["payload"]

    def work(n):
        if n % 2:
            return post_webhook(app, body).status_code
        return sync.run_sync(days=1).errors

    results = in_threads(app, 4, work)
    assert [r for r in results if isinstance(r, Exception)] == []
    sub = fresh(Subscription, sub_id)
    assert sub.current_period == 1
    assert [s.period for s in live_schedules_of(sub_id)] == [2]
    assert credits_of(sub.customer_id) == [("period_paid", 100)]


def test_a_refused_action_releases_its_row_lock(app, sandbox, plan):
    """A billing function that says no rolls back, so its FOR UPDATE lock is gone at once."""
    sandbox.issue_key("cust_1", card_number="5570-4200-0007-0002")
    sub_id = intake.start_subscription("cust_1", plan_code="basic").id
    sandbox.advance(120)
    sandbox.run_due()
    sandbox.fault(path="^/subscribe/payments/again", status=504, count=1, after_commit=True)
    staff = audit.Actor("agent@example.com")
    with pytest.raises(errors.AnswerLost):
        charges.retry_period_now(sub_id, actor=staff, reason="new card")
    with pytest.raises(errors.ChargeInProgress):  # refused after locking the subscription
        charges.retry_period_now(sub_id, actor=staff, reason="pressed again")

    def lock_elsewhere(n):
        db.session.execute(text("SET LOCAL lock_timeout = '1s'"))
        return db.session.execute(
            db.select(Subscription.id).where(Subscription.id == sub_id).with_for_update(nowait=True)
        ).scalar_one()

    assert in_threads(app, 1, lock_elsewhere) == [sub_id]
