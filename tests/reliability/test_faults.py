"""Faults injected at iamport's side of every money and schedule call, each ending in a sync.

For ``again``, schedule registration, unschedule (revoke), schedule time change (PUT) and
cancel (refund): a 5xx before the operation took effect, and a 5xx or a read timeout after it
took effect (the sandbox's ``after_commit``: performed, then the answer is lost). Also a token
that expires between two calls, and iamport down while webhooks arrive. Every test ends with
``check_settled``: after a sync past the grace period, no double charge, no refund beyond the
paid amount, no lost event, nothing pending, and our payments equal iamport's.

Cells already covered elsewhere (not repeated here): ``again`` 504 after commit and 502 before
(tests/billing/test_charges.py), cancel 504 after commit and 502 before
(tests/billing/test_refunds.py), schedule registration 503 before (tests/billing/test_sync.py).
"""
from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import pytest

from dashboard.billing import audit, charges, errors, intake, lifecycle, refunds, results, schedules
from dashboard.extensions import db
from dashboard.iamport import NotFound
from dashboard.models import Payment, Refund, Schedule, Subscription, WebhookEvent
from tests.harness import DAY
from tests.reliability.world import add_plan, build_world, check_settled

STAFF = audit.Actor("support@example.com", ip_address="127.0.0.1")
READ_TIMEOUT = 0.5
# A lost answer: iamport did the work, then the response never came back.
LOST_ANSWERS = {
    "5xx after commit": {"status": 504, "after_commit": True},
    "timeout after commit": {"delay": READ_TIMEOUT + 0.3, "after_commit": True},
}
SCHEDULE_PATH = r"^/subscribe/payments/schedule$"
UNSCHEDULE_PATH = r"^/subscribe/payments/unschedule$"
SCHEDULE_ITEM_PATH = r"^/subscribe/payments/schedule/sub"
AGAIN_PATH = r"^/subscribe/payments/again$"
CANCEL_PATH = r"^/payments/cancel$"


@pytest.fixture
def world(schema_ready):
    """A world whose client gives up on a read after half a second, so timeouts are quick."""
    with build_world(schema_ready, read_timeout=READ_TIMEOUT) as fresh:
        add_plan()
        yield fresh


@pytest.fixture
def again_world(schema_ready):
    with build_world(schema_ready, billing_mode="again", read_timeout=READ_TIMEOUT) as fresh:
        add_plan()
        yield fresh


@pytest.fixture(params=sorted(LOST_ANSWERS))
def lost(request):
    return LOST_ANSWERS[request.param]


def start(world, uid: str = "cust_1", card: str = "5570-4200-0007-7221") -> int:
    world.issue_key(uid, card_number=card)
    return intake.start_subscription(uid, plan_code="basic").id


@contextmanager
def refused(kind):
    """Expect a billing refusal and end the transaction, as the console's error handler does
    (a refused action may hold row locks until then)."""
    with pytest.raises(kind) as caught:
        yield caught
    db.session.rollback()


def assert_settled(world) -> None:
    findings = check_settled(world)
    assert not findings, findings.problems


def remote_schedule(world, merchant_uid: str):
    try:
        return world.reader.get_schedule(merchant_uid)
    except NotFound:
        return None


def assert_schedules_match(world) -> None:
    """Every schedule here has iamport's status (a never-registered one may be unknown there)."""
    db.session.expire_all()
    for row in db.session.scalars(db.select(Schedule)):
        remote = remote_schedule(world, row.merchant_uid)
        if remote is None:
            assert row.schedule_status == "revoked" and row.registered_at is None, row.merchant_uid
            continue
        assert row.schedule_status == remote.schedule_status, row.merchant_uid


def paid_at_iamport(world, merchant_uid: str) -> list:
    return [p for p in world.remote_payments()
            if p.merchant_uid == merchant_uid and p.paid_at is not None]


def live(sub_id: int) -> list[Schedule]:
    db.session.expire_all()
    return schedules.live_schedules(sub_id)


def first_period_paid(world, sub_id: int) -> Payment:
    world.advance(120)
    world.run_due()
    db.session.expire_all()
    return db.session.scalar(db.select(Payment).where(
        Payment.subscription_id == sub_id, Payment.status == "paid"))


# --- schedule registration (POST /subscribe/payments/schedule) --------------------------------


@pytest.mark.parametrize("sync_first", [True, False], ids=["sync-then-run", "run-then-sync"])
def test_schedule_registration_answer_lost(world, lost, sync_first):
    world.fault(SCHEDULE_PATH, method="POST", **lost)
    sub_id = start(world)
    [row] = live(sub_id)
    assert row.registered_at is None  # we do not know iamport took it
    assert world.reader.get_schedule(row.merchant_uid).schedule_status == "scheduled"
    if sync_first:
        world.settle()
        assert live(sub_id)[0].registered_at is not None
    world.advance(120)
    assert world.run_due() == [row.merchant_uid]
    world.settle()
    assert_settled(world)
    assert_schedules_match(world)
    assert len(paid_at_iamport(world, row.merchant_uid)) == 1
    sub = db.session.get(Subscription, sub_id)
    assert (sub.status, sub.current_period) == ("active", 1)
    assert [s.period for s in live(sub_id)] == [2]  # the next period is planned once


def test_next_period_registration_fails_then_sync_registers_it_once(world):
    """The paid webhook plans period 2; iamport is down for that registration."""
    sub_id = start(world)
    world.fault(SCHEDULE_PATH, method="POST", status=503)
    first_period_paid(world, sub_id)
    [next_row] = live(sub_id)
    assert next_row.period == 2 and next_row.registered_at is None
    world.settle()
    [next_row] = live(sub_id)
    assert next_row.registered_at is not None
    world.advance(32 * DAY)
    world.run_due()
    world.settle()
    assert_settled(world)
    assert db.session.get(Subscription, sub_id).current_period == 2


# --- unschedule (POST /subscribe/payments/unschedule) -----------------------------------------


def test_revoke_refused_by_a_5xx_before_iamport_acted(world):
    sub_id = start(world)
    [row] = live(sub_id)
    world.fault(UNSCHEDULE_PATH, status=503)
    with refused(errors.AnswerLost):
        schedules.revoke_schedule(row.id, actor=STAFF, reason="customer asked")
    assert world.reader.get_schedule(row.merchant_uid).schedule_status == "scheduled"
    assert [s.id for s in live(sub_id)] == [row.id]
    world.settle()
    assert_schedules_match(world)
    # Nothing was revoked, so the charge runs once, as planned.
    first_period_paid(world, sub_id)
    world.settle()
    assert_settled(world)
    assert len(paid_at_iamport(world, row.merchant_uid)) == 1


def test_revoke_answer_lost_after_iamport_revoked(world, lost):
    sub_id = start(world)
    [row] = live(sub_id)
    world.fault(UNSCHEDULE_PATH, **lost)
    with refused(errors.AnswerLost):
        schedules.revoke_schedule(row.id, actor=STAFF, reason="customer asked")
    assert world.reader.get_schedule(row.merchant_uid).schedule_status == "revoked"
    world.settle()
    assert_schedules_match(world)
    assert live(sub_id) == []
    world.advance(DAY)
    assert world.run_due() == []
    world.settle()
    assert_settled(world)
    assert world.remote_payments() == []


@pytest.mark.parametrize("action", ["pause", "cancel"])
def test_pause_or_cancel_whose_revocation_answer_is_lost(world, lost, action):
    """The staff action fails as unknown; iamport did revoke. Repeating it then succeeds."""
    sub_id = start(world)
    first_period_paid(world, sub_id)
    [next_row] = live(sub_id)
    world.fault(UNSCHEDULE_PATH, **lost)
    act = {
        "pause": lambda: lifecycle.pause_subscription(sub_id, actor=STAFF, reason="trip"),
        "cancel": lambda: lifecycle.cancel_subscription(sub_id, actor=STAFF, reason="moving",
                                                        at_period_end=False),
    }[action]
    with refused(errors.AnswerLost):
        act()
    assert db.session.get(Subscription, sub_id).status == "active"  # nothing changed here
    world.settle()
    assert_schedules_match(world)
    act()
    assert db.session.get(Subscription, sub_id).status == {"pause": "paused",
                                                          "cancel": "cancelled"}[action]
    world.advance(32 * DAY)
    world.run_due()
    world.settle()
    assert_settled(world)
    assert paid_at_iamport(world, next_row.merchant_uid) == []


# --- schedule time change (PUT /subscribe/payments/schedule/{merchant_uid}) --------------------


def test_time_change_refused_by_a_5xx_before_iamport_acted(world):
    sub_id = start(world)
    [row] = live(sub_id)
    before = row.schedule_at
    world.fault(SCHEDULE_ITEM_PATH, method="PUT", status=502)
    with refused(errors.AnswerLost):
        schedules.change_schedule_time(row.id, schedule_at=world.now() + timedelta(days=3),
                                       actor=STAFF, reason="payday")
    assert world.reader.get_schedule(row.merchant_uid).schedule_at == before
    assert live(sub_id)[0].schedule_at == before
    first_period_paid(world, sub_id)
    world.settle()
    assert_settled(world)
    assert_schedules_match(world)


def test_time_change_answer_lost_charges_once_at_iamports_time(world, lost):
    sub_id = start(world)
    [row] = live(sub_id)
    moved_to = world.now() + timedelta(days=3)
    world.fault(SCHEDULE_ITEM_PATH, method="PUT", **lost)
    with refused(errors.AnswerLost):
        schedules.change_schedule_time(row.id, schedule_at=moved_to, actor=STAFF, reason="payday")
    world.settle()
    world.advance(120)
    assert world.run_due() == []  # iamport moved it: nothing at the old time
    world.advance(3 * DAY)
    assert world.run_due() == [row.merchant_uid]
    world.settle()
    assert_settled(world)
    assert_schedules_match(world)
    assert len(paid_at_iamport(world, row.merchant_uid)) == 1
    assert db.session.get(Subscription, sub_id).current_period == 1


def test_sync_shows_iamports_time_after_a_lost_time_change_answer(world):
    sub_id = start(world)
    [row] = live(sub_id)
    moved_to = (world.now() + timedelta(days=3)).replace(microsecond=0)
    world.fault(SCHEDULE_ITEM_PATH, method="PUT", status=504, after_commit=True)
    with refused(errors.AnswerLost):
        schedules.change_schedule_time(row.id, schedule_at=moved_to, actor=STAFF, reason="payday")
    assert world.reader.get_schedule(row.merchant_uid).schedule_at == moved_to
    world.settle()
    [row] = live(sub_id)
    assert row.schedule_at == moved_to
    assert db.session.get(Subscription, sub_id).next_attempt_at == moved_to


# --- again (POST /subscribe/payments/again) ---------------------------------------------------


def test_charge_due_read_timeout_after_the_charge(again_world):
    """iamport charged but neither its answer nor its webhook reached us: the charge stays
    pending and is not sent again, however often ``charge-due`` runs, until sync asks iamport
    and applies it."""
    world = again_world
    sub_id = start(world)
    merchant_uid = f"sub{sub_id}-p1-a1"
    world.relay.mode = "drop"
    world.fault(AGAIN_PATH, delay=READ_TIMEOUT + 0.3, after_commit=True)
    summary = charges.charge_due()
    assert summary.unknown == [merchant_uid]
    # Runs a minute later, past the wait after an unreachable iamport, and a day later.
    for seconds in (60, int(results.UNREACHABLE_RETRY.total_seconds()) + 60, DAY):
        world.advance(seconds)
        run = charges.charge_due()
        assert (run.charged, run.declined, run.unknown, run.errors) == ([], [], [], [])
        db.session.expire_all()
        assert db.session.execute(db.select(Payment.merchant_uid, Payment.status)).all() \
            == [(merchant_uid, "pending")]
        # What iamport received: the one charge, sent once, and paid there.
        assert len(world.calls("POST", "/subscribe/payments/again")) == 1
        assert [(p.merchant_uid, p.status) for p in world.remote_payments()] \
            == [(merchant_uid, "paid")]
        assert db.session.get(Subscription, sub_id).current_period == 0
    world.settle()
    assert_settled(world)
    assert len(paid_at_iamport(world, merchant_uid)) == 1
    assert len(world.calls("POST", "/subscribe/payments/again")) == 1
    payment = db.session.scalar(db.select(Payment))
    assert (payment.merchant_uid, payment.status) == (merchant_uid, "paid")
    sub = db.session.get(Subscription, sub_id)
    assert sub.current_period == 1 and sub.next_attempt_at == sub.current_period_end


def test_schedule_retry_answer_lost_while_the_next_attempt_waits(world):
    """Staff retry a declined first attempt while dunning's second attempt waits at iamport;
    iamport charges the retry but its answer and webhook are lost. The waiting attempt must
    not charge the period again before sync finds the retry's result."""
    sub_id = start(world, card="5570-4200-0007-0002")
    world.advance(120)
    world.run_due()  # declined; dunning plans the second attempt for tomorrow
    assert [row.merchant_uid for row in live(sub_id)] == [f"sub{sub_id}-p1-a2"]
    first = db.session.scalar(db.select(Schedule).where(
        Schedule.merchant_uid == f"sub{sub_id}-p1-a1"))
    world.issue_key("cust_1")  # a new card
    world.relay.mode = "drop"
    world.fault(r"^/subscribe/payments/schedule/[^/]+/retry$", status=504, after_commit=True)
    with refused(errors.AnswerLost):
        charges.retry_schedule_now(first.id, actor=STAFF, reason="new card")
    world.advance(1)  # iamport sends the retry's webhook: lost as well
    assert [d.payload["status"] for d in world.relay.dropped] == ["paid"]
    world.relay.mode = "pass"
    world.advance(DAY)
    world.run_due()
    assert len(paid_at_iamport(world, f"sub{sub_id}-p1-a1")) == 1
    assert paid_at_iamport(world, f"sub{sub_id}-p1-a2") == []  # revoked before the retry
    world.settle()  # sync finds the retry's result
    assert_settled(world)
    assert db.session.get(Subscription, sub_id).current_period == 1


@pytest.mark.parametrize("fault", [
    {"status": 503},
    {"status": 504, "after_commit": True},
    {"delay": READ_TIMEOUT + 0.3, "after_commit": True},
], ids=["5xx-before", "5xx-after", "timeout-after"])
def test_retry_now_with_a_fault(world, fault):
    """Staff retry a declined period now; the again call fails one way or another."""
    sub_id = start(world, card="5570-4200-0007-0002")
    world.advance(120)
    world.run_due()  # declined; a retry is scheduled for tomorrow
    world.issue_key("cust_1")  # a new card
    world.fault(AGAIN_PATH, **fault)
    with refused(errors.AnswerLost):
        charges.retry_period_now(sub_id, actor=STAFF, reason="new card")
    with refused(errors.ChargeInProgress):
        charges.retry_period_now(sub_id, actor=STAFF, reason="pressed again")
    world.settle()
    assert_settled(world)
    paid = [p for p in world.remote_payments() if p.paid_at is not None]
    assert len(paid) == (0 if "after_commit" not in fault else 1)
    assert db.session.get(Subscription, sub_id).current_period == len(paid)


@pytest.mark.parametrize("fault", [
    {"status": 502},
    {"status": 504, "after_commit": True},
    {"delay": READ_TIMEOUT + 0.3, "after_commit": True},
], ids=["5xx-before", "5xx-after", "timeout-after"])
def test_manual_charge_with_a_fault_and_a_resubmitted_form(world, fault):
    sub_id = start(world)
    customer_id = db.session.get(Subscription, sub_id).customer_id
    merchant_uid = charges.new_manual_merchant_uid()
    form = {"merchant_uid": merchant_uid, "amount": 3300, "name": "추가 이용료",
            "reason": "phone order", "actor": STAFF}
    world.fault(AGAIN_PATH, **fault)
    with refused(errors.AnswerLost):
        charges.manual_charge(customer_id, **form)
    # The same form sent again returns the pending record and charges nothing.
    assert charges.manual_charge(customer_id, **form).status == "pending"
    with refused(errors.ChargeInProgress):
        charges.manual_charge(customer_id, **{**form, "merchant_uid":
                                              charges.new_manual_merchant_uid()})
    world.settle()
    assert_settled(world)
    charged = paid_at_iamport(world, merchant_uid)
    assert len(charged) == (0 if "after_commit" not in fault else 1)
    expected = "paid" if charged else "failed"
    assert db.session.scalar(
        db.select(Payment.status).where(Payment.merchant_uid == merchant_uid)) == expected


# --- cancel (POST /payments/cancel) -----------------------------------------------------------


def test_full_refund_read_timeout_after_iamport_refunded(world):
    sub_id = start(world)
    payment = first_period_paid(world, sub_id)
    world.fault(CANCEL_PATH, delay=READ_TIMEOUT + 0.3, after_commit=True)
    with refused(errors.AnswerLost):
        refunds.refund_payment(payment.id, amount=None, reason="duplicate", actor=STAFF)
    with refused(errors.InvalidState):
        refunds.refund_payment(payment.id, amount=None, reason="again", actor=STAFF)
    world.settle()
    assert_settled(world)
    payment = db.session.get(Payment, payment.id)
    assert (payment.status, payment.cancel_amount) == ("cancelled", 9900)
    assert world.reader.get_payment(payment.imp_uid).cancel_amount == 9900
    assert db.session.scalars(db.select(Refund.status)).all() == ["succeeded"]


def test_partial_refunds_one_lost_one_refused_before(world):
    sub_id = start(world)
    payment = first_period_paid(world, sub_id)
    world.fault(CANCEL_PATH, status=504, after_commit=True)
    with refused(errors.AnswerLost):
        refunds.refund_payment(payment.id, amount=4000, reason="half", actor=STAFF)
    world.settle()
    world.fault(CANCEL_PATH, status=503)
    with refused(errors.AnswerLost):
        refunds.refund_payment(payment.id, amount=5900, reason="rest", actor=STAFF)
    world.settle()
    # The second one never reached iamport: after the grace period it is rejected, and the
    # rest can be refunded exactly once.
    refunds.refund_payment(payment.id, amount=None, reason="rest, again", actor=STAFF)
    with refused(errors.NotRefundable):
        refunds.refund_payment(payment.id, amount=1, reason="one more", actor=STAFF)
    world.settle()
    assert_settled(world)
    assert world.reader.get_payment(payment.imp_uid).cancel_amount == 9900
    assert sorted(db.session.scalars(db.select(Refund.status))) == [
        "rejected", "succeeded", "succeeded"]


# --- a token that expires mid-run -------------------------------------------------------------


def test_token_expires_between_calls_refreshed_once(again_world):
    world = again_world
    first = start(world, "cust_1")
    assert charges.charge_due().charged == [f"sub{first}-p1-a1"]
    world.run_due()  # the paid webhook arrives and is verified with the same token
    # iamport's token lives 30 minutes; our cached one still looks valid by our own clock.
    world.advance(31 * 60)
    payment = db.session.scalar(db.select(Payment).where(Payment.status == "paid"))
    refund = refunds.refund_payment(payment.id, amount=1000, reason="goodwill", actor=STAFF)
    assert refund.status == "succeeded"
    second = start(world, "cust_2")
    assert charges.charge_due().charged == [f"sub{second}-p1-a1"]
    log = world.requests_log()
    # The refund was the first call after expiry: refused with 401 (not performed), then
    # repeated once with a fresh token. The charge after it needed no second refresh.
    assert [c["status"] for c in log if c["path"] == "/payments/cancel"] == [401, 200]
    assert [c["status"] for c in log if c["path"] == "/subscribe/payments/again"] == [200, 200]
    assert all(c["status"] == 200 for c in log if c["path"] == "/users/getToken")
    assert world.reader.get_payment(payment.imp_uid).cancel_amount == 1000
    world.settle()
    assert_settled(world)


def test_token_expires_while_a_webhook_is_verified(world):
    sub_id = start(world)
    world.advance(31 * 60)  # the schedule is due and the token is stale
    world.run_due()
    assert db.session.scalars(db.select(WebhookEvent.state)).all() == ["processed"]
    world.settle()
    assert_settled(world)
    assert db.session.get(Subscription, sub_id).current_period == 1


# --- iamport down while webhooks arrive -------------------------------------------------------


@pytest.mark.parametrize("back_after_resends", [2, 6], ids=["back-mid-resends", "back-after-all"])
def test_iamport_down_while_webhooks_arrive(world, back_after_resends):
    ids = [start(world, f"cust_{n}") for n in range(3)]
    # Everything at iamport answers 503 except running schedules and sending webhooks.
    world.fault(r"^/(payments|subscribe)", status=503, count=10_000)
    world.advance(120)
    world.run_due()
    for _ in range(back_after_resends - 1):
        world.advance(60)  # iamport resends a failed delivery a minute later, five times
        world.run_due()
    world.clear_faults()
    world.advance(60)
    world.run_due()
    deliveries = world.webhooks()
    events = db.session.scalars(db.select(WebhookEvent).order_by(WebhookEvent.id)).all()
    assert len(events) == len(deliveries) == len(world.relay.received)
    assert {e.state for e in events} <= {"failed", "processed"}
    world.settle()
    assert_settled(world)
    for sub_id in ids:
        assert db.session.get(Subscription, sub_id).current_period == 1
    assert len(world.remote_payments()) == 3


def test_a_refused_schedule_retry_brings_back_the_next_attempt(world):
    """A retry revokes dunning's waiting attempt before it asks iamport; when iamport refuses
    the retry (nothing charged), the period gets its next attempt back instead of none."""
    sub_id = start(world, card="5570-4200-0007-0002")
    world.advance(120)
    world.run_due()  # declined; dunning plans the second attempt for tomorrow
    planned = db.session.get(Subscription, sub_id).next_attempt_at
    first = db.session.scalar(db.select(Schedule).where(
        Schedule.merchant_uid == f"sub{sub_id}-p1-a1"))
    world.fault(r"^/subscribe/payments/schedule/[^/]+/retry$", status=400)
    with refused(errors.BillingError):
        charges.retry_schedule_now(first.id, actor=STAFF, reason="new card")
    waiting = live(sub_id)
    assert [(row.period, row.schedule_at) for row in waiting] == [(1, planned)]
    assert waiting[0].merchant_uid != f"sub{sub_id}-p1-a2"  # a new attempt, registered anew
    assert waiting[0].registered_at is not None
    assert db.session.get(Subscription, sub_id).next_attempt_at == planned
