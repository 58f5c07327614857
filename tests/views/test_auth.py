"""Sign in, sign out, roles, and the language switch."""
from __future__ import annotations

import pytest

from dashboard.extensions import db
from dashboard.models import AdminUser, AuditEntry

from .conftest import HTMX, PASSWORD, sign_in


def user(email):
    db.session.expire_all()
    return db.session.scalar(db.select(AdminUser).where(AdminUser.email == email))


def test_sign_in_records_last_sign_in_and_goes_to_next(app, staff):
    client = app.test_client()
    response = client.post("/login", data={"email": staff["support"], "password": PASSWORD,
                                           "next": "/payments"})
    assert response.status_code == 303 and response.headers["Location"] == "/payments"
    with app.app_context():
        assert user(staff["support"]).last_login_at is not None
        assert db.session.scalar(db.select(AuditEntry.action)) == "staff.sign_in"
    assert client.get("/payments").status_code == 200


def test_sign_in_never_redirects_off_site(app, staff):
    client = app.test_client()
    response = client.post("/login", data={"email": staff["admin"], "password": PASSWORD,
                                           "next": "https://evil.example/"})
    assert response.headers["Location"] == "/"


def test_wrong_password_is_refused_without_saying_which_part(app, staff):
    client = app.test_client()
    wrong = client.post("/login", data={"email": staff["admin"], "password": "nope-nope-nope"})
    unknown = client.post("/login", data={"email": "who@example.com", "password": "x"})
    assert wrong.status_code == unknown.status_code == 401
    assert "The email or password is wrong." in wrong.get_data(as_text=True) or \
        "이메일 또는 비밀번호가" in wrong.get_data(as_text=True)
    assert wrong.get_data(as_text=True).count("alert") == unknown.get_data(
        as_text=True).count("alert")
    assert client.get("/").status_code == 303


def test_sign_out_ends_the_session(admin_client):
    response = admin_client.post("/logout")
    assert response.status_code == 303
    assert admin_client.get("/").status_code == 303


def test_sign_out_from_htmx_uses_hx_redirect(admin_client):
    response = admin_client.post("/logout", headers=HTMX)
    assert response.headers["HX-Redirect"] == "/login"


def test_inactive_user_cannot_sign_in(app, staff):
    with app.app_context():
        account = user(staff["viewer"])
        account.active = False
        db.session.commit()
    assert sign_in(app.test_client(), staff["viewer"]).status_code == 401


def test_korean_is_the_default_language(admin_client):
    html = admin_client.get("/customers").get_data(as_text=True)
    assert '<html lang="ko">' in html
    assert "고객" in html


def test_language_switch_is_remembered_in_a_cookie_and_on_the_user(app, staff, admin_client):
    response = admin_client.post("/language", data={"language": "en", "next": "/customers"})
    assert response.status_code == 303 and response.headers["Location"] == "/customers"
    assert "lang=en" in response.headers["Set-Cookie"]
    html = admin_client.get("/customers").get_data(as_text=True)
    assert '<html lang="en">' in html and "Customers" in html
    with app.app_context():
        assert user(staff["admin"]).locale == "en"
    # A new browser without the cookie gets the user's choice after signing in.
    fresh = app.test_client()
    sign_in(fresh, staff["admin"])
    assert '<html lang="en">' in fresh.get("/customers").get_data(as_text=True)


def test_unknown_language_is_ignored(admin_client):
    response = admin_client.post("/language", data={"language": "xx"})
    assert "Set-Cookie" not in response.headers or "lang=" not in response.headers["Set-Cookie"]


@pytest.mark.parametrize("role, sees_actions", [("viewer", False), ("support", True),
                                                ("admin", True)])
def test_action_buttons_follow_the_role(as_role, app, role, sees_actions):
    from .conftest import make_customer, make_payment

    with app.app_context():
        customer = make_customer()
        make_payment(customer)
        customer_id = customer.id
    html = as_role(role).get(f"/customers/{customer_id}").get_data(as_text=True)
    assert ("/refund" in html) is sees_actions
    assert ("/billing-key" in html) is sees_actions
