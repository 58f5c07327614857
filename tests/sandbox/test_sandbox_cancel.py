"""Refunds through ``POST /payments/cancel``: full, partial, checksum and refusals."""

import pytest


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
    assert cancel(api).status_code == 400


def test_a_failed_payment_cannot_be_refunded(api):
    api.issue_key("cust_1", "4518-4200-0000-0002")
    failed = api.again("cust_1", "order_1").json()["response"]

    assert cancel(api, imp_uid=failed["imp_uid"]).json()["message"] == \
        "취소할 결제건이 존재하지 않습니다."


def test_webhook_only_when_enable_webhook_is_true(api, state, receiver, paid):
    state.run_due()
    receiver.calls.clear()
    cancel(api, imp_uid=paid["imp_uid"], amount=1000)
    state.run_due()
    assert receiver.calls == []

    refunded = api.post("/payments/cancel", data={"imp_uid": paid["imp_uid"], "amount": "1000",
                                                  "enable_webhook": "true"}).json()["response"]
    state.run_due()

    assert receiver.calls[0]["json"] == {
        "imp_uid": paid["imp_uid"], "merchant_uid": "order_1", "status": "cancelled",
        "cancellation_id": refunded["cancel_history"][-1]["cancellation_id"]}


def test_refunding_a_scheduled_payment_marks_its_schedule(api, state):
    api.issue_key("cust_1")
    api.schedule("cust_1", ("sub_1", state.now() + 10))
    state.advance(10)
    state.run_due()
    schedule = api.get("/subscribe/payments/schedule/sub_1").json()["response"]

    cancel(api, imp_uid=schedule["imp_uid"])

    after = api.get("/subscribe/payments/schedule/sub_1").json()["response"]
    assert (after["schedule_status"], after["payment_status"]) == ("executed", "cancelled")
