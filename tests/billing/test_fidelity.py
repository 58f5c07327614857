"""What the real API does that the happy path never shows: long PG messages, deleted keys,
refused registrations."""
from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from dashboard.billing import audit, charges, intake
from dashboard.models import Payment, Schedule
from tests.billing.harness import DAY, event_states, fresh, payments_of

STAFF = audit.Actor("support@example.com")
LONG_REASON = "[CC99] " + "카드사 응답: 승인 거절 사유가 매우 깁니다 🙂 " * 20


@pytest.fixture
def again_mode(app):
    app.config["BILLING_MODE"] = "again"


def start(sandbox, uid="cust_1", **kwargs):
    sandbox.issue_key(uid)
    return intake.start_subscription(uid, plan_code="basic", **kwargs).id


def test_a_long_pg_message_fits_its_column_and_the_webhook_is_processed(app, sandbox, plan):
    sub_id = start(sandbox)
    sandbox.control("PUT", "/customers/cust_1/behavior", outcome="decline",
                    fail_reason=LONG_REASON)
    sandbox.advance(120)
    sandbox.run_due()
    [failed] = payments_of(sub_id)
    assert failed.status == "failed"
    assert failed.fail_reason == LONG_REASON[:256]
    schedule = fresh(Schedule, 1)
    assert schedule.payment_status == "failed" and len(schedule.fail_reason) <= 256
    assert event_states() == ["processed"]


def test_a_long_pg_message_on_an_again_charge_fits(app, sandbox, plan, again_mode):
    sub_id = start(sandbox)
    sandbox.control("PUT", "/customers/cust_1/behavior", outcome="decline",
                    fail_reason=LONG_REASON)
    assert charges.charge_due().declined == [f"sub{sub_id}-p1-a1"]
    assert fresh(Payment, payments_of(sub_id)[0].id).fail_reason == LONG_REASON[:256]


def test_fit_cuts_by_characters_and_never_leaves_half_a_surrogate_pair():
    from dashboard.text import fit

    assert fit("홍길동전", 3) == "홍길동"
    assert fit("ab🙂", 3) == "ab🙂"
    # A string that came in as UTF-16 pairs (e.g. decoded with surrogatepass).
    paired = "ab\ud83d\ude42"
    assert fit(paired, 3) == "ab"
    assert fit(None, 3) is None and fit("", 3) == ""


@pytest.mark.parametrize("mode", ["schedule", "again"])
def test_every_request_the_dashboard_sends_is_inside_the_schema(app, sandbox, plan, mode):
    """A customer whose name, phone and address exceed iamport's limits is billed for a few
    periods, refunded and re-keyed; every request validates against the schema subset."""
    from dashboard.billing import customers, refunds, sync
    from tests.contract.schema import validate_request
    from tests.harness import API_URL
    from tests.iamport.conftest import RecordingAdapter

    app.config["BILLING_MODE"] = mode
    recorder = RecordingAdapter(sandbox.http.adapters[API_URL])
    sandbox.http.mount(API_URL, recorder)
    sandbox.issue_key("cust_long")
    sub = intake.start_subscription(
        "cust_long", plan_code="basic", customer_info={
            "name": "Alexandra Montgomery", "phone": "+82 010-1234-5678 내선 12345",
            "email": "alexandra.montgomery-wellington@a-very-long-company-name.example"})
    for _ in range(3):
        charges.charge_due()
        sandbox.advance(32 * DAY)
        sandbox.run_due()
    paid = [p for p in payments_of(sub.id) if p.status == "paid"]
    assert len(paid) >= 3
    refunds.refund_payment(paid[0].id, amount=1000, reason="부분 환불", actor=STAFF)
    customers.register_billing_key(sub.customer_id, card_number="5570420000077221",
                                   expiry="2031-01", birth="900101", pwd_2digit="12",
                                   actor=STAFF)
    sync.run_sync(days=40)
    sent = [e for e in recorder.exchanges
            if e.path != "/users/getToken" and not e.path.startswith("/_sandbox")]
    assert {e.path for e in sent} >= {"/subscribe/payments/again" if mode == "again"
                                      else "/subscribe/payments/schedule", "/payments/cancel"}
    for exchange in sent:
        validate_request(exchange.method, exchange.path, exchange.query, exchange.body)


@pytest.mark.parametrize("configured, sent", [(None, "kcp"), ("kcp.BA001", "kcp.BA001")])
def test_iamport_pg_names_the_channel_wherever_the_api_takes_pg(app, sandbox, plan, configured,
                                                                sent):
    from dashboard.billing import customers
    from tests.harness import API_URL
    from tests.iamport.conftest import RecordingAdapter

    if configured:
        app.config["IAMPORT_PG"] = configured
    uid = start_key(sandbox)
    recorder = RecordingAdapter(sandbox.http.adapters[API_URL])
    sandbox.http.mount(API_URL, recorder)
    sub = intake.start_subscription(uid, plan_code="basic")
    customers.register_billing_key(sub.customer_id, card_number="5570420000077221",
                                   expiry="2031-01", birth="900101", pwd_2digit="12",
                                   actor=STAFF)
    [schedule] = recorder.calls("POST", "/subscribe/payments/schedule")
    [issue] = recorder.calls("POST", "/subscribe/customers/cust_pg")
    assert (schedule.status, issue.status) == (200, 200)
    assert schedule.body["pg"] == sent and issue.body["pg"] == sent


def start_key(sandbox, uid="cust_pg"):
    sandbox.issue_key(uid)
    return uid


def test_a_key_deleted_in_portones_console_is_not_iamport_unreachable(app, sandbox, plan):
    """The live API answers 404 for the payment list of an unknown customer_uid."""
    from dashboard.billing import sync
    from dashboard.models import Customer

    sub = intake.start_subscription(start_key(sandbox, "cust_gone"), plan_code="basic")
    sandbox.client.delete_billing_key("cust_gone", reason="PortOne console")
    sandbox.fault(path="^/subscribe/customers/cust_gone/payments", status=404, method="GET")
    summary = sync.sync_customer(sub.customer_id)
    assert (summary.billing_key, summary.payments) == ("missing", 0)
    assert fresh(Customer, sub.customer_id).billing_key_status == "missing"


# --- charging a lapsed period ------------------------------------------------------------


def lapse(sandbox, mode: str, uid: str = "cust_lapsed") -> int:
    """Bill one period, then decline every retry of the next until the subscription is past
    due, and let another month go by; return the subscription id."""
    from dashboard.models import Subscription

    sub_id = start(sandbox, uid)
    run_charges(sandbox, mode)
    assert fresh(Subscription, sub_id).current_period == 1
    sandbox.control("PUT", f"/customers/{uid}/behavior", outcome="decline")
    while fresh(Subscription, sub_id).status != "past_due":
        sandbox.advance(DAY + 120)
        run_charges(sandbox, mode)
    sandbox.advance(31 * DAY)
    run_charges(sandbox, mode)
    sandbox.control("PUT", f"/customers/{uid}/behavior", outcome="approve")
    return sub_id


def run_charges(sandbox, mode: str) -> None:
    sandbox.advance(120)
    if mode == "again":
        charges.charge_due()
    else:
        sandbox.run_due()


@pytest.mark.parametrize("mode", ["schedule", "again"])
def test_charging_a_lapsed_period_restarts_from_today_with_one_charge(app, sandbox, plan, mode):
    from dashboard.billing.periods import unpaid_period_ended
    from dashboard.clock import now
    from dashboard.models import Subscription

    app.config["BILLING_MODE"] = mode
    sub_id = lapse(sandbox, mode)
    sub = fresh(Subscription, sub_id)
    assert unpaid_period_ended(sub, now())
    paid_before = [p.id for p in payments_of(sub_id) if p.status == "paid"]
    payment = charges.retry_period_now(sub_id, actor=STAFF, reason="새 카드")
    assert payment.status == "paid"
    charged_at = now()
    # Whatever runs in the next hours charges nothing more.
    for _ in range(6):
        sandbox.advance(3600)
        run_charges(sandbox, mode)
    paid = [p for p in payments_of(sub_id) if p.status == "paid"]
    assert len(paid) == len(paid_before) + 1
    sub = fresh(Subscription, sub_id)
    assert sub.status == "active" and sub.current_period == 2
    assert abs((sub.current_period_start - charged_at).total_seconds()) < 5
    assert sub.billing_anchor == sub.current_period_start.astimezone(
        ZoneInfo("Asia/Seoul")).replace(tzinfo=None, microsecond=0)
    assert 28 <= (sub.current_period_end - sub.current_period_start).days <= 31


@pytest.mark.parametrize("mode", ["schedule", "again"])
def test_collecting_the_missed_period_charges_what_the_confirmation_listed(
        app, sandbox, plan, mode):
    from dashboard.billing.periods import charges_after_charge_now
    from dashboard.clock import now
    from dashboard.models import Subscription

    app.config["BILLING_MODE"] = mode
    sub_id = lapse(sandbox, mode)
    listed = charges_after_charge_now(fresh(Subscription, sub_id), restart=False, at=now())
    charged = [row for row in listed if not row.regular]
    assert len(charged) >= 2 and listed[-1].regular
    paid_before = len([p for p in payments_of(sub_id) if p.status == "paid"])
    charges.retry_period_now(sub_id, actor=STAFF, reason="밀린 기간 청구", restart=False)
    regular = listed[-1].at
    while now() + timedelta(hours=1) < regular:
        sandbox.advance(600)
        run_charges(sandbox, mode)
        if now() > listed[0].at + timedelta(hours=2):
            break
    paid = [p for p in payments_of(sub_id) if p.status == "paid"]
    assert len(paid) - paid_before == len(charged)
    sub = fresh(Subscription, sub_id)
    assert [sub.current_period, sub.current_period_end] == [charged[-1].period, charged[-1].end]
    assert sub.next_charge_at == regular


def test_restart_is_refused_while_the_unpaid_period_is_still_running(app, sandbox, plan):
    from dashboard.billing import errors
    from dashboard.models import Subscription

    sub_id = start(sandbox, "cust_running")
    run_charges(sandbox, "schedule")
    sandbox.control("PUT", "/customers/cust_running/behavior", outcome="decline")
    sandbox.advance(32 * DAY)
    sandbox.run_due()
    assert fresh(Subscription, sub_id).failed_attempts == 1
    with pytest.raises(errors.InvalidInput):
        charges.retry_period_now(sub_id, actor=STAFF, reason="x", restart=True)


# --- refused registrations need attention ------------------------------------------------


def refused_registration(app, sandbox, uid: str = "cust_refused") -> int:
    """Bill one period and cancel; the key is then deleted in PortOne's console, and staff
    reinstate the subscription: iamport refuses its schedule, "등록된 고객정보가 없습니다."."""
    from dashboard.billing import lifecycle

    sub_id = start(sandbox, uid)
    run_charges(sandbox, "schedule")
    lifecycle.cancel_subscription(sub_id, actor=STAFF, reason="고객 요청", at_period_end=False)
    sandbox.client.delete_billing_key(uid, reason="PortOne console")
    lifecycle.reinstate_subscription(sub_id, actor=STAFF, reason="마음이 바뀜")
    return sub_id


def schedule_requests(sandbox) -> int:
    return sum(1 for call in sandbox.control("GET", "/requests")
               if call["path"] == "/subscribe/payments/schedule" and call["method"] == "POST")


def test_a_refused_registration_needs_attention_until_sync_registers_it_again(
        app, sandbox, plan):
    from dashboard.attention import subscription_attention
    from dashboard.billing import sync
    from dashboard.models import Subscription
    from tests.billing.harness import live_schedules_of

    sub_id = refused_registration(app, sandbox)
    sub = fresh(Subscription, sub_id)
    [refused] = [s for s in db_schedules(sub_id) if s.fail_reason]
    assert "등록된 고객정보가 없습니다" in refused.fail_reason
    assert sub.status == "active" and live_schedules_of(sub_id) == []
    assert subscription_attention(sub) == ["billing_key_missing", "not_scheduled"]

    # While the key is still missing, sync leaves it on the list and asks nothing more.
    asked = schedule_requests(sandbox)
    sync.run_sync(days=1)
    assert subscription_attention(fresh(Subscription, sub_id)) == [
        "billing_key_missing", "not_scheduled"]
    assert schedule_requests(sandbox) == asked

    # The customer registers a card again (the merchant's app issues the key): sync schedules.
    sandbox.issue_key("cust_refused")
    sync.run_sync(days=1)
    sub = fresh(Subscription, sub_id)
    [live] = live_schedules_of(sub_id)
    assert live.registered_at is not None
    assert sandbox.client.get_schedule(live.merchant_uid).schedule_status == "scheduled"
    assert subscription_attention(sub) == []
    assert live.schedule_at == sub.current_period_end  # the paid period is not cut short


def db_schedules(sub_id):
    from dashboard.extensions import db

    db.session.expire_all()
    return db.session.scalars(db.select(Schedule).where(Schedule.subscription_id == sub_id)).all()


def test_attention_reaches_the_api_and_the_overview(app, sandbox, plan):
    from dashboard import api_tokens
    from dashboard.queries.overview import overview

    sub_id = refused_registration(app, sandbox)
    token = api_tokens.create_token("shop", actor=audit.CLI)
    body = app.test_client().get(f"/api/v1/subscriptions/{sub_id}",
                                 headers={"Authorization": f"Bearer {token}"}).get_json()
    assert body["attention"] == ["billing_key_missing", "not_scheduled"]
    numbers = overview()
    assert [(s.id, codes) for s, codes in numbers.stalled] == [
        (sub_id, ["billing_key_missing", "not_scheduled"])]
    assert numbers.stalled_count == 1


def test_a_healthy_subscription_needs_no_attention_in_either_mode(app, sandbox, plan):
    from dashboard.attention import subscription_attention
    from dashboard.models import Subscription

    scheduled = start(sandbox, "cust_ok")
    app.config["BILLING_MODE"] = "again"
    again = start(sandbox, "cust_ok2")
    charges.charge_due()
    assert subscription_attention(fresh(Subscription, again)) == []
    app.config["BILLING_MODE"] = "schedule"
    assert subscription_attention(fresh(Subscription, scheduled)) == []


def test_an_unknown_charge_outcome_needs_attention(app, sandbox, plan, again_mode):
    """Of two subscriptions charged at once, the one whose answer was lost needs attention:
    the API and the subscription page (one subscription's payments) agree with the
    overview's recount (every pending payment)."""
    from dashboard import attention, queries
    from dashboard.models import Subscription

    sub_ids = [start(sandbox), start(sandbox, "cust_2")]
    sandbox.fault(path="^/subscribe/payments/again", status=504, count=1, after_commit=True)
    charges.charge_due()
    [lost] = {p.subscription_id for sub_id in sub_ids for p in payments_of(sub_id)
              if p.status == "pending"}
    recounted = {sub_id: [code for code in attention.ATTENTION_CODES if row[code]]
                 for sub_id, row in attention.recount().items()}
    for sub_id in sub_ids:
        codes = ["charge_outcome_unknown"] if sub_id == lost else []
        assert attention.subscription_attention(fresh(Subscription, sub_id)) == codes
        assert queries.subscription_detail(sub_id).attention == codes
        assert recounted.get(sub_id, []) == codes
