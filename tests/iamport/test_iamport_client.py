"""Every client method against the in-process sandbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from dashboard.iamport import (
    BillingKey,
    IamportClient,
    NotFound,
    Page,
    Payment,
    Rejected,
    Schedule,
    ScheduleRequest,
)

from .conftest import API_URL, DECLINED_CARD, GOOD_CARD, IMP_KEY, IMP_SECRET


def issue(iamport: IamportClient, customer_uid: str, card_number: str = GOOD_CARD) -> BillingKey:
    return iamport.issue_billing_key(customer_uid, card_number=card_number, expiry="2030-12",
                                     birth="900101", pwd_2digit="12")


def charge(iamport: IamportClient, merchant_uid: str, amount: int = 8900,
           customer_uid: str = "cust_good") -> Payment:
    return iamport.pay_again(customer_uid=customer_uid, merchant_uid=merchant_uid,
                             amount=amount, name="월간 이용권")


# -- billing keys ---------------------------------------------------------------------------


def test_issue_billing_key_returns_masked_card(billing_key):
    assert billing_key.customer_uid == "cust_good"
    assert billing_key.card_number == "557042******7221"
    assert billing_key.card_name == "KB국민카드"
    assert billing_key.customer_name == "홍길동"
    assert billing_key.inserted_at is not None and billing_key.inserted_at.tzinfo is UTC


def test_get_billing_key(iamport, billing_key):
    assert iamport.get_billing_key("cust_good") == billing_key


def test_get_unknown_billing_key_is_not_found(iamport):
    with pytest.raises(NotFound) as caught:
        iamport.get_billing_key("cust_nobody")

    assert "cust_nobody" in caught.value.message


@pytest.mark.parametrize("answer", ["live: HTTP 200, code 1", "schema: HTTP 404"])
def test_an_unknown_billing_key_is_not_found_however_iamport_answers(iamport, sandbox, recorder,
                                                                     answer):
    if answer.startswith("schema"):
        sandbox.fault("^/subscribe/customers/cust_nobody$", status=404, count=2)

    for call in (iamport.get_billing_key, iamport.delete_billing_key):
        with pytest.raises(NotFound):
            call("cust_nobody")

    statuses = [c.status for c in recorder.calls("GET", "/subscribe/customers/cust_nobody")
                + recorder.calls("DELETE", "/subscribe/customers/cust_nobody")]
    assert statuses == ([404, 404] if answer.startswith("schema") else [200, 200])


def test_payments_of_an_unknown_key_are_not_found(iamport, recorder):
    with pytest.raises(NotFound):
        iamport.list_customer_payments("cust_nobody")

    assert recorder.calls("GET", "/subscribe/customers/cust_nobody/payments")[-1].status == 404


def test_get_billing_keys_returns_the_found_ones(iamport, billing_key, recorder):
    issue(iamport, "cust_other")

    keys = iamport.get_billing_keys(["cust_good", "cust_missing", "cust_other"])

    assert sorted(key.customer_uid for key in keys) == ["cust_good", "cust_other"]
    assert recorder.calls("GET", "/subscribe/customers")[-1].status == 207


def test_get_billing_keys_with_none_found_is_empty(iamport):
    assert iamport.get_billing_keys(["cust_missing"]) == []
    assert iamport.get_billing_keys([]) == []


def test_delete_billing_key(iamport, billing_key, sandbox):
    deleted = iamport.delete_billing_key("cust_good", reason="고객 요청")

    assert deleted.customer_uid == "cust_good"
    with pytest.raises(NotFound):
        iamport.get_billing_key("cust_good")
    [call] = [c for c in sandbox.requests_log() if c["method"] == "DELETE"]
    assert call["query"] == ["reason"]


def test_issue_with_bad_card_is_rejected_with_code_and_message(iamport):
    with pytest.raises(Rejected) as caught:
        issue(iamport, "cust_bad", card_number="1234")

    assert caught.value.code not in (None, 0)
    assert caught.value.message
    assert not isinstance(caught.value, NotFound)


# -- charges --------------------------------------------------------------------------------


def test_pay_again_approves(iamport, billing_key):
    payment = iamport.pay_again(
        customer_uid="cust_good", merchant_uid="order_1", amount=8900, name="월간 이용권",
        buyer_name="홍길동", buyer_email="hong@example.com", buyer_tel="01012345678",
        custom_data={"plan": "monthly"}, notice_url="https://shop.test/webhook",
    )

    assert payment.status == "paid"
    assert payment.amount == 8900 and payment.refundable_amount == 8900
    assert payment.customer_uid == "cust_good"
    assert payment.paid_at is not None and payment.failed_at is None
    assert payment.custom_data == '{"plan":"monthly"}'


def test_declined_card_is_a_failed_payment_not_an_error(iamport):
    issue(iamport, "cust_declines", card_number=DECLINED_CARD)

    payment = charge(iamport, "order_declined", customer_uid="cust_declines")

    assert payment.status == "failed"
    assert payment.fail_reason
    assert payment.failed_at is not None and payment.paid_at is None


def test_scripted_decline_behaviour(iamport, billing_key, sandbox):
    sandbox.decline("cust_good")

    assert charge(iamport, "order_scripted").status == "failed"


def test_pay_again_with_unknown_key_is_not_found(iamport):
    with pytest.raises(NotFound) as caught:
        charge(iamport, "order_x", customer_uid="cust_nobody")

    assert caught.value.code == 1


def test_amounts_must_be_integer_krw(iamport):
    with pytest.raises(TypeError):
        charge(iamport, "order_float", amount=8900.0)
    with pytest.raises(ValueError):
        charge(iamport, "order_zero", amount=0)


# -- schedules ------------------------------------------------------------------------------


def schedule(iamport, sandbox, *merchant_uids: str, days: int = 1) -> list[Schedule]:
    return iamport.schedule_payments(
        "cust_good",
        [ScheduleRequest(uid, sandbox.at(days=days + i), 8900, "월간 이용권",
                         buyer_name="홍길동", custom_data='{"period":1}')
         for i, uid in enumerate(merchant_uids)],
    )


def test_schedule_payments_and_get_schedule(iamport, billing_key, sandbox):
    moment = sandbox.at(days=1)
    [created] = iamport.schedule_payments(
        "cust_good", [ScheduleRequest("sched_1", moment, 8900, "월간 이용권")])

    assert created.schedule_status == "scheduled"
    assert created.payment_status is None
    assert created.schedule_at == moment.replace(microsecond=0)
    assert iamport.get_schedule("sched_1") == created


def test_get_unknown_schedule_is_not_found(iamport):
    with pytest.raises(NotFound):
        iamport.get_schedule("sched_nobody")


def test_unschedule_named_and_all(iamport, billing_key, sandbox):
    schedule(iamport, sandbox, "sched_a", "sched_b", "sched_c")

    [revoked] = iamport.unschedule_payments("cust_good", ["sched_a"])
    rest = iamport.unschedule_payments("cust_good")

    assert revoked.merchant_uid == "sched_a" and revoked.schedule_status == "revoked"
    assert revoked.revoked_at is not None
    assert sorted(s.merchant_uid for s in rest) == ["sched_b", "sched_c"]


def test_unschedule_with_nothing_to_revoke_is_rejected(iamport, billing_key):
    with pytest.raises(Rejected) as caught:
        iamport.unschedule_payments("cust_good")

    assert caught.value.code == 1


def test_update_schedule_time(iamport, billing_key, sandbox):
    schedule(iamport, sandbox, "sched_move")
    new_time = sandbox.at(days=5)

    moved = iamport.update_schedule_time("sched_move", new_time)

    assert moved.schedule_at == new_time.replace(microsecond=0)
    assert moved.schedule_status == "scheduled"


def test_update_schedule_time_in_the_past_is_rejected(iamport, billing_key, sandbox):
    schedule(iamport, sandbox, "sched_past")

    with pytest.raises(Rejected) as caught:
        iamport.update_schedule_time("sched_past", sandbox.at(days=-1))

    assert caught.value.http_status == 400


def test_executed_failed_schedule_can_be_retried_and_rescheduled(iamport, billing_key,
                                                                    sandbox):
    schedule(iamport, sandbox, "sched_fail", "sched_fail_2")
    sandbox.decline("cust_good")
    sandbox.advance(3 * 86400)
    assert sorted(sandbox.run_due()) == ["sched_fail", "sched_fail_2"]
    failed = iamport.get_schedule("sched_fail")
    assert (failed.schedule_status, failed.payment_status) == ("executed", "failed")
    assert failed.fail_reason

    sandbox.control("PUT", "/customers/cust_good/behavior", {"outcome": "approve"})
    retried = iamport.retry_schedule("sched_fail")
    again_later = iamport.reschedule("sched_fail_2", sandbox.at(days=1))

    assert retried.status == "paid" and retried.merchant_uid == "sched_fail"
    assert again_later.schedule_status == "scheduled"


def test_list_schedules_by_time_range(iamport, billing_key, sandbox):
    schedule(iamport, sandbox, "sched_1", "sched_2", "sched_3")
    iamport.unschedule_payments("cust_good", ["sched_2"])
    start, end = sandbox.now(), sandbox.at(days=10)

    page = iamport.list_schedules(schedule_from=start, schedule_to=end)
    revoked = iamport.list_schedules(schedule_from=start, schedule_to=end,
                                     schedule_status="revoked", limit=5)

    assert isinstance(page, Page) and page.total == 3
    assert {s.merchant_uid for s in page.items} == {"sched_1", "sched_2", "sched_3"}
    assert [s.merchant_uid for s in revoked.items] == ["sched_2"]


def test_list_customer_schedules(iamport, billing_key, sandbox):
    schedule(iamport, sandbox, "sched_1", "sched_2")
    start, end = sandbox.now(), sandbox.at(days=10)

    page = iamport.list_customer_schedules("cust_good", schedule_from=start, schedule_to=end)
    scheduled = iamport.list_customer_schedules("cust_good", schedule_from=start,
                                                schedule_to=end, schedule_status="scheduled")
    [call] = [c for c in sandbox.requests_log() if c["path"].endswith("/schedules")][:1]

    assert page.total == 2 and scheduled.total == 2
    assert sorted(call["query"]) == ["from", "page", "to"]


def test_schedule_range_needs_aware_datetimes(iamport):
    with pytest.raises(ValueError):
        iamport.list_schedules(schedule_from=datetime(2024, 1, 1),
                               schedule_to=datetime(2024, 2, 1))


# -- payments -------------------------------------------------------------------------------


def test_get_and_find_payment(iamport, billing_key):
    paid = charge(iamport, "order_find")

    assert iamport.get_payment(paid.imp_uid) == paid
    assert iamport.find_payment("order_find") == paid
    assert iamport.find_payment("order_find", "paid") == paid
    with pytest.raises(NotFound):
        iamport.find_payment("order_find", "cancelled")


def test_unknown_payment_is_not_found(iamport):
    with pytest.raises(NotFound) as caught:
        iamport.get_payment("imp_000000000000")

    assert caught.value.http_status == 404


def test_get_payments_by_ids_returns_found_ones(iamport, billing_key):
    one, two = charge(iamport, "order_a"), charge(iamport, "order_b")

    found = iamport.get_payments(imp_uids=[one.imp_uid, "imp_000000000000"],
                                 merchant_uids=["order_b"])

    assert sorted(p.imp_uid for p in found) == sorted([one.imp_uid, two.imp_uid])
    assert iamport.get_payments(imp_uids=["imp_000000000000"]) == []
    assert iamport.get_payments() == []


def test_list_payments_by_status_and_range(iamport, billing_key, sandbox):
    charge(iamport, "order_1")
    charge(iamport, "order_2")
    sandbox.decline("cust_good")
    charge(iamport, "order_3")

    everything = iamport.list_payments()
    paid = iamport.list_payments("paid", since=sandbox.at(hours=-1), until=sandbox.at(hours=1),
                                 limit=10)

    assert everything.total == 3
    assert sorted(p.merchant_uid for p in paid.items) == ["order_1", "order_2"]


def test_list_customer_payments(iamport, billing_key):
    charge(iamport, "order_1")

    page = iamport.list_customer_payments("cust_good")

    assert [p.merchant_uid for p in page.items] == ["order_1"]
    assert page.previous is None and page.next is None


def test_iter_pages_walks_every_page(iamport, billing_key):
    for n in range(45):
        charge(iamport, f"order_{n:02d}", amount=1000 + n)

    first = iamport.list_customer_payments("cust_good")
    everything = list(iamport.iter_pages(
        lambda page: iamport.list_customer_payments("cust_good", page=page)))
    small_pages = list(iamport.iter_pages(
        lambda page: iamport.list_payments("paid", page=page, limit=7)))

    assert (first.total, first.next, len(first.items)) == (45, 2, 20)
    assert sorted(p.merchant_uid for p in everything) == [f"order_{n:02d}" for n in range(45)]
    assert len(small_pages) == 45 and len({p.imp_uid for p in small_pages}) == 45


def test_partial_then_full_refund(iamport, billing_key):
    paid = charge(iamport, "order_refund", amount=10000)

    partial = iamport.cancel_payment(imp_uid=paid.imp_uid, amount=3000,
                                     checksum=paid.refundable_amount, reason="부분 환불")
    rest = iamport.cancel_payment(merchant_uid="order_refund",
                                  checksum=partial.refundable_amount, reason="전액 환불")

    assert (partial.cancel_amount, partial.refundable_amount) == (3000, 7000)
    assert [entry.amount for entry in partial.cancel_history] == [3000]
    assert partial.cancel_history[0].reason == "부분 환불"
    assert rest.status == "cancelled" and rest.refundable_amount == 0
    assert [entry.amount for entry in rest.cancel_history] == [3000, 7000]


def test_refund_with_stale_checksum_is_rejected(iamport, billing_key):
    paid = charge(iamport, "order_checksum", amount=10000)
    iamport.cancel_payment(imp_uid=paid.imp_uid, amount=1000)

    with pytest.raises(Rejected) as caught:
        iamport.cancel_payment(imp_uid=paid.imp_uid, amount=1000, checksum=10000)

    assert caught.value.code not in (None, 0)
    assert iamport.get_payment(paid.imp_uid).cancel_amount == 1000


def test_refund_of_unknown_payment_is_not_found(iamport):
    with pytest.raises(NotFound):
        iamport.cancel_payment(imp_uid="imp_000000000000", reason="x")


def test_cancel_needs_an_id(iamport):
    with pytest.raises(ValueError):
        iamport.cancel_payment(reason="no id")


# -- configuration --------------------------------------------------------------------------


def test_from_config_reads_iamport_settings(sandbox, recorder):
    session = requests.Session()
    session.mount(API_URL, recorder)
    client = IamportClient.from_config(
        {"IAMPORT_API_URL": API_URL + "/", "IAMPORT_IMP_KEY": IMP_KEY,
         "IAMPORT_IMP_SECRET": IMP_SECRET, "IAMPORT_CONNECT_TIMEOUT": 1.5,
         "IAMPORT_READ_TIMEOUT": "7"},
        session=session,
    )

    assert client.timeout == (1.5, 7.0)
    assert client.base_url == "https://api.iamport.kr"
    assert client.get_token()


def test_schedule_request_times_are_sent_as_unix_seconds(iamport, billing_key, recorder):
    moment = datetime(2031, 1, 1, 9, 0, tzinfo=UTC) + timedelta(seconds=0.7)

    iamport.schedule_payments("cust_good", [ScheduleRequest("sched_unix", moment, 100, "x")])

    [call] = recorder.calls("POST", "/subscribe/payments/schedule")
    assert call.body["schedules"][0]["schedule_at"] == int(moment.timestamp())
    assert call.body["schedules"][0]["currency"] == "KRW"
