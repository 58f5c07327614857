"""The client speaks the official schema: known parameter names out, valid bodies back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboard.iamport import IamportError, ScheduleRequest
from tests.contract.schema import (
    SchemaMismatch,
    request_parameter_names,
    validate_request,
    validate_response,
)

from .conftest import DECLINED_CARD, GOOD_CARD

CLIENT_METHODS = {
    "get_token", "issue_billing_key", "get_billing_key", "get_billing_keys",
    "delete_billing_key", "pay_again", "schedule_payments", "unschedule_payments",
    "get_schedule", "list_schedules", "list_customer_schedules", "update_schedule_time",
    "reschedule", "retry_schedule", "get_payment", "find_payment", "list_payments",
    "list_customer_payments", "get_payments", "cancel_payment",
}


def expect_error(call, *args, **kwargs):
    with pytest.raises(IamportError):
        call(*args, **kwargs)


@pytest.fixture
def scenario(iamport, sandbox):
    """Call every client method with every optional argument, plus refusals and declines."""
    iamport.get_token()
    iamport.issue_billing_key(
        "cust_a", card_number=GOOD_CARD, expiry="2030-12", birth="900101", pwd_2digit="12",
        pg="kcp", customer_name="홍길동", customer_tel="01012345678",
        customer_email="hong@example.com")
    iamport.issue_billing_key("cust_b", card_number=DECLINED_CARD, expiry="2030-12",
                              birth="900101")
    expect_error(iamport.issue_billing_key, "cust_bad", card_number="1234", expiry="2030-12",
                 birth="900101")
    iamport.get_billing_key("cust_a")
    expect_error(iamport.get_billing_key, "cust_missing")
    iamport.get_billing_keys(["cust_a", "cust_b"])
    iamport.get_billing_keys(["cust_a", "cust_missing"])
    iamport.get_billing_keys(["cust_missing"])

    paid = iamport.pay_again(
        customer_uid="cust_a", merchant_uid="order_1", amount=10000, name="월간 이용권",
        buyer_name="홍길동", buyer_email="hong@example.com", buyer_tel="01012345678",
        custom_data={"plan": "monthly"}, notice_url="https://shop.test/webhook")
    iamport.pay_again(customer_uid="cust_b", merchant_uid="order_2", amount=10000, name="x")
    expect_error(iamport.pay_again, customer_uid="cust_missing", merchant_uid="order_3",
                 amount=100, name="x")

    start, end = sandbox.now(), sandbox.at(days=20)
    iamport.schedule_payments("cust_a", [
        ScheduleRequest("sched_1", sandbox.at(days=1), 10000, "월간 이용권", buyer_name="홍길동",
                        buyer_email="hong@example.com", buyer_tel="01012345678",
                        custom_data='{"period":2}', notice_url="https://shop.test/webhook"),
        ScheduleRequest("sched_2", sandbox.at(days=2), 10000, "월간 이용권"),
        ScheduleRequest("sched_3", sandbox.at(days=3), 10000, "월간 이용권"),
    ])
    iamport.schedule_payments("cust_b", [ScheduleRequest("sched_b", sandbox.at(days=1), 100,
                                                         "x")])
    iamport.get_schedule("sched_1")
    expect_error(iamport.get_schedule, "sched_missing")
    iamport.update_schedule_time("sched_1", sandbox.at(days=4))
    expect_error(iamport.update_schedule_time, "sched_1", sandbox.at(days=-4))
    iamport.unschedule_payments("cust_a", ["sched_2"])
    iamport.list_schedules(schedule_from=start, schedule_to=end)
    iamport.list_schedules(schedule_from=start, schedule_to=end, schedule_status="revoked",
                           page=1, limit=10)
    iamport.list_customer_schedules("cust_a", schedule_from=start, schedule_to=end)
    iamport.list_customer_schedules("cust_a", schedule_from=start, schedule_to=end,
                                    schedule_status="scheduled", page=1)
    iamport.reschedule("sched_2", sandbox.at(days=5))
    sandbox.advance(2 * 86400)
    sandbox.run_due()  # sched_b fails on the declined card
    iamport.retry_schedule("sched_b")
    expect_error(iamport.retry_schedule, "sched_missing")
    iamport.unschedule_payments("cust_a")
    expect_error(iamport.unschedule_payments, "cust_a")

    iamport.get_payment(paid.imp_uid)
    expect_error(iamport.get_payment, "imp_000000000000")
    iamport.find_payment("order_1")
    iamport.find_payment("order_1", "paid")
    expect_error(iamport.find_payment, "order_1", "cancelled")
    iamport.list_payments()
    iamport.list_payments("paid", since=sandbox.at(days=-5), until=sandbox.now(), page=1,
                          limit=5)
    iamport.list_customer_payments("cust_a")
    iamport.get_payments(imp_uids=[paid.imp_uid], merchant_uids=["order_2"])
    iamport.get_payments(imp_uids=[paid.imp_uid, "imp_000000000000"])
    iamport.get_payments(merchant_uids=["order_missing"])
    iamport.cancel_payment(imp_uid=paid.imp_uid, amount=3000, checksum=10000, reason="부분")
    expect_error(iamport.cancel_payment, imp_uid=paid.imp_uid, amount=3000, checksum=10000)
    iamport.cancel_payment(merchant_uid="order_1", checksum=7000, reason="나머지")
    expect_error(iamport.cancel_payment, merchant_uid="order_1", reason="again")
    iamport.delete_billing_key("cust_a", reason="고객 요청")
    expect_error(iamport.delete_billing_key, "cust_a")
    return sandbox


def test_scenario_covers_every_client_method(scenario, recorder):
    # Guards the two tests below against a scenario that silently stops calling something.
    paths = {(e.method, e.path) for e in recorder.exchanges}
    assert ("PUT", "/subscribe/payments/schedule/sched_1") in paths
    assert ("DELETE", "/subscribe/customers/cust_a") in paths
    assert len(paths) >= len(CLIENT_METHODS)
    assert {e.status for e in recorder.exchanges} >= {200, 207, 400, 404}


def test_client_sends_only_parameter_names_the_schema_defines(scenario, recorder):
    received = scenario.requests_log()

    assert len(received) == len(recorder.exchanges)  # the sandbox saw every call we made
    for call in received:
        allowed = request_parameter_names(call["method"], call["path"])
        sent = set(call["query"]) | set(call["body"])
        assert sent <= allowed, f"{call['method']} {call['path']}: {sorted(sent - allowed)}"


def test_every_response_the_client_received_matches_the_schema(scenario, recorder):
    for exchange in recorder.exchanges:
        validate_response(exchange.method, exchange.path, exchange.status, exchange.response)


def test_every_request_the_client_built_matches_the_schema(scenario, recorder):
    for exchange in recorder.exchanges:
        validate_request(exchange.method, exchange.path, exchange.query, exchange.body)


def test_the_request_check_enforces_limits():
    """Guards the test above: a body over a limit, or without a required field, is refused."""
    with pytest.raises(SchemaMismatch, match="buyer_name"):
        validate_request("POST", "/subscribe/payments/again", {}, {
            "customer_uid": "c", "merchant_uid": "m", "amount": 1, "name": "x",
            "buyer_name": "Alexandra Montgomery"})
    with pytest.raises(SchemaMismatch, match="buyer_tel"):
        validate_request("POST", "/subscribe/payments/schedule", {}, {
            "customer_uid": "c", "schedules": [{"merchant_uid": "m", "schedule_at": 1,
                                                "amount": 1, "buyer_tel": "0" * 17}]})
    with pytest.raises(SchemaMismatch, match="merchant_uid"):
        validate_request("POST", "/subscribe/payments/again", {}, {
            "customer_uid": "c", "amount": 1, "name": "x"})


LONG_NAME = "Alexandra Montgomery-Wellington 👩‍💻"
LONG_EMAIL = "alexandra.montgomery-wellington.the.third@very-long-company-domain.example"
LONG_TEL = "+82 (0)10-1234-5678 ext. 9"


def test_long_customer_fields_are_fitted_to_the_schema(iamport, recorder):
    iamport.issue_billing_key(
        "cust_long", card_number=GOOD_CARD, expiry="2030-12", birth="900101",
        customer_name=LONG_NAME * 2, customer_tel=LONG_TEL, customer_email=LONG_EMAIL * 3)
    iamport.pay_again(customer_uid="cust_long", merchant_uid="order_long", amount=1000,
                      name="아주 긴 상품 이름 " * 10, buyer_name=LONG_NAME,
                      buyer_email=LONG_EMAIL, buyer_tel=LONG_TEL)
    at = datetime.now(UTC) + timedelta(days=1)
    iamport.schedule_payments("cust_long", [ScheduleRequest(
        "sched_long", at, 1000, "아주 긴 상품 이름 " * 10, buyer_name=LONG_NAME,
        buyer_email=LONG_EMAIL, buyer_tel=LONG_TEL)])
    sent = [e for e in recorder.exchanges if e.path != "/users/getToken"]
    assert [e.status for e in sent] == [200, 200, 200]
    for exchange in sent:
        validate_request(exchange.method, exchange.path, exchange.query, exchange.body)
    again = sent[1].body
    assert again["buyer_name"] == LONG_NAME[:16]
    assert again["buyer_tel"] == LONG_TEL[:16]
    # A cut e-mail address would be someone else's: one that does not fit is left out.
    assert "buyer_email" not in again
    assert sent[0].body["customer_name"] == (LONG_NAME * 2)[:20]
