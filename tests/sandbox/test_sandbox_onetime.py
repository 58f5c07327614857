"""Key-in charges (``/subscribe/payments/onetime``) and registered amounts (``prepare``)."""

from .conftest import DECLINED_CARD, GOOD_CARD

CARD = {"card_number": GOOD_CARD, "expiry": "2030-12", "birth": "880101", "pwd_2digit": "12"}


def onetime(api, merchant_uid="order_1", amount=12000, **extra):
    body = {"merchant_uid": merchant_uid, "amount": amount, "name": "첫 달 이용권", **CARD,
            **extra}
    return api.post("/subscribe/payments/onetime", json=body)


def test_onetime_with_customer_uid_charges_and_stores_the_key(api, state, receiver):
    response = onetime(api, customer_uid="cust_1", buyer_name="홍길동",
                       buyer_email="hong@example.com")

    payment = response.json()["response"]
    key = api.get("/subscribe/customers/cust_1").json()["response"]
    assert (payment["status"], payment["amount"], payment["channel"]) == ("paid", 12000, "api")
    assert (payment["customer_uid"], payment["customer_uid_usage"]) == ("cust_1", "payment")
    assert payment["card_number"] == key["card_number"] == "557042******7221"
    assert (key["customer_name"], key["customer_email"]) == ("홍길동", "hong@example.com")
    assert (key["pg_provider"], key["pg_id"]) == ("kcp", "BA001")
    state.run_due()
    assert [call["json"]["status"] for call in receiver.calls] == ["paid"]
    again = api.again("cust_1", "order_2").json()["response"]  # the stored key charges again
    assert again["status"] == "paid"


def test_onetime_without_customer_uid_keeps_no_key(api, state):
    payment = onetime(api).json()["response"]

    assert payment["status"] == "paid"
    assert (payment["customer_uid"], payment["customer_uid_usage"]) == (None, None)
    assert state.summary()["customers"] == 0
    assert api.get(f"/payments/{payment['imp_uid']}").json()["response"]["merchant_uid"] == \
        "order_1"


def test_a_declined_onetime_is_a_failed_payment_without_a_webhook(api, state, receiver):
    response = onetime(api, customer_uid="cust_1", card_number=DECLINED_CARD)

    payment = response.json()["response"]
    assert response.json()["code"] == 0
    assert (payment["status"], payment["fail_reason"]) == ("failed", "[CC10] 통장 잔액부족")
    assert api.get("/subscribe/customers/cust_1").json()["code"] == 0  # the key was issued
    state.run_due()
    assert receiver.calls == []


def test_onetime_refuses_bad_card_data_with_code_minus_1_and_stores_nothing(api, state):
    luhn = onetime(api, customer_uid="cust_1", card_number="1234-1234-1234-1234")
    expired = onetime(api, customer_uid="cust_1", expiry="2020-01")

    assert (luhn.status_code, luhn.json()) == (200, {
        "code": -1, "message": "유효하지않은 카드번호를 입력하셨습니다.", "response": None})
    assert expired.status_code == 200
    assert expired.json()["code"] == -1
    assert expired.json()["message"].startswith("카드정보 인증에 실패하였습니다.")
    assert state.summary()["customers"] == 0
    assert state.summary()["payments"] == {}


def test_onetime_refuses_a_paid_merchant_uid_before_storing_a_key(api, state):
    onetime(api)

    repeated = onetime(api, customer_uid="cust_2")

    assert repeated.json()["code"] == 1
    assert state.summary()["customers"] == 0


def test_onetime_needs_merchant_uid_amount_and_card(api):
    for missing in ("merchant_uid", "amount", "card_number", "expiry"):
        body = {"merchant_uid": "o1", "amount": 1000, **CARD}
        del body[missing]
        response = api.post("/subscribe/payments/onetime", json=body)
        assert response.status_code == 400
        assert response.json()["message"] == f"{missing} 파라메터가 누락되었습니다."


def test_prepare_registers_an_amount_once_and_reads_it_back(api):
    first = api.post("/payments/prepare", json={"merchant_uid": "order_9", "amount": 9900})
    second = api.post("/payments/prepare", data={"merchant_uid": "order_9", "amount": "100"})
    read = api.get("/payments/prepare/order_9")
    unknown = api.get("/payments/prepare/nothing")

    assert first.status_code == 200
    assert first.json()["response"] == {"merchant_uid": "order_9", "amount": 9900,
                                        "currency": "KRW"}
    assert (second.status_code, second.json()) == (200, {
        "code": 1, "response": None,
        "message": "결제정보 사전등록에 실패하였습니다(이미 등록된 merchant_uid입니다)."})
    assert read.json()["response"]["amount"] == 9900  # the first registration stands
    assert unknown.status_code == 404
    assert unknown.json() == {"code": 1, "message": "사전등록된 결제정보가 존재하지 않습니다.",
                              "response": None}
