"""Property-based: random sequences of staff actions, webhook mishaps, clock moves and faults.

Hypothesis draws a billing mode and a list of steps; each example runs on a fresh world
(dashboard, sandbox, relay, emptied database). After every step the invariants hold:

- at most one successful payment per subscription period, at iamport and here;
- refunded never exceeds paid, at iamport and here;
- every webhook delivered to the dashboard is stored.

After the last step, with faults cleared, held webhooks delivered and the clock past the
grace period, one sync makes our records equal iamport's: every payment's status, amount and
cancelled amount; nothing pending; no event left failed.

Steps: refund (partial, full), pause, resume, cancel (now or at period end), reinstate,
change plan, charge the unpaid period now, manual charge (and the same form sent again), move
a waiting schedule, revoke it, retry or reschedule a failed one, reprocess failed webhooks,
delete the billing key, sync one customer, a card starting or stopping to decline, the relay
passing / duplicating / holding / dropping deliveries and releasing held ones in order or
reversed (twice), the clock moving (then due schedules run, and in again mode
``charge-due``), a mid-run sync, and faults (answer lost after commit on again, cancel and
schedule retry; 5xx before again, cancel, schedule registration, unschedule, or the payment
look-up). One hand-written sequence (below) is always tried first.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from dashboard.billing import (
    audit,
    charges,
    customers,
    errors,
    intake,
    lifecycle,
    refunds,
    schedules,
    sync,
)
from dashboard.billing.webhooks import process_failed_events
from dashboard.extensions import db
from dashboard.models import Payment, Plan, Schedule, Subscription
from tests.harness import DAY
from tests.reliability.conftest import properties_settings, properties_timeout
from tests.reliability.world import (
    Relay,
    add_plan,
    build_world,
    check_invariants,
    check_settled,
)

STAFF = audit.Actor("support@example.com", ip_address="127.0.0.1")
CUSTOMERS = ("cust_0", "cust_1")
DECLINING = "5570-4200-0007-0002"
WORKING = "5570-4200-0007-7221"

FAULTS = {
    "again lost after commit": {"path": r"^/subscribe/payments/again$", "status": 504,
                                "after_commit": True},
    "cancel lost after commit": {"path": r"^/payments/cancel$", "status": 504,
                                 "after_commit": True},
    "again 5xx before": {"path": r"^/subscribe/payments/again$", "status": 502},
    "cancel 5xx before": {"path": r"^/payments/cancel$", "status": 503},
    "schedule 5xx before": {"path": r"^/subscribe/payments/schedule$", "status": 503,
                            "method": "POST"},
    "unschedule lost after commit": {"path": r"^/subscribe/payments/unschedule$",
                                     "status": 504, "after_commit": True},
    "payment look-up 5xx": {"path": r"^/payments/imp_", "status": 503, "count": 2},
    "schedule retry lost after commit": {"path": r"^/subscribe/payments/schedule/[^/]+/retry$",
                                         "status": 504, "after_commit": True},
}

who = st.integers(min_value=0, max_value=len(CUSTOMERS) - 1)
steps = st.one_of(
    st.tuples(st.just("advance"),
              st.sampled_from([60, 10 * 60, 60 * 60, DAY, 3 * DAY, 31 * DAY])),
    st.tuples(st.just("relay"), st.sampled_from(Relay.MODES)),
    st.tuples(st.just("release"), st.booleans(), st.booleans()),
    st.tuples(st.just("refund"), st.integers(0, 5), st.sampled_from([None, 10, 50, 99])),
    st.tuples(st.just("pause"), who),
    st.tuples(st.just("resume"), who),
    st.tuples(st.just("cancel"), who, st.booleans()),
    st.tuples(st.just("charge now"), who),
    st.tuples(st.just("manual charge"), who, st.sampled_from([1000, 5500]), st.booleans()),
    st.tuples(st.just("card"), who, st.booleans()),
    st.tuples(st.just("fault"), st.sampled_from(sorted(FAULTS))),
    st.tuples(st.just("sync")),
    st.tuples(st.just("change plan"), who),
    st.tuples(st.just("reinstate"), who),
    st.tuples(st.just("schedule time"), st.integers(0, 3), st.sampled_from([1, 5, 40])),
    st.tuples(st.just("revoke schedule"), st.integers(0, 3)),
    st.tuples(st.just("retry schedule"), st.integers(0, 3)),
    st.tuples(st.just("reschedule"), st.integers(0, 3), st.sampled_from([1, 5])),
    st.tuples(st.just("reprocess")),
    st.tuples(st.just("delete key"), who),
    st.tuples(st.just("sync customer"), who),
)


class Driver:
    """Carries out drawn steps on a world; staff refusals are expected, anything else is not."""

    def __init__(self, world, mode: str):
        self.world = world
        self.mode = mode
        self.subscriptions: list[int] = []
        self.last_form: dict | None = None
        self.log: list[str] = []

    def setup(self) -> None:
        add_plan()
        self.plans = [add_plan("premium", amount=19900, credits=300, name="프리미엄 월간").id]
        for uid in CUSTOMERS:
            self.world.issue_key(uid)
            self.subscriptions.append(intake.start_subscription(uid, plan_code="basic").id)

    def run(self, step: tuple) -> None:
        self.log.append(repr(step))
        action, *args = step
        try:
            getattr(self, "do_" + action.replace(" ", "_"))(*args)
        except errors.BillingError as refusal:
            # What the console does with a refusal: show it and end the transaction.
            db.session.rollback()
            self.log.append(f"  refused: {type(refusal).__name__}")
        # Staff and iamport act at least a second apart (the sandbox clock is frozen
        # otherwise; same-second attempts are covered in test_double_submit.py).
        self.world.advance(1)

    def subscription(self, n: int) -> int:
        return self.subscriptions[n]

    def do_advance(self, seconds: int) -> None:
        self.world.advance(seconds)
        self.world.run_due()
        if self.mode == "again":
            charges.charge_due()
        lifecycle.close_ended_subscriptions()

    def do_relay(self, mode: str) -> None:
        self.world.relay.mode = mode

    def do_release(self, reverse: bool, twice: bool) -> None:
        self.world.relay.release(reverse=reverse, twice=twice)

    def do_refund(self, index: int, percent: int | None) -> None:
        db.session.expire_all()
        refundable = db.session.scalars(
            db.select(Payment).where(Payment.status.in_(("paid", "cancelled")),
                                     Payment.cancel_amount < Payment.amount)
            .order_by(Payment.id)).all()
        if not refundable:
            return
        payment = refundable[index % len(refundable)]
        amount = None if percent is None else max(1, payment.refundable_amount * percent // 100)
        refunds.refund_payment(payment.id, amount=amount, reason="drawn", actor=STAFF)

    def do_pause(self, n: int) -> None:
        lifecycle.pause_subscription(self.subscription(n), actor=STAFF, reason="drawn")

    def do_resume(self, n: int) -> None:
        lifecycle.resume_subscription(self.subscription(n), actor=STAFF)

    def do_cancel(self, n: int, at_period_end: bool) -> None:
        lifecycle.cancel_subscription(self.subscription(n), actor=STAFF, reason="drawn",
                                      at_period_end=at_period_end)

    def do_charge_now(self, n: int) -> None:
        charges.retry_period_now(self.subscription(n), actor=STAFF, reason="drawn")

    def do_manual_charge(self, n: int, amount: int, resubmit: bool) -> None:
        if resubmit and self.last_form is not None:
            form = self.last_form
        else:
            customer_id = db.session.get(Subscription, self.subscription(n)).customer_id
            form = {"customer_id": customer_id, "merchant_uid": charges.new_manual_merchant_uid(),
                    "amount": amount, "name": "추가 이용료", "reason": "drawn", "actor": STAFF}
            self.last_form = form
        fields = dict(form)
        charges.manual_charge(fields.pop("customer_id"), **fields)

    def do_card(self, n: int, declines: bool) -> None:
        self.world.issue_key(CUSTOMERS[n], card_number=DECLINING if declines else WORKING)

    def do_fault(self, name: str) -> None:
        self.world.fault(**FAULTS[name])

    def do_sync(self) -> None:
        sync.run_sync(days=max(1, (self.world.now() - self.world.started_at).days + 2))

    def do_change_plan(self, n: int) -> None:
        subscription = db.session.get(Subscription, self.subscription(n))
        other = [plan for plan in (*self.plans, self.basic_id()) if plan != subscription.plan_id]
        lifecycle.change_plan(subscription.id, plan_id=other[0], actor=STAFF)

    def basic_id(self) -> int:
        return db.session.scalar(db.select(Plan.id).where(Plan.code == "basic"))

    def do_reinstate(self, n: int) -> None:
        lifecycle.reinstate_subscription(self.subscription(n), actor=STAFF)

    def schedule(self, index: int, *, live: bool) -> Schedule | None:
        db.session.expire_all()
        query = db.select(Schedule).order_by(Schedule.id)
        if live:
            query = query.where(Schedule.schedule_status == "scheduled")
        else:
            query = query.where((Schedule.schedule_status == "revoked")
                                | (Schedule.payment_status == "failed"))
        rows = db.session.scalars(query).all()
        return rows[index % len(rows)] if rows else None

    def do_schedule_time(self, index: int, days: int) -> None:
        row = self.schedule(index, live=True)
        if row is not None:
            schedules.change_schedule_time(row.id, schedule_at=self.world.now()
                                           + timedelta(days=days), actor=STAFF)

    def do_revoke_schedule(self, index: int) -> None:
        row = self.schedule(index, live=True)
        if row is not None:
            schedules.revoke_schedule(row.id, actor=STAFF, reason="drawn")

    def do_retry_schedule(self, index: int) -> None:
        row = self.schedule(index, live=False)
        if row is not None:
            charges.retry_schedule_now(row.id, actor=STAFF, reason="drawn")

    def do_reschedule(self, index: int, days: int) -> None:
        row = self.schedule(index, live=False)
        if row is not None:
            schedules.reschedule_failed(row.id, schedule_at=self.world.now()
                                        + timedelta(days=days), actor=STAFF)

    def do_reprocess(self) -> None:
        process_failed_events()

    def do_delete_key(self, n: int) -> None:
        customer_id = db.session.get(Subscription, self.subscription(n)).customer_id
        customers.delete_billing_key(customer_id, actor=STAFF, reason="drawn")

    def do_sync_customer(self, n: int) -> None:
        sync.sync_customer(db.session.get(Subscription, self.subscription(n)).customer_id,
                                actor=STAFF)


def check(driver: Driver, findings) -> None:
    assert not findings, "\n".join([*findings.problems, "after:", *driver.log])


# A sequence the random search rarely meets, always run first. cust_0's first charge declines
# while webhooks are held; sync learns it and dunning plans a second attempt, which staff
# revoke (live schedules by id: cust_1's period 2, then cust_0's retry). On a working card
# staff retry the first attempt: iamport charges it, but the answer is lost and its webhook
# dropped. The held decline then arrives while the retry is pending. Taken as news, it would
# plan another attempt of the paid period, which iamport runs the next day: a double charge.
LATE_DECLINE_WHILE_A_RETRY_IS_PENDING = [
    ("card", 0, True), ("relay", "hold"), ("advance", 60 * 60), ("sync",),
    ("revoke schedule", 1), ("card", 0, False), ("relay", "drop"),
    ("fault", "schedule retry lost after commit"), ("retry schedule", 0), ("relay", "pass"),
    ("release", False, False), ("advance", DAY),
]


@pytest.mark.timeout(properties_timeout())
@properties_settings()
@example(mode="schedule", drawn=LATE_DECLINE_WHILE_A_RETRY_IS_PENDING)
@given(mode=st.sampled_from(["schedule", "again"]),
       drawn=st.lists(steps, min_size=1, max_size=14))
def test_money_invariants_hold_after_every_step_and_sync_agrees(schema_ready, mode, drawn):
    with build_world(schema_ready, billing_mode=mode) as world:
        driver = Driver(world, mode)
        driver.setup()
        for step in drawn:
            driver.run(step)
            check(driver, check_invariants(world))
        world.settle()
        check(driver, check_settled(world))
