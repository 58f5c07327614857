"""Charging a billing key with ``/subscribe/payments/again``: approvals, declines, duplicates."""

from .conftest import DECLINED_CARD, WEBHOOK_URL


def test_approved_charge_is_a_paid_api_payment_and_sends_a_paid_webhook(api, state, receiver):
    api.issue_key("cust_1")

    response = api.again("cust_1", "order_1", 8900, buyer_email="hong@example.com",
                         custom_data={"plan": "monthly"})
    payment = response.json()["response"]

    assert response.json()["code"] == 0 and response.json()["message"] is None
    assert payment["imp_uid"].startswith("imp_") and len(payment["imp_uid"]) == 16
    assert payment["status"] == "paid"
    assert (payment["channel"], payment["pay_method"]) == ("api", "card")
    assert payment["customer_uid_usage"] == "payment"
    assert payment["paid_at"] == payment["started_at"] == state.now()
    assert (payment["failed_at"], payment["cancelled_at"], payment["cancel_amount"]) == (0, 0, 0)
    assert payment["pg_tid"].isdigit() and len(payment["pg_tid"]) == 14
    assert payment["receipt_url"].startswith("https://admin8.kcp.co.kr/assist/bill.BillAction")
    assert f"tno={payment['pg_tid']}" in payment["receipt_url"]
    assert payment["card_number"] == "557042******7221"
    assert payment["custom_data"] == '{"plan": "monthly"}'
    assert payment["buyer_email"] == "hong@example.com"
    assert "sandbox" not in payment

    assert state.run_due() == []  # sends what is due, executes nothing
    assert [call["json"] for call in receiver.calls] == [
        {"imp_uid": payment["imp_uid"], "merchant_uid": "order_1", "status": "paid"}]
    assert receiver.calls[0]["path"] == "/iamport/webhook"


def test_card_ending_0002_is_declined_with_a_kcp_reason_and_no_webhook(api, state, receiver):
    api.issue_key("cust_1", DECLINED_CARD)

    response = api.again("cust_1", "order_1")
    payment = response.json()["response"]

    assert response.status_code == 200 and response.json()["code"] == 0
    assert payment["status"] == "failed"
    assert payment["fail_reason"] == "[CC10] 통장 잔액부족"
    assert payment["failed_at"] == state.now()
    assert payment["paid_at"] == 0
    assert payment["pg_tid"] is None and payment["receipt_url"] is None
    state.run_due()
    assert receiver.calls == []


def test_behaviour_override_declines_or_approves_any_card(api, session):
    api.issue_key("good")
    api.issue_key("bad", DECLINED_CARD)
    api.put("/_sandbox/customers/good/behavior",
            json={"outcome": "decline", "fail_reason": "[CC08] 1일 한도초과"})
    api.put("/_sandbox/customers/bad/behavior", json={"outcome": "approve"})

    declined = api.again("good", "o1").json()["response"]
    approved = api.again("bad", "o2").json()["response"]

    assert (declined["status"], declined["fail_reason"]) == ("failed", "[CC08] 1일 한도초과")
    assert approved["status"] == "paid"

    api.put("/_sandbox/customers/good/behavior", json={"outcome": "decline"})
    assert api.again("good", "o3").json()["response"]["fail_reason"] == "[CC10] 통장 잔액부족"


def test_unknown_customer_is_refused_with_code_1(api):
    response = api.again("nobody", "order_1")

    assert response.status_code == 200
    assert response.json() == {"code": 1, "message": "등록되지 않은 구매자입니다.",
                               "response": None}


def test_name_and_amount_are_required(api, state):
    api.issue_key("cust_1")

    no_name = api.post("/subscribe/payments/again",
                       json={"customer_uid": "cust_1", "merchant_uid": "o1", "amount": 100})
    zero = api.again("cust_1", "o1", 0)
    long_uid = api.again("cust_1", "o" * 41)

    assert no_name.status_code == 200  # on record: code -1, not a 400
    assert no_name.json() == {"code": -1, "message": "name 파라메터가 누락되었습니다.",
                              "response": None}
    assert state.summary()["payments"] == {}
    assert zero.status_code == 400
    assert long_uid.status_code == 400


def test_form_body_numbers_arrive_as_strings_and_are_coerced(api):
    api.issue_key("cust_1")

    response = api.post("/subscribe/payments/again", data={
        "customer_uid": "cust_1", "merchant_uid": "o1", "amount": "15000", "name": "연간",
        "card_quota": "0", "notice_url": "http://shop.test/custom"})

    assert response.json()["response"]["amount"] == 15000


def test_a_paid_merchant_uid_is_refused_but_a_failed_one_may_be_reused(api):
    api.issue_key("cust_1")
    api.put("/_sandbox/customers/cust_1/behavior", json={"outcome": "decline"})
    failed = api.again("cust_1", "order_1").json()["response"]
    api.put("/_sandbox/customers/cust_1/behavior", json={"outcome": "approve"})

    paid = api.again("cust_1", "order_1").json()["response"]
    duplicate = api.again("cust_1", "order_1")
    attempts = api.get("/payments/findAll/order_1").json()["response"]

    assert failed["status"] == "failed" and paid["status"] == "paid"
    assert paid["imp_uid"] != failed["imp_uid"]
    assert duplicate.status_code == 200
    assert duplicate.json() == {"code": 1, "response": None,
                                "message": "이미 결제완료된 merchant_uid(order_1)입니다."}
    assert attempts["total"] == 2


def test_a_merchant_uid_waiting_in_a_schedule_cannot_be_charged_directly(api, state):
    api.issue_key("cust_1")
    api.schedule("cust_1", ("sub_1", state.now() + 600))

    response = api.again("cust_1", "sub_1")

    assert response.json()["code"] == 1
    assert "sub_1" in response.json()["message"]


def test_notice_url_overrides_the_configured_webhook_url(api, state, receiver):
    api.issue_key("cust_1")

    api.again("cust_1", "o1", notice_url="http://shop.test/per-payment")
    api.again("cust_1", "o2")
    state.run_due()

    assert [call["path"] for call in receiver.calls] == ["/per-payment",
                                                         WEBHOOK_URL.split("shop.test")[1]]
