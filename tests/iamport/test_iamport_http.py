"""The client over real HTTP: the sandbox served on 127.0.0.1 from a thread."""

from __future__ import annotations

import time

import pytest
import requests

from dashboard.iamport import IamportClient, NotFound, OutcomeUnknown, Unavailable
from dashboard.iamport.sandbox import create_sandbox_app
from dashboard.iamport.sandbox.server import start_in_thread

from .conftest import GOOD_CARD, IMP_KEY, IMP_SECRET

pytestmark = pytest.mark.e2e


@pytest.fixture
def served():
    """Serve a fresh sandbox over HTTP; yield (base_url, app, stop)."""
    app = create_sandbox_app(IMP_KEY, IMP_SECRET)
    base_url, stop = start_in_thread(app)
    stopped = []

    def stop_once():
        if not stopped:
            stopped.append(True)
            stop()

    yield base_url, app, stop_once
    stop_once()


@pytest.fixture
def session():
    with requests.Session() as session:
        yield session


def make_client(base_url, session, **options) -> IamportClient:
    return IamportClient(base_url, IMP_KEY, IMP_SECRET, session=session, connect_timeout=0.5,
                         read_timeout=options.pop("read_timeout", 2.0), retry_backoff=0.001,
                         **options)


def issue_and_charge(iamport: IamportClient, merchant_uid: str):
    iamport.issue_billing_key("cust_http", card_number=GOOD_CARD, expiry="2030-12",
                              birth="900101", pwd_2digit="12")
    return iamport.pay_again(customer_uid="cust_http", merchant_uid=merchant_uid, amount=8900,
                             name="월간 이용권")


def wait_for_payment(iamport: IamportClient, merchant_uid: str, deadline: float = 3.0):
    give_up = time.monotonic() + deadline
    while True:
        try:
            return iamport.find_payment(merchant_uid)
        except NotFound:
            if time.monotonic() > give_up:
                raise
            time.sleep(0.05)


def test_billing_round_trip_over_http(served, session):
    base_url, app, _ = served
    iamport = make_client(base_url, session)

    paid = issue_and_charge(iamport, "order_http")
    refunded = iamport.cancel_payment(imp_uid=paid.imp_uid, checksum=paid.refundable_amount,
                                      reason="환불")

    assert paid.status == "paid"
    assert refunded.status == "cancelled" and refunded.refundable_amount == 0
    assert iamport.find_payment("order_http").cancel_amount == 8900
    log = app.extensions["iamport_sandbox"].request_log()
    assert [c["path"] for c in log].count("/users/getToken") == 1
    assert all(c["status"] == 200 for c in log)


def test_charge_timing_out_on_the_wire_is_outcome_unknown(served, session):
    base_url, _, _ = served
    iamport = make_client(base_url, session, read_timeout=0.2)
    iamport.issue_billing_key("cust_http", card_number=GOOD_CARD, expiry="2030-12",
                              birth="900101")
    requests.put(f"{base_url}/_sandbox/faults", json={"path": "^/subscribe/payments/again$",
                                                      "delay": 0.4}, timeout=2)

    with pytest.raises(OutcomeUnknown) as caught:
        iamport.pay_again(customer_uid="cust_http", merchant_uid="order_slow", amount=8900,
                          name="월간 이용권")

    assert "ReadTimeout" in str(caught.value)
    # The server is still working on it: the charge lands after the client gave up, which is
    # why an unknown outcome is settled by asking later, never by charging again.
    checker = make_client(base_url, session)
    assert wait_for_payment(checker, "order_slow").status == "paid"


def test_server_down_is_unavailable_even_for_a_charge(served, session):
    # Connection refused proves the request never left: nothing can have been charged.
    base_url, _, stop = served
    iamport = make_client(base_url, session, read_retries=1)
    iamport.get_token()
    stop()
    session.close()  # drop the kept-alive connection, as a restarted server would

    with pytest.raises(Unavailable) as charge:
        iamport.pay_again(customer_uid="cust_http", merchant_uid="order_down", amount=100,
                          name="x")
    with pytest.raises(Unavailable) as read:
        iamport.get_payment("imp_000000000000")

    assert not isinstance(charge.value, OutcomeUnknown)
    assert "NewConnectionError" in str(charge.value)
    assert not isinstance(read.value, OutcomeUnknown)
