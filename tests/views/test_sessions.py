"""Server-side sessions, sign-in throttling, password hashing, cookies and HSTS."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from werkzeug.http import parse_date

from dashboard import create_app
from dashboard.clock import utcnow
from dashboard.extensions import db
from dashboard.models import AdminUser, AuditEntry, SignInAttempt, StaffSession
from dashboard.sessions import SESSION_COOKIE_KEY

from .conftest import PASSWORD, sign_in


@pytest.fixture
def make_app(app):
    """Build more apps on the test database (other workers, other settings); dispose them."""
    built = []

    def build(config):
        built.append(create_app(config))
        return built[-1]

    yield build
    for other in built:
        # An app built with TESTING off starts its webhook thread at its first request; left
        # running, it would process the waiting events later tests store.
        stop = getattr(other.extensions.get("webhook_queue"), "stop", None)
        if stop is not None:
            stop()
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


def copy_cookies(source, target) -> None:
    """Copy every cookie of one test client into another, as a thief would."""
    for cookie in source._cookies.values():
        target.set_cookie(cookie.key, cookie.value, domain=cookie.domain, path=cookie.path)


def live_sessions(email: str) -> list[StaffSession]:
    db.session.expire_all()
    return db.session.scalars(
        db.select(StaffSession).join(AdminUser).where(
            AdminUser.email == email, StaffSession.revoked_at.is_(None))
    ).all()


def test_a_copied_cookie_stops_working_after_sign_out(app, staff):
    browser = app.test_client()
    assert sign_in(browser, staff["admin"]).status_code == 303
    thief = app.test_client()
    copy_cookies(browser, thief)
    assert thief.get("/customers").status_code == 200
    browser.post("/logout")
    assert thief.get("/customers").status_code == 303
    with app.app_context():
        row = db.session.scalar(db.select(StaffSession))
        assert row.revoked_reason == "sign_out" and row.revoked_at is not None


def test_sign_in_records_the_session_and_rotates_the_cookie(app, staff):
    client = app.test_client()
    client.get("/login")
    with client.session_transaction() as before:
        before["planted"] = "by someone else"
    sign_in(client, staff["support"], PASSWORD)
    with client.session_transaction() as after:
        assert "planted" not in after and after[SESSION_COOKIE_KEY]
        key = after[SESSION_COOKIE_KEY]
    with app.app_context():
        [row] = live_sessions(staff["support"])
        assert row.key_hash != key and len(row.key_hash) == 64
        assert row.ip_address == "127.0.0.1" and row.user_agent.startswith("Werkzeug")


def test_the_cookie_expires_with_the_session_and_pages_leave_it_alone(app, staff):
    """Sign-in sets a cookie that lives SESSION_MAX_HOURS; pages then send no cookie, since
    the idle limit is kept on the server."""
    client = app.test_client()
    client.get("/login")
    answer = sign_in(client, staff["support"], PASSWORD)
    [cookie] = [header for header in answer.headers.getlist("Set-Cookie")
                if header.startswith("session=")]
    expires = parse_date(re.search(r"Expires=([^;]+)", cookie).group(1))
    lifetime = timedelta(hours=app.config["SESSION_MAX_HOURS"])
    assert abs(expires - (datetime.now(UTC) + lifetime)) < timedelta(minutes=1)
    client.get("/customers")  # takes the sign-in's flashed message out of the session
    page = client.get("/payments")
    assert page.status_code == 200 and "Set-Cookie" not in page.headers


def test_sign_in_and_sign_out_rotate_the_csrf_token(make_app, app_config, staff_factory):
    app = make_app({**app_config, "WTF_CSRF_ENABLED": True})
    with app.app_context():
        staff_factory("admin")
    client = app.test_client()
    client.get("/login")
    with client.session_transaction() as before:
        first = before["csrf_token"]
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    assert client.post("/login", data={"email": "admin@example.com", "password": PASSWORD,
                                       "csrf_token": token}).status_code == 303
    client.get("/customers")
    with client.session_transaction() as signed_in:
        second = signed_in["csrf_token"]
    assert second != first
    page = client.get("/customers").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)[1]
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    client.get("/login")
    with client.session_transaction() as signed_out:
        assert signed_out["csrf_token"] != second
        assert SESSION_COOKIE_KEY not in signed_out and "_user_id" not in signed_out


@pytest.mark.parametrize("column, minutes, reason", [
    ("last_seen_at", 31, "idle"),
    ("created_at", 12 * 60 + 1, "expired"),
])
def test_idle_and_absolute_limits_end_a_session(app, staff, column, minutes, reason):
    client = app.test_client()
    sign_in(client, staff["viewer"])
    with app.app_context():
        [row] = live_sessions(staff["viewer"])
        setattr(row, column, utcnow() - timedelta(minutes=minutes))
        if column == "created_at":
            row.last_seen_at = utcnow()
        db.session.commit()
    assert client.get("/customers").status_code == 303
    with app.app_context():
        db.session.expire_all()
        assert db.session.scalar(db.select(StaffSession.revoked_reason)) == reason


def test_the_idle_limit_is_configurable(make_app, app_config, staff_factory):
    app = make_app({**app_config, "SESSION_IDLE_MINUTES": 5})
    with app.app_context():
        staff_factory("viewer")
    client = app.test_client()
    sign_in(client, "viewer@example.com")
    with app.app_context():
        [row] = live_sessions("viewer@example.com")
        row.last_seen_at = utcnow() - timedelta(minutes=6)
        db.session.commit()
    assert client.get("/customers").status_code == 303


def test_deactivation_ends_live_sessions(app, staff):
    client = app.test_client()
    sign_in(client, staff["support"])
    with app.app_context():
        user = db.session.scalar(db.select(AdminUser).where(AdminUser.email == staff["support"]))
        user.active = False
        db.session.commit()
    assert client.get("/customers").status_code == 303


# --- throttling -------------------------------------------------------------------------


def attempt(client, email, password, address):
    return client.post("/login", data={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def test_failures_from_one_address_never_lock_the_owner_out_from_another(app, staff):
    attacker = app.test_client()
    for _ in range(20):
        attempt(attacker, staff["admin"], "wrong-password", "203.0.113.9")
    assert attempt(attacker, staff["admin"], PASSWORD, "203.0.113.9").status_code == 429
    owner = app.test_client()
    assert attempt(owner, staff["admin"], PASSWORD, "198.51.100.7").status_code == 303
    assert owner.get("/customers").status_code == 200


def test_throttled_answer_is_the_same_for_real_and_unknown_accounts(app, staff):
    client = app.test_client()
    for _ in range(5):
        attempt(client, staff["admin"], "wrong-password", "203.0.113.9")
        attempt(client, "nobody@example.com", "wrong-password", "203.0.113.10")
    real = attempt(client, staff["admin"], "wrong-password", "203.0.113.9")
    unknown = attempt(client, "nobody@example.com", "wrong-password", "203.0.113.10")
    assert real.status_code == unknown.status_code == 429
    with app.app_context():
        throttled = db.session.scalars(db.select(AuditEntry).where(
            AuditEntry.outcome == "throttled")).all()
        assert {(e.target_id, e.ip_address) for e in throttled} == {
            (staff["admin"], "203.0.113.9"), ("nobody@example.com", "203.0.113.10")}
    # Identical but for the email typed into the form and the CSRF token's timestamp.

    def normalised(response, email):
        html = response.get_data(as_text=True).replace(email, "EMAIL")
        return re.sub(r'("X-CSRFToken": "|name="csrf_token"[^>]*value=")[^"]+', r"\1TOKEN",
                      html)

    assert normalised(real, staff["admin"]) == normalised(unknown, "nobody@example.com")
    assert '"X-CSRFToken": "TOKEN"' in normalised(real, staff["admin"])


def test_per_account_failures_from_one_address_are_throttled(app, staff):
    client = app.test_client()
    for _ in range(5):
        assert attempt(client, staff["admin"], "wrong-password", "203.0.113.9"
                       ).status_code == 401
    # The right password is refused too while the pair waits: guessing gains nothing.
    assert attempt(client, staff["admin"], PASSWORD, "203.0.113.9").status_code == 429
    # Another account from the same address is not held back by these failures.
    assert attempt(client, staff["viewer"], PASSWORD, "203.0.113.9").status_code == 303


def test_sign_in_is_rate_limited_per_address(app, staff):
    """Every attempt costs a password hash: a few clients must not keep the CPU busy."""
    client = app.test_client()
    answers = [attempt(client, f"user{n}@example.com", "x", "203.0.113.50").status_code
               for n in range(12)]
    assert answers[:10] == [401] * 10 and answers[10:] == [429, 429]
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(SignInAttempt.id))) == 10


def test_failures_are_counted_in_the_database_for_every_worker(make_app, app_config, staff):
    """Two app instances (two workers) share one count."""
    first, second = make_app(app_config), make_app(app_config)
    for n in range(5):
        worker = first if n % 2 else second
        attempt(worker.test_client(), staff["admin"], "wrong-password", "203.0.113.9")
    assert attempt(first.test_client(), staff["admin"], PASSWORD, "203.0.113.9"
                   ).status_code == 429


# --- hashing ----------------------------------------------------------------------------


def test_production_hash_is_scrypt_with_n_2_17(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "k" * 40)
    monkeypatch.delenv("PASSWORD_HASH_METHOD", raising=False)
    app = create_app({"INSTANCE_PATH": tmp_path})
    assert app.config["PASSWORD_HASH_METHOD"] == "scrypt:131072:8:1"


def test_sign_in_rehashes_a_weaker_hash(make_app, app_config, staff_factory):
    stronger = "scrypt:16384:8:1"
    app = make_app({**app_config, "PASSWORD_HASH_METHOD": stronger})
    with app.app_context():
        staff_factory("admin")
    assert sign_in(app.test_client(), "admin@example.com").status_code == 303
    with app.app_context():
        hashed = db.session.scalar(db.select(AdminUser.password_hash))
        assert hashed.startswith(stronger + "$")
        entries = db.session.scalars(db.select(AuditEntry.action)).all()
        assert entries == ["staff.sign_in"]
    # The new hash still signs in.
    assert sign_in(app.test_client(), "admin@example.com").status_code == 303


# --- cookies and HSTS -------------------------------------------------------------------


def production_app(make_app, app_config, **extra):
    return make_app({**app_config, "TESTING": False, "SECRET_KEY": "s" * 40, **extra})


def test_cookies_are_secure_and_hsts_is_sent_outside_debug_and_demo(make_app, app_config, staff):
    app = production_app(make_app, app_config)
    client = app.test_client()
    response = client.post("/login", data={"email": staff["admin"], "password": PASSWORD},
                           base_url="https://dashboard.test")
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_secure_cookies_can_be_turned_off_for_plain_http(make_app, app_config, staff, monkeypatch):
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "false")
    app = production_app(make_app, app_config)
    response = app.test_client().post(
        "/login", data={"email": staff["admin"], "password": PASSWORD})
    assert "Secure" not in response.headers["Set-Cookie"]
    assert "Strict-Transport-Security" not in response.headers


def test_debug_runs_send_no_hsts(make_app, app_config, tmp_path):
    app = make_app({**app_config, "TESTING": False, "DEBUG": True, "INSTANCE_PATH": tmp_path})
    assert app.config["SESSION_COOKIE_SECURE"] is False
    assert "Strict-Transport-Security" not in app.test_client().get("/login").headers


def test_the_proxy_setting_trusts_the_forwarded_scheme(make_app, app_config):
    app = production_app(make_app, app_config, PROXY_FIX_X_FOR=1)
    seen = {}

    @app.get("/_scheme")
    def scheme():
        from flask import request
        seen["secure"] = request.is_secure
        return ""

    app.test_client().get("/_scheme", headers={"X-Forwarded-Proto": "https",
                                               "X-Forwarded-For": "198.51.100.1"})
    assert seen["secure"] is True


# --- password change ----------------------------------------------------------------------


def test_changing_ones_password_ends_every_other_session(app, staff):
    here, elsewhere = app.test_client(), app.test_client()
    sign_in(here, staff["support"])
    sign_in(elsewhere, staff["support"])
    wrong = here.post("/password", data={"current": "not it", "new": "a new long password",
                                         "repeat": "a new long password"})
    assert wrong.status_code == 422
    short = here.post("/password", data={"current": PASSWORD, "new": "short",
                                         "repeat": "short"})
    assert short.status_code == 422
    done = here.post("/password", data={"current": PASSWORD, "new": "a new long password",
                                        "repeat": "a new long password"})
    assert done.status_code == 303
    assert here.get("/customers").status_code == 200
    assert elsewhere.get("/customers").status_code == 303
    assert sign_in(app.test_client(), staff["support"]).status_code == 401
    assert sign_in(app.test_client(), staff["support"], "a new long password"
                   ).status_code == 303
    with app.app_context():
        assert db.session.scalar(db.select(AuditEntry.details).where(
            AuditEntry.action == "staff.change_password")) == {"sessions_ended": 1}


def test_unknown_accounts_are_checked_against_a_hash_of_the_same_cost(make_app, app_config):
    from dashboard.signin import dummy_hash

    app = make_app({**app_config, "PASSWORD_HASH_METHOD": "scrypt:16384:8:1"})
    with app.app_context():
        assert dummy_hash().startswith("scrypt:16384:8:1$")
