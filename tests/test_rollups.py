"""Rollups: always equal to a recount of the raw rows, counted once per change, never lost.

The hypothesis test drives real billing (both modes) through the sandbox: charges that are
paid or declined, retries, partial and full refunds, manual charges, pauses, cancellations,
plan changes and deleted billing keys, with the clock moving across days; after every step the
stored rollups, and the overview's attention list, equal a recount. It runs on SQLite, and on
PostgreSQL with ``TEST_DATABASE_URL``.
"""
from __future__ import annotations

import contextlib
import threading
import warnings
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert

from dashboard import attention, create_app, formatting, queries, rollups
from dashboard.billing import audit, charges, customers, errors, intake, lifecycle, refunds, sync
from dashboard.billing.results import apply_payment_result
from dashboard.extensions import db
from dashboard.models import (
    Customer,
    DayRollup,
    Payment,
    Plan,
    PlanRollup,
    Subscription,
)
from dashboard.models.rollups import CustomerSubscriptionRollup
from tests.conftest import empty_all_tables
from tests.harness import DAY
from tests.reliability.world import add_plan, build_world

# A failing property imports hypothesis's patch writer, whose DeprecationWarning would hide
# the falsifying example under ``filterwarnings = error`` (as in tests/reliability/conftest.py).
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    with contextlib.suppress(ImportError):
        import hypothesis.extra._patching  # noqa: F401

STAFF = audit.Actor("support@example.com", ip_address="127.0.0.1")
CUSTOMERS = ("cust_0", "cust_1", "cust_2")
DECLINING = "5570-4200-0007-0002"
WORKING = "5570-4200-0007-7221"


def assert_rollups_equal_recount() -> None:
    db.session.expire_all()
    stored, recounted = rollups.stored(), rollups.recount()
    assert stored == recounted, {
        key: (stored.get(key, 0), recounted.get(key, 0))
        for key in set(stored) | set(recounted) if stored.get(key, 0) != recounted.get(key, 0)
    }


def assert_attention_list_equals_recount() -> None:
    db.session.expire_all()
    assert attention.stored() == attention.recount()


step = st.one_of(
    st.tuples(st.just("advance"), st.sampled_from([3600, DAY, DAY + 7200, 3 * DAY, 31 * DAY])),
    st.tuples(st.just("card"), st.sampled_from(CUSTOMERS), st.booleans()),
    st.tuples(st.just("refund"), st.integers(0, 20), st.sampled_from([None, 1000, 4000])),
    st.tuples(st.just("manual"), st.sampled_from(CUSTOMERS), st.sampled_from([5000, 20000])),
    st.tuples(st.just("charge_now"), st.integers(0, 5)),
    st.tuples(st.just("pause"), st.integers(0, 5)),
    st.tuples(st.just("resume"), st.integers(0, 5)),
    st.tuples(st.just("cancel"), st.integers(0, 5)),
    st.tuples(st.just("reinstate"), st.integers(0, 5)),
    st.tuples(st.just("change_plan"), st.integers(0, 5)),
    st.tuples(st.just("delete_key"), st.sampled_from(CUSTOMERS)),
)


def run_step(world, action, *args) -> None:
    subscriptions = db.session.scalars(db.select(Subscription.id).order_by(Subscription.id)).all()

    def pick(index):
        return subscriptions[index % len(subscriptions)] if subscriptions else None

    try:
        if action == "advance":
            world.advance(args[0])
            world.run_due()
            if world.app.config["BILLING_MODE"] == "again":
                charges.charge_due()
        elif action == "card":
            world.issue_key(args[0], card_number=DECLINING if args[1] else WORKING)
        elif action == "refund":
            paid = db.session.scalars(db.select(Payment.id).where(
                Payment.status == "paid").order_by(Payment.id)).all()
            if paid:
                refunds.refund_payment(paid[args[0] % len(paid)], amount=args[1],
                                       reason="test", actor=STAFF)
        elif action == "manual":
            customer = db.session.scalar(db.select(Customer.id).where(
                Customer.customer_uid == args[0]))
            charges.manual_charge(customer, merchant_uid=f"manual-{world.now():%H%M%S%f}",
                                  amount=args[1], name="추가", reason="test", actor=STAFF)
        elif action == "charge_now" and pick(args[0]):
            charges.retry_period_now(pick(args[0]), actor=STAFF, reason="test")
        elif action == "pause" and pick(args[0]):
            lifecycle.pause_subscription(pick(args[0]), actor=STAFF, reason="test")
        elif action == "resume" and pick(args[0]):
            lifecycle.resume_subscription(pick(args[0]), actor=STAFF)
        elif action == "cancel" and pick(args[0]):
            lifecycle.cancel_subscription(pick(args[0]), actor=STAFF, reason="test",
                                          at_period_end=False)
        elif action == "reinstate" and pick(args[0]):
            lifecycle.reinstate_subscription(pick(args[0]), actor=STAFF)
        elif action == "change_plan" and pick(args[0]):
            subscription = db.session.get(Subscription, pick(args[0]))
            other = db.session.scalar(db.select(Plan.id).where(Plan.id != subscription.plan_id))
            lifecycle.change_plan(pick(args[0]), plan_id=other, actor=STAFF)
        elif action == "delete_key":
            customer = db.session.scalar(db.select(Customer.id).where(
                Customer.customer_uid == args[0]))
            customers.delete_billing_key(customer, actor=STAFF, reason="test")
    except errors.BillingError:
        db.session.rollback()  # refused in this state: what matters is what it left behind


@pytest.mark.parametrize("billing_mode", ["schedule", "again"])
@settings(max_examples=10, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=4, max_size=14))
def test_rollups_equal_a_recount_after_any_sequence(schema_ready, billing_mode, steps):
    with build_world(schema_ready, billing_mode=billing_mode) as world:
        add_plan()
        add_plan("premium", 29000, name="프리미엄 월간")
        for number, uid in enumerate(CUSTOMERS):
            world.issue_key(uid, card_number=DECLINING if number == 2 else WORKING)
            intake.start_subscription(uid, plan_code="basic" if number else "premium",
                                      start_at=world.now() + timedelta(minutes=2))
        # Three active subscriptions (and, in schedule mode, their waiting charges) counted.
        assert rollups.stored()[("plan", 1, "active_count")] == 2
        assert_rollups_equal_recount()
        assert_attention_list_equals_recount()
        for action, *args in steps:
            run_step(world, action, *args)
            assert_rollups_equal_recount()
            assert_attention_list_equals_recount()


def test_a_paid_charge_a_decline_and_a_refund_move_the_days_they_belong_to(schema_ready):
    with build_world(schema_ready, billing_mode="again") as world:
        add_plan()
        world.issue_key("cust_0")
        world.issue_key("cust_1", card_number=DECLINING)
        for uid in ("cust_0", "cust_1"):
            intake.start_subscription(uid, plan_code="basic")
        charges.charge_due()
        today = world.now().astimezone(formatting.display_zone()).date()
        row = db.session.get(DayRollup, today)
        assert (row.paid_count, row.paid_amount, row.failed_count, row.failed_amount) == (
            1, 9900, 1, 9900)
        assert (row.first_attempts, row.first_attempts_paid, row.first_failures) == (2, 1, 1)
        assert db.session.get(PlanRollup, 1).active_count == 2

        # The same result applied again (a webhook resent, a sync) counts nothing more.
        paid = db.session.scalar(db.select(Payment).where(Payment.status == "paid"))
        apply_payment_result(world.client.get_payment(paid.imp_uid), source="sync")
        db.session.expire_all()
        assert db.session.get(DayRollup, today).paid_count == 1

        world.advance(DAY + 60)
        world.issue_key("cust_1")
        charges.charge_due()  # the retry of the declined period is paid: recovered
        refunds.refund_payment(paid.id, amount=4000, reason="test", actor=STAFF)
        db.session.expire_all()
        row = db.session.get(DayRollup, today)
        assert (row.recovered, row.refunded_amount, row.refunded_count) == (1, 4000, 1)
        assert row.failed_count == 1  # the declined first attempt stays declined
        assert_rollups_equal_recount()


def test_a_rolled_back_change_counts_nothing(app):
    with app.app_context():
        plan = Plan(code="basic", name="베이직", amount=9900)
        customer = Customer(customer_uid="cust_x", name="김", email="x@example.com")
        db.session.add_all([plan, customer])
        db.session.commit()
        db.session.add(Subscription(customer_id=customer.id, plan_id=plan.id, status="active"))
        db.session.flush()
        db.session.rollback()
        db.session.add(Payment(merchant_uid="m1", customer_id=customer.id, amount=100,
                               status="paid", paid_at=datetime.now(UTC)))
        db.session.commit()
        assert rollups.stored()[("plan", plan.id, "active_count")] == 0
        assert_rollups_equal_recount()


def add_plan_and_customer() -> tuple[Plan, Customer]:
    plan = Plan(code="basic", name="베이직", amount=9900)
    customer = Customer(customer_uid="cust_x", name="김", email="x@example.com")
    db.session.add_all([plan, customer])
    db.session.commit()
    return plan, customer


def test_rebuild_rollups_recounts_rows_written_around_the_orm(app, runner):
    with app.app_context():
        plan, customer = add_plan_and_customer()
        now = datetime.now(UTC)
        # A bulk load (as the benchmark does) bypasses the session, so nothing is counted ...
        db.session.execute(insert(Payment), [
            {"merchant_uid": f"bulk-{n}", "customer_id": customer.id, "amount": 1000,
             "cancel_amount": 0, "status": "paid", "attempt": 1, "origin": "schedule", "name": "",
             "paid_at": now, "created_at": now, "updated_at": now}
            for n in range(3)
        ])
        db.session.execute(insert(Subscription), [{
            "customer_id": customer.id, "plan_id": plan.id, "status": "past_due",
            "current_period": 1, "current_period_start": now,
            "current_period_end": now + timedelta(days=30), "next_charge_at": now,
        }])
        db.session.commit()
        assert rollups.stored() != rollups.recount()
        past_due = queries.CustomerFilters(status="past_due")
        assert queries.customers_page(past_due).rows == []
        # ... until the command recounts from the raw rows.
        result = runner.invoke(args=["rebuild-rollups"])
        assert result.exit_code == 0, result.output
        assert "Rollups rebuilt: 1 days" in result.output
        assert_rollups_equal_recount()
        assert sum(row.paid_amount for row in db.session.scalars(db.select(DayRollup))) == 3000
        assert [c.name for c in queries.customers_page(past_due).rows] == ["김"]


def test_sync_and_rebuild_rollups_repair_an_attention_list_changed_around_the_orm(app, runner):
    with app.app_context():
        plan, customer = add_plan_and_customer()
        subscription = Subscription(customer_id=customer.id, plan_id=plan.id, status="active")
        db.session.add(subscription)
        db.session.commit()
        # Active with nothing scheduled: the commit that created it listed it.
        assert set(attention.stored()) == {subscription.id}
        # A statement around the session (a bulk change) moves nothing ...
        db.session.execute(db.update(Subscription).values(status="cancelled"))
        db.session.commit()
        assert set(attention.stored()) == {subscription.id}
        assert attention.recount() == {}
        # ... until a sync, or the rebuild command, checks every subscription.
        sync.run_sync(days=1)
        assert attention.stored() == {}
        db.session.execute(db.update(Subscription).values(status="active"))
        db.session.commit()
        assert attention.stored() == {}
        result = runner.invoke(args=["rebuild-rollups"])
        assert result.exit_code == 0, result.output
        assert_attention_list_equals_recount()
        assert set(attention.stored()) == {subscription.id}


@pytest.mark.postgres
def test_concurrent_writers_never_lose_a_count(schema_ready):
    """Eight threads count paid payments of the same day, and subscriptions of one customer,
    at once: every one is counted."""
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE_URL": schema_ready})
    with app.app_context():
        empty_all_tables()
        plan = Plan(code="basic", name="베이직", amount=9900)
        db.session.add(plan)
        db.session.flush()
        customers = [Customer(customer_uid=f"cust_{n}", name="김", email=f"{n}@example.com")
                     for n in range(8)]
        db.session.add_all(customers)
        db.session.commit()
        customer_ids = [customer.id for customer in customers]
        plan_id = plan.id
        db.session.remove()
    paid_at = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
    start = threading.Barrier(8)
    failures = []

    def writer(customer_id: int) -> None:
        try:
            with app.app_context():
                start.wait()
                for n in range(15):
                    db.session.add(Payment(
                        merchant_uid=f"c{customer_id}-{n}", customer_id=customer_id, amount=100,
                        status="paid", paid_at=paid_at, created_at=paid_at))
                    db.session.add(Subscription(customer_id=customer_id, plan_id=plan_id,
                                                status="active"))
                    # Every thread counts one customer's subscriptions too: the same rows.
                    db.session.add(Subscription(customer_id=customer_ids[0], plan_id=plan_id,
                                                status="paused"))
                    db.session.commit()
                db.session.remove()
        except Exception as error:  # noqa: BLE001 (reported below, on the test's thread)
            failures.append(error)

    threads = [threading.Thread(target=writer, args=(ident,)) for ident in customer_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with app.app_context():
        row = db.session.get(DayRollup, paid_at.astimezone(formatting.display_zone())
                             .date())
        assert (row.paid_count, row.paid_amount) == (120, 12000)
        assert db.session.get(PlanRollup, plan_id).active_count == 120
        shared = db.session.get(CustomerSubscriptionRollup, (customer_ids[0], "paused", 0))
        assert shared.subscriptions == 120
        assert_rollups_equal_recount()
        empty_all_tables()
        db.session.remove()
        db.engine.dispose()

