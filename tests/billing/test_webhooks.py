"""Webhook intake: stored first, checked, verified against the API, applied."""
from __future__ import annotations

import json

import pytest

from dashboard.billing import intake
from dashboard.extensions import db
from dashboard.models import Customer, Payment, Subscription, WebhookEvent
from tests.billing.harness import event_states, fresh, live_schedules_of, post_webhook


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
    assert response.status_code == 400
    [event] = db.session.scalars(db.select(WebhookEvent)).all()
    assert (event.state, event.raw_body, event.content_type) == ("ignored", body, content_type)
    assert event.error


def test_oversized_bodies_are_stored_truncated_and_refused(app):
    body = b"imp_uid=" + b"a" * 100_000
    response = app.test_client().post(
        "/webhooks/iamport", data=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 413
    event = db.session.scalar(db.select(WebhookEvent))
    assert event.state == "ignored" and len(event.raw_body) == 64 * 1024


def test_a_wrong_token_is_refused_with_403_and_stored(app, paid_webhook):
    sub_id, body = paid_webhook
    app.config["IAMPORT_WEBHOOK_TOKEN"] = "s3cret-token"
    client = app.test_client()
    assert client.post("/webhooks/iamport?token=nope", json=body).status_code == 403
    assert client.post("/webhooks/iamport", json=body).status_code == 403
    assert event_states() == ["ignored", "ignored"]
    assert fresh(Subscription, sub_id).current_period == 0
    assert client.post("/webhooks/iamport?token=s3cret-token", json=body).status_code == 200
    assert fresh(Subscription, sub_id).current_period == 1


def test_sender_allow_list(app, paid_webhook):
    _sub_id, body = paid_webhook
    app.config["IAMPORT_WEBHOOK_ALLOWED_IPS"] = ["52.78.100.19"]
    client = app.test_client()
    other = client.post("/webhooks/iamport", json=body, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 403
    ok = client.post("/webhooks/iamport", json=body, environ_base={"REMOTE_ADDR": "52.78.100.19"})
    assert ok.status_code == 200
    assert event_states() == ["ignored", "processed"]


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
    deliveries = sandbox.webhooks()
    assert deliveries[-1]["response_status"] == 503
    # iamport resends a minute later; by then the API answers.
    sandbox.advance(60)
    sandbox.run_due()
    assert event_states() == ["failed", "processed"]
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
