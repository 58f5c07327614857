"""Refunds through ``POST /payments/cancel``: full, partial, checksum and refusals."""

import pytest

from .conftest import API, DECLINED_CARD


@pytest.fixture
def paid(api):
    api.issue_key("cust_1")
    return api.again("cust_1", "order_1", 10000).json()["response"]


def cancel(api, **body):
    return api.post("/payments/cancel", json=body)


def test_full_refund_when_amount_is_omitted(api, state, paid):
    response = cancel(api, imp_uid=paid["imp_uid"], reason="고객 요청", checksum=10000)

    payment = response.json()["response"]
    assert response.json()["code"] == 0
    assert (payment["status"], payment["cancel_amount"]) == ("cancelled", 10000)
    assert payment["cancelled_at"] == state.now()
    assert payment["cancel_reason"] == "고객 요청"
    entry = payment["cancel_history"][0]
    assert (entry["amount"], entry["reason"], entry["cancelled_at"]) == (10000, "고객 요청",
                                                                       state.now())
    assert entry["cancellation_id"] and entry["pg_tid"].isdigit()
    assert payment["cancel_receipt_urls"] == [entry["receipt_url"]]


def test_partial_refunds_accumulate_and_leave_the_status_cancelled(api, paid):
    first = cancel(api, imp_uid=paid["imp_uid"], amount=3000, checksum=10000).json()["response"]
    second = cancel(api, merchant_uid="order_1", amount="2000").json()["response"]

    assert (first["status"], first["cancel_amount"]) == ("cancelled", 3000)
    assert second["cancel_amount"] == 5000
    assert [e["amount"] for e in second["cancel_history"]] == [3000, 2000]
    rest = cancel(api, imp_uid=paid["imp_uid"], amount=0).json()["response"]
    assert rest["cancel_amount"] == 10000


def test_checksum_must_equal_the_refundable_balance(api, paid):
    cancel(api, imp_uid=paid["imp_uid"], amount=1000)

    stale = cancel(api, imp_uid=paid["imp_uid"], amount=1000, checksum=10000)

    assert stale.status_code == 200
    assert stale.json()["code"] == 1
    assert "9000" in stale.json()["message"]
    assert api.get(f"/payments/{paid['imp_uid']}").json()["response"]["cancel_amount"] == 1000


def test_more_than_the_balance_is_refused(api, paid):
    response = cancel(api, imp_uid=paid["imp_uid"], amount=10001)

    assert response.status_code == 200 and response.json()["code"] == 1
    assert api.get(f"/payments/{paid['imp_uid']}").json()["response"]["status"] == "paid"


def test_fully_refunded_and_unknown_payments_are_refused_with_code_1(api, paid):
    cancel(api, imp_uid=paid["imp_uid"])

    again = cancel(api, imp_uid=paid["imp_uid"])
    unknown = cancel(api, imp_uid="imp_000000000000", merchant_uid="order_1")

    assert again.json() == {"code": 1, "message": "이미 전액취소된 주문입니다.", "response": None}
    assert unknown.json() == {"code": 1, "message": "취소할 결제건이 존재하지 않습니다.",
                              "response": None}



def test_a_cancel_naming_no_payment_is_refused_as_on_record(api, paid):
    response = cancel(api, reason="고객 요청")

    assert response.status_code == 200
    assert response.json()["code"] != 0
    assert response.json()["message"].endswith("지정해주셔야합니다.")
    assert api.get(f"/payments/{paid['imp_uid']}").json()["response"]["cancel_amount"] == 0


def test_a_failed_payment_cannot_be_refunded(api):
    api.issue_key("cust_1", DECLINED_CARD)
    failed = api.again("cust_1", "order_1").json()["response"]

    assert cancel(api, imp_uid=failed["imp_uid"]).json()["message"] == \
        "취소할 결제건이 존재하지 않습니다."


def test_an_api_cancel_sends_no_webhook_and_a_console_refund_does(api, session, state, receiver,
                                                                   paid):
    state.run_due()
    receiver.calls.clear()
    cancel(api, imp_uid=paid["imp_uid"], amount=1000)
    state.run_due()
    assert receiver.calls == []

    answer = session.post(f"{API}/_sandbox/console-refund",
                          json={"imp_uid": paid["imp_uid"], "amount": 2000, "reason": "콘솔 환불"})
    refunded = api.get(f"/payments/{paid['imp_uid']}").json()["response"]

    assert answer.status_code == 200
    assert (refunded["cancel_amount"], refunded["cancel_reason"]) == (3000, "콘솔 환불")
    assert receiver.calls[0]["json"] == {
        "imp_uid": paid["imp_uid"], "merchant_uid": "order_1", "status": "cancelled",
        "cancellation_id": refunded["cancel_history"][-1]["cancellation_id"]}
    assert len(receiver.calls) == 1


def test_the_cancel_api_has_no_enable_webhook_parameter(api, state, receiver, paid):
    state.run_due()
    receiver.calls.clear()

    api.post("/payments/cancel", data={"imp_uid": paid["imp_uid"], "amount": "1000",
                                       "enable_webhook": "true"})
    state.run_due()

    assert receiver.calls == []


def test_a_console_refund_iamport_would_refuse_is_a_409(session, paid):
    refused = session.post(f"{API}/_sandbox/console-refund",
                           json={"imp_uid": paid["imp_uid"], "amount": 10 ** 9})
    unknown = session.post(f"{API}/_sandbox/console-refund", json={"imp_uid": "imp_0"})

    assert refused.status_code == 409 and "취소가능잔액" in refused.json()["error"]
    assert unknown.status_code == 409
    assert session.post(f"{API}/_sandbox/console-refund", json={}).status_code == 400


def test_refunding_a_scheduled_payment_marks_its_schedule(api, state):
    api.issue_key("cust_1")
    api.schedule("cust_1", ("sub_1", state.now() + 10))
    state.advance(10)
    state.run_due()
    schedule = api.get("/subscribe/payments/schedule/sub_1").json()["response"]

    cancel(api, imp_uid=schedule["imp_uid"])

    after = api.get("/subscribe/payments/schedule/sub_1").json()["response"]
    assert (after["schedule_status"], after["payment_status"]) == ("executed", "cancelled")
