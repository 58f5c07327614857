"""Every staff action through the console, against the sandbox in process.

Each action: a form, a confirmation where money moves or something is destroyed, the billing
call, a flash, an audit entry; and 422 with the form and a clear message when a rule says no.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from dashboard.billing import intake
from dashboard.extensions import db
from dashboard.models import (
    AuditEntry,
    CreditEntry,
    Customer,
    Payment,
    Plan,
    Refund,
    Schedule,
    Subscription,
)

from .conftest import HTMX

KST_INPUT = "%Y-%m-%dT%H:%M"


@pytest.fixture
def app_config(app_config, sandbox):
    return {**app_config, **sandbox.app_config()}


@pytest.fixture
def app(app, sandbox):
    """The dashboard, receiving the sandbox's webhooks in process."""
    sandbox.deliver_to(app)
    return app


@pytest.fixture
def support(as_role):
    return as_role("support")


@pytest.fixture
def subscribed(app, sandbox):
    """A customer with a billing key, a subscription and a paid first period."""
    with app.app_context():
        db.session.add(Plan(code="basic", name="베이직 월간", amount=9900, credits_per_period=100))
        db.session.add(Plan(code="pro", name="프로 월간", amount=29900))
        db.session.commit()
        sandbox.issue_key("cust_1")
        subscription = intake.start_subscription(
            "cust_1", plan_code="basic",
            customer_info={"name": "김민수", "email": "minsu@example.com",
                           "phone": "010-1234-5678"},
        )
        subscription_id, customer_id = subscription.id, subscription.customer_id
    sandbox.advance(120)
    sandbox.run_due()
    with app.app_context():
        payment = db.session.scalar(db.select(Payment).where(Payment.status == "paid"))
        assert payment is not None, "the first period should be paid"
        return {"subscription": subscription_id, "customer": customer_id, "payment": payment.id}


def fresh(app, model, ident):
    with app.app_context():
        db.session.expire_all()
        row = db.session.get(model, ident)
        db.session.expunge_all()
        return row


def rows(app, query):
    with app.app_context():
        found = db.session.scalars(query).all()
        db.session.expunge_all()
        return found


def audit_actions(app) -> list[tuple[str, str]]:
    return [(e.action, e.outcome) for e in rows(app, db.select(AuditEntry).order_by(AuditEntry.id))
            if e.action != "staff.sign_in"]


def live_schedule(app, subscription_id) -> Schedule:
    found = rows(app, db.select(Schedule).where(Schedule.subscription_id == subscription_id,
                                                Schedule.schedule_status == "scheduled"))
    assert len(found) == 1
    return found[0]


def flash_on(client, url) -> str:
    return client.get(url).get_data(as_text=True)


def flashes(page: str) -> list[tuple[str, str]]:
    """Return the flashed messages on a page as (category, text)."""
    return re.findall(r'<p class="flash flash-(\w+)" role="status">(.*?)</p>', page)


def kst_input(moment: datetime) -> str:
    return (moment + timedelta(hours=9)).strftime(KST_INPUT)


# --- refunds -----------------------------------------------------------------------------


def test_partial_refund_confirms_then_refunds_and_updates_the_page(app, sandbox, subscribed,
                                                                    support):
    url = f"/payments/{subscribed['payment']}/refund"
    form = support.get(url, headers=HTMX).get_data(as_text=True)
    assert "₩9,900" in form and 'hx-post="/payments/' in form

    confirm = support.post(url, data={"amount": "3000", "reason": "중복 결제",
                                      "next": f"/customers/{subscribed['customer']}"},
                           headers=HTMX)
    html = confirm.get_data(as_text=True)
    assert confirm.status_code == 200
    # The confirmation says exactly what will happen: paid, already refunded, refundable.
    assert "₩9,900" in html and "₩0" in html and "₩3,000" in html and "₩6,900" in html
    assert 'name="confirmed" value="yes"' in html
    assert rows(app, db.select(Refund)) == []  # nothing moved yet

    done = support.post(url, data={"amount": "3000", "reason": "중복 결제", "confirmed": "yes",
                                   "next": f"/customers/{subscribed['customer']}"},
                        headers=HTMX)
    assert done.status_code == 200
    assert f"/customers/{subscribed['customer']}" in done.headers["HX-Location"]
    refund = rows(app, db.select(Refund))[0]
    assert (refund.amount, refund.status, refund.checksum) == (3000, "succeeded", 9900)
    payment = fresh(app, Payment, subscribed["payment"])
    assert payment.cancel_amount == 3000
    assert sandbox.client.get_payment(payment.imp_uid).cancel_amount == 3000
    assert ("payment.refund", "ok") in audit_actions(app)
    page = flash_on(support, f"/customers/{subscribed['customer']}")
    assert "flash-success" in page
    assert "₩3,000" in page
    assert "부분환불" in page


def test_refund_without_javascript_redirects_with_303(app, subscribed, support):
    url = f"/payments/{subscribed['payment']}/refund"
    response = support.post(url, data={"reason": "고객 요청", "confirmed": "yes"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/payments/{subscribed['payment']}"
    assert fresh(app, Payment, subscribed["payment"]).status == "cancelled"


def test_a_refund_form_submitted_twice_refunds_once(app, sandbox, subscribed, support):
    url = f"/payments/{subscribed['payment']}/refund"
    form = support.get(url, headers=HTMX).get_data(as_text=True)
    [key] = re.findall(r'name="request_key" type="hidden" value="([^"]+)"', form)
    confirm = support.post(url, data={"amount": "2000", "reason": "x", "request_key": key},
                           headers=HTMX).get_data(as_text=True)
    assert f'value="{key}"' in confirm  # the key travels with the confirmation
    data = {"amount": "2000", "reason": "x", "confirmed": "yes", "request_key": key}
    for _ in range(2):  # a double click on the confirmation
        assert support.post(url, data=data, headers=HTMX).status_code == 200
    payment = fresh(app, Payment, subscribed["payment"])
    assert payment.cancel_amount == 2000
    assert sandbox.client.get_payment(payment.imp_uid).cancel_amount == 2000
    assert len(rows(app, db.select(Refund))) == 1


def test_refund_over_the_balance_is_refused_with_422(app, subscribed, support):
    url = f"/payments/{subscribed['payment']}/refund"
    response = support.post(url, data={"amount": "10000", "reason": "x"}, headers=HTMX)
    assert response.status_code == 422
    assert "₩9,900" in response.get_data(as_text=True)
    assert rows(app, db.select(Refund)) == []


def test_refund_refused_by_a_billing_rule_shows_the_reason(app, sandbox, subscribed, support):
    """Someone refunded in PortOne's console: our checksum is stale, iamport refuses."""
    payment = fresh(app, Payment, subscribed["payment"])
    sandbox.client.cancel_payment(imp_uid=payment.imp_uid, amount=5000, reason="console")
    url = f"/payments/{subscribed['payment']}/refund"
    response = support.post(url, data={"amount": "3000", "reason": "x", "confirmed": "yes"},
                            headers=HTMX)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "아임포트가 요청을 거절했습니다" in html and 'class="action-box"' in html
    assert ("payment.refund", "rejected") in audit_actions(app)


# --- manual charge -----------------------------------------------------------------------


def test_manual_charge_is_confirmed_and_safe_against_double_submission(app, sandbox, subscribed,
                                                                       support):
    url = f"/customers/{subscribed['customer']}/charge"
    form = support.get(url).get_data(as_text=True)
    merchant_uid = re.search(r'name="merchant_uid" type="hidden" value="([^"]+)"', form).group(1)
    data = {"merchant_uid": merchant_uid, "amount": "5000", "name": "추가 이용료",
            "reason": "고객 요청 추가 결제", "subscription_id": ""}
    confirm = support.post(url, data=data).get_data(as_text=True)
    assert "₩5,000" in confirm and merchant_uid in confirm
    assert rows(app, db.select(Payment).where(Payment.origin == "manual")) == []
    for _ in range(2):  # a double click
        response = support.post(url, data={**data, "confirmed": "yes"})
        assert response.status_code == 303
    charged = rows(app, db.select(Payment).where(Payment.origin == "manual"))
    assert [(p.merchant_uid, p.amount, p.status) for p in charged] == [(merchant_uid, 5000, "paid")]
    assert sandbox.client.get_payment(charged[0].imp_uid).amount == 5000


def test_manual_charge_is_refused_while_an_earlier_charge_is_unknown(app, subscribed, support):
    with app.app_context():
        db.session.add(Payment(merchant_uid="unknown-1", customer_id=subscribed["customer"],
                               subscription_id=subscribed["subscription"], amount=9900,
                               status="pending", origin="again", period=2))
        db.session.commit()
    url = f"/customers/{subscribed['customer']}/charge"
    response = support.post(url, data={
        "merchant_uid": "manual-20261127-aaaaaaaaaaaa", "amount": "9900", "name": "재결제",
        "reason": "재시도", "subscription_id": str(subscribed["subscription"]),
        "confirmed": "yes"}, headers=HTMX)
    assert response.status_code == 422
    assert "결과를 아직 알 수 없습니다" in response.get_data(as_text=True)


# --- schedules ---------------------------------------------------------------------------


def test_change_schedule_time(app, sandbox, subscribed, support):
    schedule = live_schedule(app, subscribed["subscription"])
    form = support.get(f"/schedules/{schedule.id}/time").get_data(as_text=True)
    assert f'value="{kst_input(schedule.schedule_at)}"' in form  # starts from the current time
    new_time = (schedule.schedule_at + timedelta(days=2)).replace(second=0, microsecond=0)
    response = support.post(f"/schedules/{schedule.id}/time",
                            data={"schedule_at": kst_input(new_time), "reason": "고객 요청"})
    assert response.status_code == 303
    assert fresh(app, Schedule, schedule.id).schedule_at == new_time
    assert ("schedule.change_time", "ok") in audit_actions(app)


def test_change_schedule_time_into_the_past_is_refused(app, sandbox, subscribed, support):
    schedule = live_schedule(app, subscribed["subscription"])
    past = sandbox.now() - timedelta(days=1)
    response = support.post(f"/schedules/{schedule.id}/time",
                            data={"schedule_at": kst_input(past)}, headers=HTMX)
    assert response.status_code == 422
    assert "미래" in response.get_data(as_text=True)
    assert fresh(app, Schedule, schedule.id).schedule_at == schedule.schedule_at


def test_revoke_schedule_after_confirmation(app, sandbox, subscribed, support):
    schedule = live_schedule(app, subscribed["subscription"])
    url = f"/schedules/{schedule.id}/revoke"
    confirm = support.post(url, data={"reason": "고객 요청"}).get_data(as_text=True)
    assert "₩9,900" in confirm and fresh(app, Schedule, schedule.id).schedule_status == "scheduled"
    response = support.post(url, data={"reason": "고객 요청", "confirmed": "yes"})
    assert response.status_code == 303
    assert fresh(app, Schedule, schedule.id).schedule_status == "revoked"
    again = support.post(url, data={"reason": "again", "confirmed": "yes"}, headers=HTMX)
    assert again.status_code == 422
    assert "현재 상태에서는" in again.get_data(as_text=True)


def failed_schedule(app, sandbox, subscribed) -> Schedule:
    schedule = live_schedule(app, subscribed["subscription"])
    sandbox.control("PUT", "/customers/cust_1/behavior", outcome="decline")
    sandbox.control("POST", "/clock", now=int(schedule.schedule_at.timestamp()) + 60)
    sandbox.run_due()
    failed = fresh(app, Schedule, schedule.id)
    assert failed.payment_status == "failed"
    sandbox.control("PUT", "/customers/cust_1/behavior", outcome="approve")
    return failed


def test_retry_a_failed_schedule_now(app, sandbox, subscribed, support):
    schedule = failed_schedule(app, sandbox, subscribed)
    url = f"/schedules/{schedule.id}/retry"
    confirm = support.post(url, data={"reason": "카드 한도 복구"}).get_data(as_text=True)
    assert "₩9,900" in confirm and "confirmed" in confirm
    response = support.post(url, data={"reason": "카드 한도 복구", "confirmed": "yes"})
    assert response.status_code == 303
    paid = rows(app, db.select(Payment).where(Payment.subscription_id == subscribed["subscription"],
                                              Payment.status == "paid"))
    assert len(paid) == 2


def test_retry_of_a_waiting_schedule_is_refused(app, subscribed, support):
    schedule = live_schedule(app, subscribed["subscription"])
    response = support.post(f"/schedules/{schedule.id}/retry",
                            data={"reason": "x", "confirmed": "yes"}, headers=HTMX)
    assert response.status_code == 422


def test_reschedule_a_revoked_schedule(app, sandbox, subscribed, support):
    schedule = live_schedule(app, subscribed["subscription"])
    support.post(f"/schedules/{schedule.id}/revoke", data={"reason": "x", "confirmed": "yes"})
    later = (sandbox.now() + timedelta(days=3)).replace(second=0, microsecond=0)
    response = support.post(f"/schedules/{schedule.id}/reschedule",
                            data={"schedule_at": kst_input(later), "reason": "급여일 이후"})
    assert response.status_code == 303, response.get_data(as_text=True)
    moved = fresh(app, Schedule, schedule.id)
    assert (moved.schedule_status, moved.schedule_at) == ("scheduled", later)


def test_reschedule_is_refused_while_the_dunning_retry_waits(app, sandbox, subscribed, support):
    schedule = failed_schedule(app, sandbox, subscribed)
    later = (sandbox.now() + timedelta(days=3)).replace(second=0, microsecond=0)
    response = support.post(f"/schedules/{schedule.id}/reschedule",
                            data={"schedule_at": kst_input(later), "reason": "x"}, headers=HTMX)
    assert response.status_code == 422
    # The refusal reads in Korean, like the rest of the page.
    assert "이 기간의 다른 결제가 이미 예약되어 있습니다." in response.get_data(as_text=True)


# --- subscriptions -----------------------------------------------------------------------


def test_charge_the_unpaid_period_now_after_a_decline(app, sandbox, subscribed, support):
    failed_schedule(app, sandbox, subscribed)
    sid = subscribed["subscription"]
    page = support.get(f"/subscriptions/{sid}").get_data(as_text=True)
    assert f"/subscriptions/{sid}/charge-now" in page
    url = f"/subscriptions/{sid}/charge-now"
    confirm = support.post(url, data={"reason": "새 카드 등록 후"}).get_data(as_text=True)
    assert "₩9,900" in confirm and 'value="yes"' in confirm
    done = support.post(url, data={"reason": "새 카드 등록 후", "confirmed": "yes"})
    assert done.status_code == 303
    assert fresh(app, Subscription, sid).current_period == 2
    assert ("charge.retry_now", "ok") in audit_actions(app)


def test_charge_now_is_refused_for_a_cancelled_subscription(app, subscribed, support):
    sid = subscribed["subscription"]
    support.post(f"/subscriptions/{sid}/cancel",
                 data={"when": "now", "reason": "x", "confirmed": "yes"})
    response = support.post(f"/subscriptions/{sid}/charge-now",
                            data={"reason": "x", "confirmed": "yes"}, headers=HTMX)
    assert response.status_code == 422


def test_pause_and_resume(app, subscribed, support):
    sid = subscribed["subscription"]
    response = support.post(f"/subscriptions/{sid}/pause", data={"reason": "해외 출장"})
    assert response.status_code == 303
    assert fresh(app, Subscription, sid).status == "paused"
    assert rows(app, db.select(Schedule).where(Schedule.subscription_id == sid,
                                               Schedule.schedule_status == "scheduled")) == []
    again = support.post(f"/subscriptions/{sid}/pause", data={"reason": "x"}, headers=HTMX)
    assert again.status_code == 422
    # Resuming asks for a reason first and says when billing starts again.
    form = support.get(f"/subscriptions/{sid}/resume").get_data(as_text=True)
    assert 'name="reason"' in form and "₩9,900" in form
    assert support.post(f"/subscriptions/{sid}/resume", data={}, headers=HTMX).status_code == 422
    assert fresh(app, Subscription, sid).status == "paused"
    resumed = support.post(f"/subscriptions/{sid}/resume", data={"reason": "출장 종료"})
    assert resumed.status_code == 303
    assert fresh(app, Subscription, sid).status == "active"


def test_cancel_at_period_end_after_confirmation_then_reinstate(app, subscribed, support):
    sid = subscribed["subscription"]
    url = f"/subscriptions/{sid}/cancel"
    confirm = support.post(url, data={"when": "period_end", "reason": "서비스 불만"})
    html = confirm.get_data(as_text=True)
    assert "₩9,900" in html and "KST" in html
    assert fresh(app, Subscription, sid).cancel_at_period_end is False
    done = support.post(url, data={"when": "period_end", "reason": "서비스 불만",
                                   "confirmed": "yes"})
    assert done.status_code == 303
    cancelled = fresh(app, Subscription, sid)
    assert cancelled.cancel_at_period_end is True and cancelled.status == "active"
    # Reinstating names the revoked charge it brings back and needs a reason.
    revoked = rows(app, db.select(Schedule).where(Schedule.subscription_id == sid,
                                                  Schedule.schedule_status == "revoked"))
    form = support.get(f"/subscriptions/{sid}/reinstate").get_data(as_text=True)
    assert revoked and revoked[0].merchant_uid in form.split('class="restored"')[1]
    assert support.post(f"/subscriptions/{sid}/reinstate", data={},
                        headers=HTMX).status_code == 422
    assert support.post(f"/subscriptions/{sid}/reinstate",
                        data={"reason": "고객 변심"}).status_code == 303
    assert fresh(app, Subscription, sid).cancel_at_period_end is False
    entry = rows(app, db.select(AuditEntry).where(AuditEntry.action == "subscription.reinstate"))
    assert entry[0].reason == "고객 변심"


def test_cancel_now_and_refusal_when_already_cancelled(app, subscribed, support):
    sid = subscribed["subscription"]
    data = {"when": "now", "reason": "폐업", "confirmed": "yes"}
    assert support.post(f"/subscriptions/{sid}/cancel", data=data).status_code == 303
    assert fresh(app, Subscription, sid).status == "cancelled"
    again = support.post(f"/subscriptions/{sid}/cancel", data=data, headers=HTMX)
    assert again.status_code == 422


def test_change_plan_from_the_next_period(app, subscribed, support):
    sid = subscribed["subscription"]
    pro = rows(app, db.select(Plan).where(Plan.code == "pro"))[0]
    response = support.post(f"/subscriptions/{sid}/plan", data={"plan_id": str(pro.id)})
    assert response.status_code == 303
    assert fresh(app, Subscription, sid).next_plan_id == pro.id
    assert live_schedule(app, sid).amount == 29900
    basic = rows(app, db.select(Plan).where(Plan.code == "basic"))[0]
    support.post(f"/subscriptions/{sid}/plan", data={"plan_id": str(basic.id)})
    same = support.post(f"/subscriptions/{sid}/plan", data={"plan_id": str(basic.id)},
                        headers=HTMX)
    assert same.status_code == 422


# --- customers ---------------------------------------------------------------------------


def test_sync_customer(app, subscribed, support):
    response = support.post(f"/customers/{subscribed['customer']}/sync", data={}, headers=HTMX)
    assert response.status_code == 200 and "HX-Location" in response.headers
    assert ("customer.sync", "ok") in audit_actions(app)


def test_register_a_new_card_never_echoes_card_data(app, sandbox, subscribed, support):
    url = f"/customers/{subscribed['customer']}/billing-key"
    card = {"card_number": "4518-4212-3450-7890", "expiry": "2031-01", "birth": "900101",
            "pwd_2digit": "12"}
    bad = support.post(url, data={**card, "expiry": "2020-01-01"}, headers=HTMX)
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert "4518" not in html and "900101" not in html and 'value="12"' not in html
    response = support.post(url, data=card)
    assert response.status_code == 303
    customer = fresh(app, Customer, subscribed["customer"])
    assert customer.billing_key_status == "active" and customer.card_number.endswith("7890")
    entries = rows(app, db.select(AuditEntry).where(
        AuditEntry.action.startswith("customer.billing_key")))
    assert entries and all("4518421234507890" not in str(e.details) for e in entries)


def test_card_refused_by_iamport_is_a_422_without_the_card(app, sandbox, support, subscribed):
    url = f"/customers/{subscribed['customer']}/billing-key"
    response = support.post(url, data={"card_number": "4518421234507890", "expiry": "2020-01",
                                       "birth": "900101", "pwd_2digit": "12"}, headers=HTMX)
    assert response.status_code == 422
    assert "4518421234507890" not in response.get_data(as_text=True)


def test_delete_billing_key_after_confirmation_revokes_schedules(app, subscribed, support):
    url = f"/customers/{subscribed['customer']}/billing-key/delete"
    confirm = support.post(url, data={"reason": "고객 요청"}).get_data(as_text=True)
    assert "₩9,900" in confirm  # the waiting charge that will be revoked
    assert support.post(url, data={"reason": "고객 요청", "confirmed": "yes"}).status_code == 303
    assert fresh(app, Customer, subscribed["customer"]).billing_key_status == "deleted"
    assert rows(app, db.select(Schedule).where(Schedule.schedule_status == "scheduled")) == []
    again = support.post(url, data={"reason": "x", "confirmed": "yes"}, headers=HTMX)
    assert again.status_code == 422


def test_adjust_credits(app, subscribed, support):
    url = f"/customers/{subscribed['customer']}/credits"
    assert support.post(url, data={"delta": "-30", "reason": "보상 차감"}).status_code == 303
    assert support.post(url, data={"delta": "0", "reason": "x"}).status_code == 422
    deltas = [e.delta for e in rows(app, db.select(CreditEntry).order_by(CreditEntry.id))]
    assert deltas == [100, -30]


# --- operations --------------------------------------------------------------------------


def test_run_sync_from_the_overview(app, subscribed, as_role):
    admin = as_role("admin")
    response = admin.post("/operations/sync", data={"days": "2"})
    assert response.status_code == 303
    assert "동기화 완료" in admin.get("/").get_data(as_text=True)


def test_reprocess_a_webhook(app, sandbox, subscribed, as_role):
    from dashboard.models import WebhookEvent

    event = rows(app, db.select(WebhookEvent).order_by(WebhookEvent.id))[0]
    with app.app_context():
        # As after an outage: stored, its processing failed.
        db.session.get(WebhookEvent, event.id).state = "failed"
        db.session.commit()
    admin = as_role("admin")
    # iamport cannot be asked about the payment: the event fails and the flash says why.
    sandbox.fault(r"^/payments/imp_", status=503, count=5)
    response = admin.post(f"/webhook-events/{event.id}/reprocess", data={})
    assert response.status_code == 303
    [(kind, message)] = flashes(admin.get("/webhook-events").get_data(as_text=True))
    assert kind == "warning"
    assert message.startswith(f"웹훅 {event.id} 재처리: 아임포트에 연결할 수 없습니다: "), message
    assert fresh(app, WebhookEvent, event.id).state == "failed"
    sandbox.clear_faults()
    response = admin.post(f"/webhook-events/{event.id}/reprocess", data={})
    assert response.status_code == 303
    assert flashes(admin.get("/webhook-events").get_data(as_text=True)) \
        == [("success", f"웹훅 {event.id} 재처리: 완료")]
    assert fresh(app, WebhookEvent, event.id).state == "processed"
    assert [a for a in audit_actions(app) if a[0] == "webhook.reprocess"] \
        == [("webhook.reprocess", "failed"), ("webhook.reprocess", "ok")]
    # A processed event offers no reprocess, and the server refuses one.
    assert admin.post(f"/webhook-events/{event.id}/reprocess", data={}).status_code == 422
