"""The access token: cached, refreshed before expiry or after a 401, fetched once under load."""

from __future__ import annotations

import threading

import pytest

from dashboard.iamport import AuthenticationFailed

TOKEN_PATH = "/users/getToken"


def token_fetches(recorder) -> int:
    return len(recorder.calls("POST", TOKEN_PATH))


def test_one_token_serves_many_calls(iamport, billing_key, recorder):
    for _ in range(5):
        iamport.get_billing_key("cust_good")
    iamport.list_customer_payments("cust_good")

    assert token_fetches(recorder) == 1
    authorizations = [e for e in recorder.exchanges if e.path != TOKEN_PATH]
    assert all(e.status == 200 for e in authorizations)


def test_token_is_refreshed_before_it_expires_on_the_local_clock(make_client, sandbox,
                                                                 recorder):
    # The client's clock follows the sandbox's, so it sees the 30 minutes pass by itself.
    iamport = make_client(clock=lambda: sandbox.state.now())
    iamport.get_token()
    iamport.get_billing_keys(["cust_x"])

    sandbox.advance(29 * 60)  # within token_margin (60 s) of expiry: refresh early
    iamport.get_billing_keys(["cust_x"])
    iamport.get_billing_keys(["cust_x"])

    assert token_fetches(recorder) == 2
    assert not [e for e in recorder.exchanges if e.status == 401]


def test_token_lifetime_is_measured_on_the_local_clock_not_the_servers(make_client, recorder):
    # A client clock far from the server's: the lifetime (expired_at - now) still applies.
    local = [1_000.0]
    iamport = make_client(clock=lambda: local[0], token_margin=60)
    iamport.get_token()

    local[0] += 1800 - 61
    iamport.get_token()
    assert token_fetches(recorder) == 1

    local[0] += 2
    iamport.get_token()
    assert token_fetches(recorder) == 2


def test_token_expired_on_the_server_is_refreshed_once_after_a_401(iamport, billing_key,
                                                                  sandbox, recorder):
    sandbox.advance(31 * 60)  # the server's token expires; the client's clock did not move

    key = iamport.get_billing_key("cust_good")

    assert key.customer_uid == "cust_good"
    gets = recorder.calls("GET", "/subscribe/customers/cust_good")
    assert [e.status for e in gets] == [401, 200]
    assert token_fetches(recorder) == 2


def test_a_single_401_is_answered_by_a_refresh_and_one_repeat(iamport, billing_key, sandbox,
                                                              recorder):
    sandbox.fault("^/subscribe/customers/cust_good$", status=401, count=1)

    assert iamport.get_billing_key("cust_good").customer_uid == "cust_good"
    gets = recorder.calls("GET", "/subscribe/customers/cust_good")
    assert [e.status for e in gets] == [401, 200]


def test_a_401_on_a_charge_repeats_it_once_and_charges_once(iamport, billing_key, sandbox,
                                                            recorder):
    sandbox.fault("^/subscribe/payments/again$", status=401, count=1)

    payment = iamport.pay_again(customer_uid="cust_good", merchant_uid="order_401",
                                amount=5000, name="월간 이용권")

    assert payment.status == "paid"
    assert [e.status for e in recorder.calls("POST", "/subscribe/payments/again")] == [401, 200]
    assert iamport.list_customer_payments("cust_good").total == 1


def test_a_401_that_persists_after_a_refresh_is_authentication_failed(iamport, billing_key,
                                                                      sandbox, recorder):
    sandbox.fault("^/payments/find/", status=401, count=5)

    with pytest.raises(AuthenticationFailed) as caught:
        iamport.find_payment("order_1")

    assert caught.value.http_status == 401
    assert len(recorder.calls("GET", "/payments/find/order_1")) == 2


def test_wrong_credentials_are_authentication_failed(make_client, recorder):
    iamport = make_client(imp_secret="not-the-secret")

    with pytest.raises(AuthenticationFailed) as caught:
        iamport.get_payment("imp_123")

    assert caught.value.path == TOKEN_PATH
    assert token_fetches(recorder) == 1  # a refused credential is not retried
    assert not recorder.calls("GET", "/payments/imp_123")


def test_missing_credentials_are_authentication_failed(make_client):
    with pytest.raises(AuthenticationFailed):
        make_client(imp_key="", imp_secret="").get_token()


def test_concurrent_callers_share_one_token_fetch(make_client, billing_key, sandbox, recorder):
    iamport = make_client()  # a new client: no token yet
    recorder.exchanges.clear()
    # A slow token endpoint makes every thread arrive while the first fetch is in flight.
    sandbox.fault("^/users/getToken$", delay=0.1, count=8)
    barrier = threading.Barrier(8)
    results, errors = [], []

    def call():
        barrier.wait()
        try:
            results.append(iamport.get_billing_key("cust_good").customer_uid)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert not errors
    assert results == ["cust_good"] * 8
    assert token_fetches(recorder) == 1
