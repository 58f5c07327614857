"""Injected faults: gateway errors, slow answers (read timeouts) and lost responses."""

import pytest
import requests

from .conftest import API


@pytest.fixture
def key(api):
    api.issue_key("cust_1")
    return "cust_1"


def arm(session, **fault):
    response = session.put(f"{API}/_sandbox/faults", json=fault)
    assert response.status_code == 200, response.text
    return response.json()["faults"]


def test_status_fault_answers_a_gateway_page_without_performing(api, session, key):
    arm(session, path="/subscribe/payments/again$", status=502)

    failed = api.again(key, "order_1", validate=False)
    afterwards = api.again(key, "order_1")

    assert failed.status_code == 502
    assert failed.headers["Content-Type"].startswith("text/html")
    assert "502 Bad Gateway" in failed.text
    assert api.get("/payments/findAll/order_1").json()["response"]["total"] == 1
    assert afterwards.json()["response"]["status"] == "paid"


def test_status_fault_other_than_a_gateway_error_answers_an_envelope(api, session, key):
    arm(session, path="^/payments/", status=500, count=2)

    first = api.get("/payments/imp_1", validate=False)
    second = api.get("/payments/imp_1", validate=False)
    third = api.get("/payments/imp_1")

    assert (first.status_code, second.status_code, third.status_code) == (500, 500, 404)
    assert first.json() == {"code": -1, "message": "Internal Server Error", "response": None}
    assert session.get(f"{API}/_sandbox/faults").json() == {"faults": []}


def test_delay_fault_makes_the_adapter_raise_read_timeout_yet_the_charge_happens(
        api, session, key):
    arm(session, path="again", delay=0.2)

    with pytest.raises(requests.exceptions.ReadTimeout):
        api.again(key, "order_1", timeout=(1, 0.05))

    found = api.get("/payments/find/order_1").json()["response"]
    assert found["status"] == "paid"


def test_after_commit_fault_performs_the_operation_then_fails_the_response(api, session, key):
    arm(session, path="/payments/cancel", status=504, after_commit=True)
    paid = api.again(key, "order_1").json()["response"]

    lost = api.post("/payments/cancel", json={"imp_uid": paid["imp_uid"]}, validate=False)
    state_now = api.get(f"/payments/{paid['imp_uid']}").json()["response"]

    assert lost.status_code == 504
    assert (state_now["status"], state_now["cancel_amount"]) == ("cancelled", paid["amount"])


def test_method_filter_and_clearing(api, session, key):
    arm(session, path="/subscribe/customers/", status=503, method="delete")
    assert api.get(f"/subscribe/customers/{key}").status_code == 200

    session.delete(f"{API}/_sandbox/faults")

    assert api.delete(f"/subscribe/customers/{key}").status_code == 200


def test_put_replaces_faults_and_takes_a_list(session):
    arm(session, path="a", status=500)
    armed = session.put(f"{API}/_sandbox/faults", json=[
        {"path": "b", "status": 502, "count": 2}, {"path": "c", "delay": 0.01}]).json()["faults"]

    assert [(f["path"], f["count"]) for f in armed] == [("b", 2), ("c", 1)]


def test_malformed_faults_are_refused(session):
    assert session.put(f"{API}/_sandbox/faults", json={"path": "("}).status_code == 400
    assert session.put(f"{API}/_sandbox/faults", json={"path": "x"}).status_code == 400
    assert session.put(f"{API}/_sandbox/faults",
                       json={"path": "x", "status": 500, "count": 0}).status_code == 400
