"""Webhook intake: stored first, checked, verified against the API, applied."""
from __future__ import annotations

import json

import pytest

from dashboard.billing import intake
from dashboard.extensions import db
from dashboard.models import Customer, Payment, Subscription, WebhookEvent, WebhookRefusal
from tests.billing.harness import (
    event_states,
    fresh,
    live_schedules_of,
    post_webhook,
    state_of,
)
from tests.webhook_queue import drain


@pytest.fixture
def paid_webhook(app, sandbox, plan):
    """A subscription whose first charge ran while webhooks were not delivered."""
    sandbox.control("PUT", "/webhook", url="")  # no webhooks are sent
    sandbox.issue_key("cust_1", customer_name="이서연")
    sub_id = intake.start_subscription("cust_1", plan_code="basic").id
    sandbox.advance(120)
    [merchant_uid] = sandbox.run_due()
    payment = sandbox.client.find_payment(merchant_uid)
    return sub_id, {"imp_uid": payment.imp_uid, "merchant_uid": merchant_uid, "status": "paid"}


@pytest.mark.parametrize(
    "body, content_type",
    [
        (b"", "application/json"),
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'{"imp_uid": 12}', "application/json"),
        (b"\xff\xfe\x00garbage", "application/x-www-form-urlencoded"),
        (b"merchant_uid=m1&status=paid", "application/x-www-form-urlencoded"),
        (b'{"imp_uid": "imp_1", "status": "<script>"}', "application/json"),
        (json.dumps({"imp_uid": "x" * 500}).encode(), "application/json"),
    ],
)
def test_malformed_bodies_are_stored_as_ignored_and_answered_400(app, body, content_type):
    response = app.test_client().post("/webhooks/iamport", data=body, content_type=content_type)
    assert (response.status_code, response.get_data(as_text=True)) == (400, "refused")
    [event] = db.session.scalars(db.select(WebhookEvent)).all()
    assert (event.state, event.raw_body, event.content_type) == ("ignored", body, content_type)
    assert event.error


def refusal_counts() -> dict[str, int]:
    db.session.expire_all()
    return {row.reason: row.refusals for row in db.session.scalars(db.select(WebhookRefusal))}


def test_oversized_bodies_are_refused_with_413_unread_and_not_stored(app):
    body = b"imp_uid=" + b"a" * 100_000
    response = app.test_client().post(
        "/webhooks/iamport", data=body, content_type="application/x-www-form-urlencoded"
    )
    assert (response.status_code, response.get_data(as_text=True)) == (413, "refused")
    assert db.session.scalar(db.select(WebhookEvent)) is None
    assert refusal_counts() == {"too_large": 1}


def test_a_body_of_exactly_64_kib_is_accepted(app):
    body = b"imp_uid=imp_1&pad=" + b"a" * (64 * 1024 - 18)
    assert len(body) == 64 * 1024
    response = app.test_client().post(
        "/webhooks/iamport", data=body, content_type="application/x-www-form-urlencoded"
    )
    assert (response.status_code, response.get_data(as_text=True)) == (200, "ok")
    assert db.session.scalar(db.select(WebhookEvent.imp_uid)) == "imp_1"


def test_a_wrong_token_is_refused_with_403_and_not_stored(app, paid_webhook):
    sub_id, body = paid_webhook
    app.config["IAMPORT_WEBHOOK_TOKEN"] = "s3cret-token"
    client = app.test_client()
    wrong = client.post("/webhooks/iamport?token=nope", json=body)
    assert (wrong.status_code, wrong.get_data(as_text=True)) == (403, "refused")
    assert client.post("/webhooks/iamport", json=body).status_code == 403
    drain(app)
    assert event_states() == []
    assert refusal_counts() == {"token": 2}
    assert fresh(Subscription, sub_id).current_period == 0
    right = client.post("/webhooks/iamport?token=s3cret-token", json=body)
    assert (right.status_code, right.get_data(as_text=True)) == (200, "ok")
    drain(app)
    assert fresh(Subscription, sub_id).current_period == 1


def test_sender_allow_list(app, paid_webhook):
    _sub_id, body = paid_webhook
    app.config["IAMPORT_WEBHOOK_ALLOWED_IPS"] = ["52.78.100.19"]
    client = app.test_client()
    other = client.post("/webhooks/iamport", json=body, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 403
    ok = client.post("/webhooks/iamport", json=body, environ_base={"REMOTE_ADDR": "52.78.100.19"})
    assert ok.status_code == 200
    drain(app)
    assert event_states() == ["processed"]


def test_the_answer_comes_before_processing_and_without_asking_iamport(app, sandbox, paid_webhook):
    sub_id, body = paid_webhook
    asked = len(sandbox.control("GET", "/requests"))
    response = app.test_client().post("/webhooks/iamport", json=body)
    assert (response.status_code, response.get_data(as_text=True)) == (200, "ok")
    assert len(sandbox.control("GET", "/requests")) == asked  # iamport was not called
    assert event_states() == ["received"]
    assert fresh(Subscription, sub_id).current_period == 0
    drain(app)
    assert event_states() == ["processed"]
    assert fresh(Subscription, sub_id).current_period == 1
    assert len(sandbox.control("GET", "/requests")) > asked


def test_duplicates_queued_before_processing_apply_once(app, paid_webhook):
    sub_id, body = paid_webhook
    client = app.test_client()
    for _ in range(3):
        assert client.post("/webhooks/iamport", json=body).status_code == 200
    before = state_of(sub_id)
    drain(app)
    assert event_states() == ["processed"] * 3
    after = state_of(sub_id)
    assert after != before and after[1] == 1  # one period paid
    assert [p[1] for p in after[4]] == ["paid"] and after[6] == [("period_paid", 100)]


def test_the_body_is_never_trusted(app, paid_webhook):
    """A forged 'paid' for a failed or unknown payment changes nothing."""
    sub_id, body = paid_webhook
    forged = {**body, "imp_uid": "imp_000000000000"}
    assert post_webhook(app, forged).status_code == 200
    mismatched = {**body, "merchant_uid": "sub999-p1-a1"}
    assert post_webhook(app, mismatched).status_code == 200
    assert event_states() == ["ignored", "ignored"]
    assert fresh(Subscription, sub_id).current_period == 0
    # The body says "failed" but the API says paid: what the API says is applied.
    assert post_webhook(app, {**body, "status": "failed"}).status_code == 200
    assert fresh(Subscription, sub_id).current_period == 1


def test_iamport_unavailable_keeps_the_event_failed_then_the_resend_applies_it(
    app, sandbox, plan
):
    sandbox.issue_key("cust_1")
    sub_id = intake.start_subscription("cust_1", plan_code="basic").id
    # The look-up of the payment fails (three tries: the client retries reads once).
    sandbox.fault(path=r"^/payments/imp_", status=503, count=2)
    sandbox.advance(120)
    sandbox.run_due()
    assert event_states() == ["failed"]
    assert fresh(Subscription, sub_id).current_period == 0
    # The webhook was taken (200): iamport does not resend; the queue tries again later.
    assert sandbox.webhooks()[-1]["response_status"] == 200
    drain(app)
    assert event_states() == ["failed"]  # the retry is not due yet
    sandbox.advance(60)
    drain(app)
    assert event_states() == ["processed"]
    assert fresh(Subscription, sub_id).current_period == 1
    assert len(live_schedules_of(sub_id)) == 1


def test_an_unknown_customer_uid_creates_the_customer_with_its_key(app, sandbox, plan):
    key = sandbox.issue_key("walk_in", customer_name="박지호", customer_tel="01099998888")
    payment = sandbox.client.pay_again(
        customer_uid="walk_in", merchant_uid="order-1", amount=5000, name="단건"
    )
    assert post_webhook(app, {"imp_uid": payment.imp_uid, "merchant_uid": "order-1",
                              "status": "paid"}).status_code == 200
    customer = db.session.scalar(db.select(Customer).where(Customer.customer_uid == "walk_in"))
    assert (customer.name, customer.phone, customer.card_number) == (
        "박지호", "01099998888", key.card_number
    )
    stored = db.session.scalar(db.select(Payment).where(Payment.merchant_uid == "order-1"))
    assert (stored.customer_id, stored.status, stored.amount, stored.subscription_id) == (
        customer.id, "paid", 5000, None
    )
