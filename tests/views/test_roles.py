"""The role matrix: every mutating route × every role. Viewers change nothing."""
from __future__ import annotations

import pytest

from dashboard import api_tokens
from dashboard.billing import audit
from dashboard.extensions import db
from dashboard.models import ROLES, ApiToken

from .conftest import (
    HTMX,
    make_customer,
    make_event,
    make_payment,
    make_plan,
    make_schedule,
    make_subscription,
    make_user,
)

# Every console route that changes something, and the least role allowed to use it.
MUTATING_ROUTES = {
    "customers.sync": ("/customers/{customer}/sync", "support"),
    "customers.billing_key": ("/customers/{customer}/billing-key", "support"),
    "customers.delete_billing_key": ("/customers/{customer}/billing-key/delete", "support"),
    "customers.credits": ("/customers/{customer}/credits", "support"),
    "customers.manual_charge": ("/customers/{customer}/charge", "support"),
    "customers.add_note": ("/customers/{customer}/notes", "support"),
    "search.save_filter": ("/saved-filters", "support"),
    "subscriptions.pause": ("/subscriptions/{subscription}/pause", "support"),
    "subscriptions.resume": ("/subscriptions/{subscription}/resume", "support"),
    "subscriptions.cancel": ("/subscriptions/{subscription}/cancel", "support"),
    "subscriptions.reinstate": ("/subscriptions/{subscription}/reinstate", "support"),
    "subscriptions.change_plan": ("/subscriptions/{subscription}/plan", "support"),
    "subscriptions.charge_now": ("/subscriptions/{subscription}/charge-now", "support"),
    "schedules.change_time": ("/schedules/{schedule}/time", "support"),
    "schedules.revoke": ("/schedules/{schedule}/revoke", "support"),
    "schedules.retry": ("/schedules/{schedule}/retry", "support"),
    "schedules.reschedule": ("/schedules/{schedule}/reschedule", "support"),
    "payments.refund": ("/payments/{payment}/refund", "support"),
    "overview.run_sync": ("/operations/sync", "admin"),
    "events.reprocess": ("/webhook-events/{event}/reprocess", "admin"),
    "admin.create_user": ("/admin/users", "admin"),
    "admin.change_role": ("/admin/users/{user}/role", "admin"),
    "admin.account_action": ("/admin/users/{user}/deactivate", "admin"),
    "admin.reset_password": ("/admin/users/{user}/reset-password", "admin"),
    "admin.create_token": ("/admin/tokens", "admin"),
    "admin.revoke_token": ("/admin/tokens/{token}/revoke", "admin"),
    "admin.connection_test": ("/admin/setup/connection-test", "admin"),
    "admin.mark_step": ("/admin/setup/steps/pg_setting", "admin"),
}
# Every console page that only shows something, and the least role allowed to see it.
READ_ROUTES = {
    "admin.users": ("/admin/users", "admin"),
    "admin.user": ("/admin/users/{user}", "admin"),
    "admin.tokens": ("/admin/tokens", "admin"),
    "admin.audit": ("/admin/audit", "admin"),
    "admin.audit_export": ("/admin/audit.csv", "admin"),
    "admin.setup_page": ("/admin/setup", "admin"),
}
# Open to everyone: they change only the caller's own session.
SESSION_ROUTES = {"auth.login", "auth.logout", "auth.language", "auth.password"}
CONSOLE_BLUEPRINTS = {"auth", "overview", "customers", "subscriptions", "schedules",
                      "payments", "events", "admin", "search"}


def token_id(name: str) -> int:
    api_tokens.create_token(name, actor=audit.CLI)
    return db.session.scalar(db.select(ApiToken.id).where(ApiToken.name == name))


@pytest.fixture
def ids(app):
    with app.app_context():
        plan = make_plan()
        customer = make_customer()
        subscription = make_subscription(customer, plan)
        return {
            "customer": customer.id,
            "subscription": subscription.id,
            "payment": make_payment(customer).id,
            "schedule": make_schedule(customer, subscription_id=subscription.id, period=2).id,
            "event": make_event().id,
            "user": make_user("viewer", "other.viewer@example.com").id,
            "token": token_id("matrix"),
        }


def test_the_matrix_lists_every_mutating_console_route(app):
    posted = {
        rule.endpoint for rule in app.url_map.iter_rules()
        if rule.endpoint.split(".")[0] in CONSOLE_BLUEPRINTS and "POST" in rule.methods
    }
    assert posted - SESSION_ROUTES == set(MUTATING_ROUTES)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", sorted(MUTATING_ROUTES))
def test_role_matrix(as_role, ids, endpoint, role):
    template, least = MUTATING_ROUTES[endpoint]
    client = as_role(role)
    # An invalid (empty) form: allowed roles get past the role check to validation or to a
    # redirect, and no billing call can reach iamport.
    response = client.post(template.format(**ids), data={"days": "0"}, headers=HTMX)
    allowed = ROLES.index(role) >= ROLES.index(least)
    if allowed:
        assert response.status_code != 403
    else:
        assert response.status_code == 403
        # htmx shows the refusal in the page's message area.
        assert response.headers["HX-Retarget"] == "#messages"


def test_the_read_matrix_lists_every_admin_page(app):
    shown = {rule.endpoint for rule in app.url_map.iter_rules()
             if rule.endpoint.startswith("admin.") and "GET" in rule.methods}
    assert shown == set(READ_ROUTES)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", sorted(READ_ROUTES))
def test_read_matrix(as_role, ids, endpoint, role):
    template, least = READ_ROUTES[endpoint]
    response = as_role(role).get(template.format(**ids))
    response.get_data()
    response.close()
    allowed = ROLES.index(role) >= ROLES.index(least)
    assert response.status_code == (200 if allowed else 403)


@pytest.mark.parametrize("endpoint", sorted(READ_ROUTES))
def test_read_routes_need_sign_in(client, ids, endpoint):
    template, _least = READ_ROUTES[endpoint]
    response = client.get(template.format(**ids))
    assert response.status_code == 303 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("endpoint", sorted(MUTATING_ROUTES))
def test_mutating_routes_need_sign_in(client, ids, endpoint):
    template, _least = MUTATING_ROUTES[endpoint]
    response = client.post(template.format(**ids), data={}, headers=HTMX)
    assert response.status_code == 200 and response.headers["HX-Redirect"].startswith("/login")


def test_viewer_sees_no_action_forms(as_role, ids):
    viewer = as_role("viewer")
    assert viewer.get(f"/payments/{ids['payment']}/refund").status_code == 403
    html = viewer.get(f"/subscriptions/{ids['subscription']}").get_data(as_text=True)
    assert "/pause" not in html and "/cancel" not in html


def test_forms_carry_a_csrf_token_and_posts_without_it_are_refused(app_config, staff_factory):
    from dashboard import create_app
    from tests.conftest import empty_all_tables

    app = create_app({**app_config, "WTF_CSRF_ENABLED": True})
    with app.app_context():
        empty_all_tables()
        staff_factory("support")
        customer_id = make_customer().id
    client = app.test_client()
    login_page = client.get("/login").get_data(as_text=True)
    assert 'name="csrf_token"' in login_page
    refused = client.post("/login", data={"email": "support@example.com", "password": "x"})
    assert refused.status_code == 400
    token = login_page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    from .conftest import PASSWORD

    signed_in = client.post("/login", data={"email": "support@example.com",
                                            "password": PASSWORD, "csrf_token": token})
    assert signed_in.status_code == 303
    page = client.get(f"/customers/{customer_id}").get_data(as_text=True)
    assert '"X-CSRFToken"' in page.replace("&#34;", '"')
    assert client.post(f"/customers/{customer_id}/credits",
                       data={"delta": "5", "reason": "x"}).status_code == 400
    with app.app_context():
        empty_all_tables()
        db.engine.dispose()


def test_a_list_rows_post_button_carries_a_working_csrf_token(app_config, staff_factory):
    """The webhook list writes its reprocess buttons in Python: their token must be valid."""
    import re
    from html import unescape

    from dashboard import create_app
    from dashboard.models import AuditEntry
    from tests.conftest import empty_all_tables

    from .conftest import PASSWORD

    app = create_app({**app_config, "WTF_CSRF_ENABLED": True,
                      "IAMPORT_API_URL": "http://127.0.0.1:9"})
    with app.app_context():
        empty_all_tables()
        staff_factory("admin")
        event_id = make_event(state="failed", imp_uid="imp_retry_me").id
    client = app.test_client()
    login_page = client.get("/login").get_data(as_text=True)
    token = login_page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    assert client.post("/login", data={"email": "admin@example.com", "password": PASSWORD,
                                       "csrf_token": token}).status_code == 303
    page = client.get("/webhook-events").get_data(as_text=True)
    form = re.search(rf'<form method="post" action="(/webhook-events/{event_id}/reprocess)"'
                     r'.*?</form>', page, re.S)
    assert form is not None
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(0)))
    assert set(fields) == {"csrf_token", "next"}
    answer = client.post(form.group(1), data={k: unescape(v) for k, v in fields.items()})
    assert answer.status_code != 400  # a missing or wrong token answers 400
    with app.app_context():
        assert db.session.scalar(db.select(AuditEntry.action).where(
            AuditEntry.action == "webhook.reprocess")) == "webhook.reprocess"
        empty_all_tables()
        db.engine.dispose()
