"""The intake API for the merchant's application: tokens, success and error paths."""
from __future__ import annotations

import pytest

from dashboard import api_tokens
from dashboard.billing import audit
from dashboard.extensions import db
from dashboard.models import ApiToken, AuditEntry, Customer, Subscription


@pytest.fixture
def token(app):
    return api_tokens.create_token("shop backend", actor=audit.CLI)


@pytest.fixture
def api(app, token):
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}

    def call(method, path, **kwargs):
        return client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)

    return call


def test_tokens_are_stored_hashed(app, token):
    row = db.session.scalar(db.select(ApiToken))
    assert token.startswith("dsk_") and row.prefix == token[:12]
    assert token not in row.token_hash and len(row.token_hash) == 64


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "dsk_x"},
     {"Authorization": "Basic a"}],
)
def test_requests_without_a_valid_token_get_401(app, token, headers):
    response = app.test_client().get("/api/v1/subscriptions/1", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_a_revoked_token_stops_working(app, token, api):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["revoke-api-token", "shop backend"])
    assert result.exit_code == 0 and "Revoked 1" in result.output
    assert api("GET", "/subscriptions/1").status_code == 401
    assert db.session.scalar(db.select(ApiToken.revoked_at)) is not None
    again = runner.invoke(args=["revoke-api-token", "shop backend"])
    assert again.exit_code == 1 and "No live API token" in again.output


def test_create_read_and_cancel(app, sandbox, plan, api):
    sandbox.issue_key("cust_api")
    response = api("POST", "/subscriptions", json={
        "customer_uid": "cust_api", "plan": "basic", "start_at": "2030-01-01T09:00:00+09:00",
        "customer": {"name": "최유나", "email": "yuna@example.com", "phone": "010-2222-3333"},
    })
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert (created["customer_uid"], created["plan"], created["status"]) == (
        "cust_api", "basic", "active")
    assert created["next_charge_at"] == "2030-01-01T00:00:00+00:00"
    assert created["billing_anchor"] == "2030-01-01T09:00:00+09:00"
    customer = db.session.scalar(db.select(Customer))
    assert (customer.name, customer.email, customer.phone) == (
        "최유나", "yuna@example.com", "01022223333")
    remote = sandbox.client.get_schedule(f"sub{created['id']}-p1-a1")
    assert remote.schedule_status == "scheduled"

    assert api("GET", f"/subscriptions/{created['id']}").get_json() == created

    cancelled = api("POST", f"/subscriptions/{created['id']}/cancel", json={"reason": "moved"})
    assert cancelled.status_code == 200
    assert cancelled.get_json()["status"] == "cancelled"
    assert sandbox.client.get_schedule(f"sub{created['id']}-p1-a1").schedule_status == "revoked"
    again = api("POST", f"/subscriptions/{created['id']}/cancel", json={})
    assert again.status_code == 409
    actors = db.session.scalars(db.select(AuditEntry.actor_label)
                                .where(AuditEntry.action.like("subscription.%"))).all()
    assert actors == ["api:shop backend", "api:shop backend"]


@pytest.mark.parametrize(
    "body, status, code",
    [
        (None, 400, "invalid_request"),
        ([], 400, "invalid_request"),
        ({"plan": "basic"}, 400, "invalid_request"),
        ({"customer_uid": "cust_api"}, 400, "invalid_request"),
        ({"customer_uid": 5, "plan": "basic"}, 400, "invalid_request"),
        ({"customer_uid": "cust_api", "plan": "basic", "start_at": "tomorrow"}, 400,
         "invalid_request"),
        ({"customer_uid": "cust_api", "plan": "basic", "start_at": "2030-01-01T09:00"}, 400,
         "invalid_request"),
        ({"customer_uid": "cust_api", "plan": "basic", "customer": "x"}, 400, "invalid_request"),
        ({"customer_uid": "cust_api", "plan": "gold"}, 404, "not_found"),
        ({"customer_uid": "nobody", "plan": "basic"}, 404, "not_found"),
    ],
)
def test_create_errors(app, sandbox, plan, api, body, status, code):
    sandbox.issue_key("cust_api")
    response = api("POST", "/subscriptions", json=body)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert response.get_json()["error"]["message"]
    assert db.session.scalar(db.select(db.func.count(Subscription.id))) == 0


def test_a_second_live_subscription_to_the_same_plan_is_a_conflict(app, sandbox, plan, api):
    sandbox.issue_key("cust_api")
    body = {"customer_uid": "cust_api", "plan": "basic"}
    assert api("POST", "/subscriptions", json=body).status_code == 201
    response = api("POST", "/subscriptions", json=body)
    assert response.status_code == 409


def test_unknown_subscription_and_route(app, api):
    assert api("GET", "/subscriptions/999").status_code == 404
    assert api("GET", "/nothing").get_json()["error"]["code"] == "not_found"
    assert api("DELETE", "/subscriptions/1").get_json()["error"]["code"] == "method_not_allowed"
    assert api("GET", "/subscriptions/99999999999999999999").status_code == 404


def test_iamport_down_is_503(app, sandbox, plan, api):
    sandbox.fault(path="^/subscribe/customers/", status=503, count=5)
    response = api("POST", "/subscriptions", json={"customer_uid": "c", "plan": "basic"})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "iamport_unavailable"
