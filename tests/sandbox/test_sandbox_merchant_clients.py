"""Merchants' own iamport clients, unchanged but for their base URL, against a running sandbox.

The sandbox is served over real HTTP on a free loopback port. ``iamport-rest-client`` (iamport's
Python client) and ``iamporter`` (kde713's) each run a KCP billing flow: token, key issue,
``again`` paid and declined, ``onetime``, schedule, unschedule, look-ups, partial and full
refund, and the refusals on record. Every step is checked against what the sandbox recorded.
"""

from __future__ import annotations

import pytest
import requests
from flask import request
from iamporter import IamportAuth, Iamporter
from iamporter.api import Payments, Subscribe
from iamporter.errors import ImpApiError, ImpUnAuthorized

from dashboard.iamport.sandbox import create_sandbox_app
from dashboard.iamport.sandbox.server import start_in_thread
from tests.contract.schema import SchemaMismatch, validate_response

from .conftest import DECLINED_CARD, GOOD_CARD, WEBHOOK_URL

# The key spelled as iamport's public test key is; the secret is the merchant's own.
IMP_KEY = "imp_apikey"
IMP_SECRET = "merchant-test-secret"
NOT_FOUND = "요청하신 customer_uid(nobody)로 등록된 정보를 찾을 수 없습니다."
BAD_NUMBER = "유효하지않은 카드번호를 입력하셨습니다."
LUHN_FAILS = "1234-1234-1234-1234"


@pytest.fixture
def running(webhook_session):
    """Serve a sandbox on 127.0.0.1 (port chosen by the OS); yield (base_url, state).

    Every API answer it gives is checked against the schema subset, as the in-process tests'
    answers are.
    """
    app = create_sandbox_app(IMP_KEY, IMP_SECRET, webhook_url=WEBHOOK_URL,
                             webhook_session=webhook_session)
    mismatches = []

    @app.after_request
    def check_against_the_schema(response):
        if not request.path.startswith("/_sandbox"):
            try:
                validate_response(request.method, request.path, response.status_code,
                                  response.get_json())
            except SchemaMismatch as mismatch:
                mismatches.append(str(mismatch))
        return response

    state = app.extensions["iamport_sandbox"]
    state.freeze_clock()
    base_url, stop = start_in_thread(app)
    yield base_url, state
    stop()
    assert mismatches == []


@pytest.fixture
def Iamport():
    """Return iamport-rest-client's class (installed by .ci/run with --no-deps, see pyproject)."""
    return pytest.importorskip(
        "iamport", reason="pip install --no-deps iamport-rest-client==0.9.0").Iamport


def webhook_statuses(receiver, state) -> list[tuple[str, str]]:
    state.deliver_webhooks()
    return [(call["json"]["merchant_uid"], call["json"]["status"]) for call in receiver.calls]


# ------------------------------------------------------------------------ iamport-rest-client

def test_iamport_rest_client_runs_a_kcp_billing_flow(running, receiver, Iamport):
    base_url, state = running
    iamport = Iamport(imp_key=IMP_KEY, imp_secret=IMP_SECRET, imp_url=base_url + "/")

    key = iamport.customer_create(customer_uid="p1_cust", card_number=GOOD_CARD,
                                  expiry="2030-12", birth="880101", pwd_2digit="12",
                                  customer_name="홍길동")
    assert state.get_customer("p1_cust")["card_number"] == key["card_number"] == \
        "557042******7221"
    assert iamport.customer_get("p1_cust")["customer_name"] == "홍길동"

    paid = iamport.pay_again(customer_uid="p1_cust", merchant_uid="p1_paid", amount=9900,
                             name="월간 이용권")
    assert paid["status"] == "paid"
    assert state.get_payment(paid["imp_uid"])["status"] == "paid"
    assert iamport.is_paid(9900, merchant_uid="p1_paid")
    assert iamport.find_by_imp_uid(paid["imp_uid"])["merchant_uid"] == "p1_paid"

    iamport.customer_create(customer_uid="p1_declines", card_number=DECLINED_CARD,
                            expiry="2030-12", birth="880101", pwd_2digit="12")
    declined = iamport.pay_again(customer_uid="p1_declines", merchant_uid="p1_declined",
                                 amount=9900, name="월간 이용권")
    assert (declined["status"], declined["fail_reason"]) == ("failed", "[CC10] 통장 잔액부족")
    assert state.find_payment("p1_declined")["status"] == "failed"

    first = iamport.pay_onetime(merchant_uid="p1_first", amount=9900, card_number=GOOD_CARD,
                                expiry="2030-12", birth="880101", pwd_2digit="12",
                                customer_uid="p1_onetime", name="첫 달")
    assert (first["status"], first["customer_uid"]) == ("paid", "p1_onetime")
    assert state.get_customer("p1_onetime")["customer_uid"] == "p1_onetime"

    now = state.now()
    created = iamport.pay_schedule(customer_uid="p1_cust", schedules=[
        {"merchant_uid": "p1_s1", "schedule_at": now + 3600, "amount": 9900, "name": "2월"},
        {"merchant_uid": "p1_s2", "schedule_at": now + 7200, "amount": 9900, "name": "3월"}])
    assert [s["merchant_uid"] for s in created] == ["p1_s1", "p1_s2"]
    revoked = iamport.pay_unschedule(customer_uid="p1_cust", merchant_uid=["p1_s2"])
    assert [s["schedule_status"] for s in revoked] == ["revoked"]
    assert state.get_schedule("p1_s2")["schedule_status"] == "revoked"
    assert iamport.pay_schedule_get("p1_s1")["schedule_status"] == "scheduled"
    between = iamport.pay_schedule_get_between(schedule_from=now, schedule_to=now + 86400)
    assert {s["merchant_uid"] for s in between["list"]} == {"p1_s1", "p1_s2"}

    state.advance(3600)
    assert state.run_due() == ["p1_s1"]
    scheduled = iamport.find_by_merchant_uid("p1_s1")
    assert (scheduled["status"], scheduled["customer_uid_usage"]) == ("paid",
                                                                      "payment.scheduled")

    partial = iamport.cancel("일부 환불", imp_uid=paid["imp_uid"], amount=3000, checksum=9900)
    assert partial["cancel_amount"] == 3000
    full = iamport.cancel_by_merchant_uid("p1_paid", "나머지 환불")
    assert full["cancel_amount"] == 9900
    assert [entry["amount"] for entry in state.get_payment(paid["imp_uid"])["cancel_history"]] \
        == [3000, 6900]

    assert iamport.prepare(merchant_uid="p1_order", amount=15000)["amount"] == 15000
    assert iamport.prepare_validate(merchant_uid="p1_order", amount=15000) is True

    assert webhook_statuses(receiver, state) == [
        ("p1_paid", "paid"), ("p1_first", "paid"), ("p1_s1", "paid")]


def test_iamport_rest_client_sees_the_refusals_on_record(running, Iamport):
    base_url, state = running
    iamport = Iamport(imp_key=IMP_KEY, imp_secret=IMP_SECRET, imp_url=base_url + "/")

    # A ResponseError is this client's name for HTTP 200 with a non-zero code.
    with pytest.raises(Iamport.ResponseError) as bad_number:
        iamport.customer_create(customer_uid="p1_bad", card_number=LUHN_FAILS,
                                expiry="2030-12", birth="880101")
    assert (bad_number.value.code, bad_number.value.message) == (-1, BAD_NUMBER)
    with pytest.raises(Iamport.ResponseError) as bad_onetime:
        iamport.pay_onetime(merchant_uid="p1_x", amount=1000, card_number=LUHN_FAILS,
                            expiry="2030-12", birth="880101", pwd_2digit="12")
    assert (bad_onetime.value.code, bad_onetime.value.message) == (-1, BAD_NUMBER)
    with pytest.raises(Iamport.ResponseError) as no_name:
        iamport.pay_again(customer_uid="nobody", merchant_uid="p1_y", amount=1000)
    assert no_name.value.code == -1
    for call in (iamport.customer_get, iamport.customer_delete):
        with pytest.raises(Iamport.ResponseError) as unknown:
            call("nobody")
        assert (unknown.value.code, unknown.value.message) == (1, NOT_FOUND)
    with pytest.raises(Iamport.HttpError) as no_credentials:
        Iamport(imp_key="", imp_secret="", imp_url=base_url + "/").customer_get("x")
    assert no_credentials.value.code == 400
    assert state.summary()["customers"] == 0
    assert state.summary()["payments"] == {}


# ---------------------------------------------------------------------------------- iamporter

def test_iamporter_runs_a_kcp_billing_flow(running, receiver):
    base_url, state = running
    # The Node clients spell the public test key imp_apiKey; the sandbox matches either case.
    client = Iamporter(imp_key="imp_apiKey", imp_secret=IMP_SECRET, imp_url=base_url)
    # iamporter has no schedule calls of its own; its API classes send any form-encoded call.
    subscribe = Subscribe(auth=client.imp_auth, session=requests.Session(), imp_url=base_url)

    key = client.create_billkey(customer_uid="kd_cust", card_number=GOOD_CARD,
                                expiry="2030-12", birth="880101", pwd_2digit="12",
                                customer_info={"name": "김철수", "tel": "01098765432"})
    assert state.get_customer("kd_cust")["customer_tel"] == key["customer_tel"] == "01098765432"
    assert client.find_billkey(customer_uid="kd_cust")["card_name"] == "KB국민카드"

    paid = client.create_payment(merchant_uid="kd_paid", customer_uid="kd_cust",
                                 name="월간 이용권", amount=9900)
    assert state.get_payment(paid["imp_uid"])["status"] == "paid"
    client.create_billkey(customer_uid="kd_declines", card_number=DECLINED_CARD,
                          expiry="2030-12", birth="880101", pwd_2digit="12")
    declined = client.create_payment(merchant_uid="kd_declined", customer_uid="kd_declines",
                                      name="월간 이용권", amount=9900)
    assert declined["status"] == "failed"
    assert state.find_payment("kd_declined")["fail_reason"] == "[CC10] 통장 잔액부족"
    first = client.create_payment(merchant_uid="kd_first", customer_uid="kd_onetime",
                                  name="첫 달", amount=9900, card_number=GOOD_CARD,
                                  expiry="2030-12", birth="880101", pwd_2digit="12")
    assert (first["status"], first["customer_uid_usage"]) == ("paid", "payment")
    assert state.get_customer("kd_onetime")["card_number"] == "557042******7221"

    now = state.now()
    created = subscribe._post("/payments/schedule", **{
        "customer_uid": "kd_cust",
        "schedules[0][merchant_uid]": "kd_s1", "schedules[0][schedule_at]": now + 600,
        "schedules[0][amount]": 9900, "schedules[0][name]": "2월",
        "schedules[1][merchant_uid]": "kd_s2", "schedules[1][schedule_at]": now + 1200,
        "schedules[1][amount]": 9900, "schedules[1][name]": "3월"})
    assert created.is_succeed and len(created.data) == 2
    revoked = subscribe._post("/payments/unschedule", **{"customer_uid": "kd_cust",
                                                         "merchant_uid[]": "kd_s2"})
    assert [s["merchant_uid"] for s in revoked.data] == ["kd_s2"]
    assert state.get_schedule("kd_s2")["schedule_status"] == "revoked"
    state.advance(600)  # within the token's 30 minutes: iamporter never renews its token
    assert state.run_due() == ["kd_s1"]
    assert client.find_payment(merchant_uid="kd_s1")["status"] == "paid"
    history = subscribe.get_customers_payments("kd_cust")
    assert {p["merchant_uid"] for p in history.data["list"]} == {"kd_paid", "kd_s1"}

    partial = client.cancel_payment(imp_uid=paid["imp_uid"], amount=3000, reason="일부 환불")
    assert (partial["status"], partial["cancel_amount"]) == ("cancelled", 3000)
    full = client.cancel_payment(merchant_uid="kd_paid", reason="나머지 환불")
    assert full["cancel_amount"] == 9900
    assert state.get_payment(paid["imp_uid"])["cancel_amount"] == 9900

    deleted = client.delete_billkey(customer_uid="kd_declines")
    assert deleted["customer_uid"] == "kd_declines"
    assert state.get_customers(["kd_declines"]) == ([], ["kd_declines"])
    assert webhook_statuses(receiver, state) == [
        ("kd_paid", "paid"), ("kd_first", "paid"), ("kd_s1", "paid")]


def test_iamporter_sees_the_refusals_on_record(running):
    base_url, state = running
    client = Iamporter(imp_key=IMP_KEY, imp_secret=IMP_SECRET, imp_url=base_url)
    subscribe = Subscribe(auth=client.imp_auth, session=requests.Session(), imp_url=base_url)
    payments = Payments(auth=client.imp_auth, session=requests.Session(), imp_url=base_url)

    with pytest.raises(ImpApiError) as bad_number:
        client.create_billkey(customer_uid="kd_bad", card_number=LUHN_FAILS, expiry="2030-12",
                              birth="880101")
    assert (bad_number.value.response.status, bad_number.value.response.code) == (200, -1)
    assert bad_number.value.response.message == BAD_NUMBER
    with pytest.raises(ImpApiError) as bad_onetime:
        client.create_payment(merchant_uid="kd_x", name="x", amount=1000,
                              card_number=LUHN_FAILS, expiry="2030-12", birth="880101")
    assert bad_onetime.value.response.message == BAD_NUMBER
    for call in (client.find_billkey, client.delete_billkey):
        with pytest.raises(ImpApiError) as unknown:
            call(customer_uid="nobody")
        assert (unknown.value.response.status, unknown.value.response.code) == (200, 1)
        assert unknown.value.response.message == NOT_FOUND

    no_name = subscribe.post_payments_again("nobody", "kd_y", 1000, None)
    assert (no_name.status, no_name.code) == (200, -1)
    no_target = payments.post_cancel(reason="고객 요청")
    assert no_target.status == 200 and no_target.code != 0
    assert no_target.message.endswith("지정해주셔야합니다.")
    with pytest.raises(ImpUnAuthorized) as no_credentials:
        IamportAuth("", "", imp_url=base_url)
    assert no_credentials.value.message == "imp_key, imp_secret 파라메터가 누락되었습니다."
    with pytest.raises(ImpUnAuthorized):
        IamportAuth(IMP_KEY, "wrong-secret", imp_url=base_url)
    assert state.summary()["customers"] == 0
    assert state.summary()["payments"] == {}


# ------------------------------------------------------------------------------ other headers

def test_the_token_header_older_iamport_clients_send_is_served(running):
    base_url, _ = running
    token = requests.post(f"{base_url}/users/getToken", json={
        "imp_key": IMP_KEY, "imp_secret": IMP_SECRET}).json()["response"]["access_token"]

    answer = requests.get(f"{base_url}/subscribe/customers/nobody",
                          headers={"X-ImpTokenHeader": token})

    assert (answer.status_code, answer.json()["message"]) == (200, NOT_FOUND)
