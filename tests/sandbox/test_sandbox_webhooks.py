"""Webhook delivery: content types, the delivery log, and resends on receiver failure."""

from itertools import pairwise
from urllib.parse import parse_qs

import pytest

from .conftest import API, WEBHOOK_URL


@pytest.fixture
def resends(session):
    """Switch resends on, as a merchant asks PortOne to."""
    answer = session.put(f"{API}/_sandbox/webhook", json={"url": WEBHOOK_URL, "resends": True})
    assert answer.json()["resends"] is True


def charged(api, state, merchant_uid="order_1"):
    api.issue_key("cust_1")
    payment = api.again("cust_1", merchant_uid).json()["response"]
    return payment


def test_form_encoded_webhooks_when_configured(api, state, receiver, session):
    session.put(f"{API}/_sandbox/webhook", json={
        "url": WEBHOOK_URL, "content_type": "application/x-www-form-urlencoded"})
    payment = charged(api, state)

    deliveries = session.get(f"{API}/_sandbox/webhooks").json()

    assert receiver.calls[0]["content_type"] == "application/x-www-form-urlencoded"
    assert receiver.calls[0]["form"] == {"imp_uid": payment["imp_uid"],
                                         "merchant_uid": "order_1", "status": "paid"}
    assert deliveries[0]["content_type"] == "application/x-www-form-urlencoded"
    assert parse_qs(deliveries[0]["body"]) == {"imp_uid": [payment["imp_uid"]],
                                               "merchant_uid": ["order_1"], "status": ["paid"]}


def test_delivery_log_records_url_body_status_time_and_attempt(api, state, session):
    payment = charged(api, state)

    deliveries = session.get(f"{API}/_sandbox/webhooks").json()

    assert len(deliveries) == 1
    delivery = deliveries[0]
    assert delivery["url"] == WEBHOOK_URL
    assert delivery["content_type"] == "application/json"
    assert delivery["payload"] == {"imp_uid": payment["imp_uid"], "merchant_uid": "order_1",
                                   "status": "paid"}
    assert delivery["response_status"] == 200
    assert delivery["error"] is None
    assert delivery["time"] == state.now()
    assert delivery["attempt"] == 1


def test_a_failed_webhook_is_sent_once_unless_resends_are_on(api, state, receiver, session):
    receiver.statuses = [500] * 10
    charged(api, state)
    state.run_due()
    for _ in range(6):
        state.advance(60)

    assert session.get(f"{API}/_sandbox/webhook").json()["resends"] is False
    assert [(d["attempt"], d["response_status"]) for d in state.webhook_deliveries()] == [
        (1, 500)]
    assert len(receiver.calls) == 1


def test_receiver_5xx_is_resent_five_times_one_sandbox_minute_apart(api, state, receiver,
                                                                    resends):
    receiver.statuses = [500] * 10
    charged(api, state)
    state.run_due()

    for _ in range(7):
        state.advance(30)
        state.run_due()  # half a minute: nothing new is due
        state.advance(30)

    deliveries = state.webhook_deliveries()
    assert [d["attempt"] for d in deliveries] == [1, 2, 3, 4, 5, 6]
    assert {d["response_status"] for d in deliveries} == {500}
    times = [d["time"] for d in deliveries]
    assert [later - earlier for earlier, later in pairwise(times)] == [60] * 5
    assert len({d["event_id"] for d in deliveries}) == 1
    assert len(receiver.calls) == 6


def test_resending_stops_once_the_receiver_answers(api, state, receiver, resends):
    receiver.statuses = [503, 502]
    charged(api, state)
    state.run_due()
    for _ in range(4):
        state.advance(60)

    deliveries = state.webhook_deliveries()
    assert [(d["attempt"], d["response_status"]) for d in deliveries] == [
        (1, 503), (2, 502), (3, 200)]


def test_unreachable_receiver_is_resent_but_a_4xx_is_not(api, state, receiver, resends):
    receiver.adapter.refuse_connections = True
    charged(api, state, "order_1")
    state.run_due()
    receiver.adapter.refuse_connections = False
    state.advance(60)

    receiver.statuses = [404]
    api.again("cust_1", "order_2")
    state.run_due()
    state.advance(300)

    deliveries = state.webhook_deliveries()
    first = [d for d in deliveries if d["payload"]["merchant_uid"] == "order_1"]
    second = [d for d in deliveries if d["payload"]["merchant_uid"] == "order_2"]
    assert first[0]["response_status"] is None
    assert "ConnectionError" in first[0]["error"]
    assert [(d["attempt"], d["response_status"]) for d in first] == [(1, None), (2, 200)]
    assert [(d["attempt"], d["response_status"]) for d in second] == [(1, 404)]


def test_no_webhook_url_means_no_delivery(api, state, session):
    session.put(f"{API}/_sandbox/webhook", json={"url": None})
    charged(api, state)

    assert session.get(f"{API}/_sandbox/webhooks").json() == []
    assert session.get(f"{API}/_sandbox/webhook").json()["url"] is None
