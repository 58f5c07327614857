"""The admin pages: staff accounts and sessions, API tokens, the audit log and setup."""
from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest

from dashboard.extensions import db
from dashboard.models import AdminUser, ApiToken, AuditEntry, GoLiveStep, StaffSession

from .conftest import HTMX, make_event, sign_in


def account(email: str) -> AdminUser:
    db.session.expire_all()
    return db.session.scalar(db.select(AdminUser).where(AdminUser.email == email))


def secret_on(page: str) -> str:
    return re.search(r'id="secret-once">([^<]+)<', page)[1]


def test_admin_creates_a_staff_member_with_a_one_time_password(app, admin_client):
    response = admin_client.post("/admin/users", data={"email": "New.Agent@Example.com",
                                                       "name": "상담원", "role": "support"})
    assert response.status_code == 201
    password = secret_on(response.get_data(as_text=True))
    assert len(password) >= 12
    with app.app_context():
        created = account("new.agent@example.com")
        assert created.role == "support" and password not in created.password_hash
        entry = db.session.scalar(db.select(AuditEntry).where(
            AuditEntry.action == "staff.create"))
        assert entry.actor_label == "admin@example.com" and password not in str(entry.details)
    # The password works once handed over; it is never shown again.
    assert sign_in(app.test_client(), "new.agent@example.com", password).status_code == 303
    assert password not in admin_client.get("/admin/users").get_data(as_text=True)


@pytest.mark.parametrize("data", [
    {"email": "not-an-email", "role": "viewer"},
    {"email": "a@example.com", "role": "owner"},
    {"email": "admin@example.com", "role": "viewer"},  # taken
])
def test_invalid_staff_forms_are_refused_with_422(app, admin_client, data):
    with app.app_context():
        before = db.session.scalar(db.select(db.func.count(AdminUser.id)))
    assert admin_client.post("/admin/users", data=data).status_code == 422
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(AdminUser.id))) == before


def test_role_change_is_audited_with_before_and_after(app, staff, admin_client):
    with app.app_context():
        viewer_id = account(staff["viewer"]).id
    response = admin_client.post(f"/admin/users/{viewer_id}/role", data={"role": "support"})
    assert response.status_code == 303
    with app.app_context():
        assert account(staff["viewer"]).role == "support"
        entry = db.session.scalar(db.select(AuditEntry).where(
            AuditEntry.action == "staff.change_role"))
        assert entry.details == {"before": {"role": "viewer"}, "after": {"role": "support"}}


def test_admins_cannot_lock_themselves_out(app, staff, admin_client):
    with app.app_context():
        admin_id = account(staff["admin"]).id
    assert admin_client.post(f"/admin/users/{admin_id}/role",
                             data={"role": "viewer"}).status_code == 422
    assert admin_client.post(f"/admin/users/{admin_id}/deactivate",
                             data={"confirmed": "yes"}).status_code == 422
    with app.app_context():
        assert account(staff["admin"]).role == "admin" and account(staff["admin"]).active


def test_deactivation_asks_first_then_ends_sessions(app, staff, admin_client, as_role):
    support = as_role("support")
    with app.app_context():
        support_id = account(staff["support"]).id
    asked = admin_client.post(f"/admin/users/{support_id}/deactivate", data={})
    assert asked.status_code == 200 and 'name="confirmed" value="yes"' in asked.get_data(
        as_text=True)
    with app.app_context():
        assert account(staff["support"]).active
    done = admin_client.post(f"/admin/users/{support_id}/deactivate", data={"confirmed": "yes"})
    assert done.status_code == 303
    assert support.get("/customers").status_code == 303
    assert sign_in(app.test_client(), staff["support"]).status_code == 401
    admin_client.post(f"/admin/users/{support_id}/activate", data={"confirmed": "yes"})
    assert sign_in(app.test_client(), staff["support"]).status_code == 303


def test_reset_password_shows_a_new_one_once_and_ends_sessions(app, staff, admin_client, as_role):
    viewer = as_role("viewer")
    with app.app_context():
        viewer_id = account(staff["viewer"]).id
    response = admin_client.post(f"/admin/users/{viewer_id}/reset-password",
                                 data={"confirmed": "yes"})
    password = secret_on(response.get_data(as_text=True))
    assert viewer.get("/customers").status_code == 303
    assert sign_in(app.test_client(), staff["viewer"]).status_code == 401
    assert sign_in(app.test_client(), staff["viewer"], password).status_code == 303
    with app.app_context():
        reasons = db.session.scalars(db.select(StaffSession.revoked_reason)).all()
        assert "password_change" in reasons


def test_sign_out_everywhere_and_the_sessions_list(app, staff, admin_client):
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop, staff["support"])
    phone.post("/login", data={"email": staff["support"], "password": "correct horse battery"},
               headers={"User-Agent": "PhoneBrowser/1.0"})
    with app.app_context():
        support_id = account(staff["support"]).id
    page = admin_client.get(f"/admin/users/{support_id}").get_data(as_text=True)
    assert "PhoneBrowser/1.0" in page and "127.0.0.1" in page
    admin_client.post(f"/admin/users/{support_id}/sign-out-everywhere", data={"confirmed": "yes"})
    assert laptop.get("/customers").status_code == 303
    assert phone.get("/customers").status_code == 303
    assert "PhoneBrowser/1.0" not in admin_client.get(
        f"/admin/users/{support_id}").get_data(as_text=True)


def test_tokens_are_created_with_scopes_shown_once_listed_and_revoked(app, admin_client):
    response = admin_client.post("/admin/tokens", data={"name": "shop backend",
                                                        "scopes": ["subscriptions:read"]})
    assert response.status_code == 201
    token = secret_on(response.get_data(as_text=True))
    api = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/v1/subscriptions/1", headers=headers).status_code == 404
    assert api.post("/api/v1/subscriptions", headers=headers, json={}).status_code == 403
    listing = admin_client.get("/admin/tokens").get_data(as_text=True)
    assert "shop backend" in listing and token not in listing and token[:12] in listing
    with app.app_context():
        token_id = db.session.scalar(db.select(ApiToken.id))
        assert db.session.get(ApiToken, token_id).last_used_at is not None
    admin_client.post(f"/admin/tokens/{token_id}/revoke", data={"confirmed": "yes"})
    assert api.get("/api/v1/subscriptions/1", headers=headers).status_code == 401


def test_a_token_needs_a_name_and_a_scope(admin_client):
    assert admin_client.post("/admin/tokens", data={"name": "x"}).status_code == 422
    assert admin_client.post("/admin/tokens", data={"name": "",
                                                    "scopes": ["subscriptions:read"]}
                             ).status_code == 422


def listed_actions(response) -> set[str]:
    return set(re.findall(r'<code class="muted">([a-z_.]+)</code>',
                          response.get_data(as_text=True)))


def test_the_audit_log_filters_by_actor_action_target_and_date(app, staff, admin_client):
    with app.app_context():
        viewer_id = account(staff["viewer"]).id
    admin_client.post(f"/admin/users/{viewer_id}/role", data={"role": "support"})
    audit = "/admin/audit"
    assert {"staff.change_role", "staff.sign_in"} <= listed_actions(admin_client.get(audit))
    assert listed_actions(admin_client.get(audit, query_string={
        "action": "staff.change_role"})) == {"staff.change_role"}
    assert listed_actions(admin_client.get(audit, query_string={"action": "staff"})) == {
        "staff.change_role", "staff.sign_in"}
    assert listed_actions(admin_client.get(audit, query_string={
        "target": f"admin_user:{viewer_id}"})) == {"staff.change_role"}
    assert listed_actions(admin_client.get(audit, query_string={
        "actor": "nobody@example.com"})) == set()
    assert listed_actions(admin_client.get(audit, query_string={
        "actor": staff["admin"]})) == {"staff.change_role", "staff.sign_in"}
    assert listed_actions(admin_client.get(audit, query_string={"from": "2999-01-01"})) == set()
    assert "staff.change_role" in listed_actions(admin_client.get(audit, query_string={
        "from": "2000-01-01", "to": "2999-12-31"}))
    fragment = admin_client.get(audit, query_string={"action": "staff"}, headers=HTMX)
    assert "<html" not in fragment.get_data(as_text=True)


def test_the_audit_logs_rows(app, admin_client):
    """The audit log's rows are read as plain rows and written in Python: stored text stays
    text, a change reads before → after as JSON, other details as JSON, none as nothing."""
    from .conftest import add

    hostile = '<img src=x onerror="alert(1)">&'
    with app.app_context():
        at = datetime(2026, 11, 27, 4, 5, 9, tzinfo=UTC)
        add(AuditEntry(created_at=at, actor_label=hostile, ip_address="10.0.0.7",
                       action="staff.change_role", target_type="admin_user", target_id="7",
                       reason=hostile, outcome="rejected",
                       details={"before": {"role": "viewer"}, "after": {"role": "</td>"}}))
        add(AuditEntry(created_at=at, actor_label="ops@example.com", action="export.download",
                       target_type="payment", target_id="<all>", outcome="ok",
                       details={"rows": 3, "filters": {"to": "2026-10-31", "from": "2026-10-01"}}))
        add(AuditEntry(created_at=at, actor_label="system", action="sync.run",
                       target_type="sync", target_id="1", outcome="ok"))
    html = admin_client.get("/admin/audit", query_string={"from": "2026-11-27",
                                                          "to": "2026-11-27"})
    rows = html.get_data(as_text=True).split("<tbody>")[1].split("</tbody>")[0]
    escaped = "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;&amp;"
    assert "<img" not in rows and rows.count("<tr>") == 3
    assert (f'<td>{escaped}<br><span class="muted">10.0.0.7</span></td>'
            '<td>역할 변경<br><code class="muted">staff.change_role</code></td>'
            f"<td><code>admin_user:7</code></td><td>{escaped}</td>"
            '<td class="muted">{"role": "viewer"} → {"role": "\\u003c/td\\u003e"}</td>'
            "<td>거절됨</td>") in rows
    assert rows.count("2026-11-27 13:05:09 KST") == 3
    assert ('<td><code>payment:&lt;all&gt;</code></td><td></td><td class="muted">'
            '{"filters": {"from": "2026-10-01", "to": "2026-10-31"}, "rows": 3}</td>') in rows
    assert ('<td><code>sync:1</code></td><td></td><td class="muted"></td>') in rows
    empty = admin_client.get("/admin/audit", query_string={"actor": "nobody@example.com"})
    assert ('<td colspan="7" class="empty">조건에 맞는 감사 기록이 없습니다.</td>'
            in empty.get_data(as_text=True))

def test_an_action_prefix_pages_through_each_action_newest_first(app, admin_client):
    """"staff" names several actions, each read from its own index and merged: the pages
    hold every match once, newest first, across the cursor; other actions stay out."""
    from datetime import timedelta

    from .conftest import add

    start = datetime(2026, 11, 20, 1, 0, 0, tzinfo=UTC)
    with app.app_context():
        for n in range(90):
            action = ("staff.sign_in", "staff.create", "payment.refund")[n % 3]
            add(AuditEntry(created_at=start + timedelta(seconds=n), actor_label="ops@x.kr",
                           action=action, target_type="t", target_id=str(n), outcome="ok"))
    shown, url = [], "/admin/audit?action=staff&from=2026-11-20&to=2026-11-20"
    while url:
        page = admin_client.get(url).get_data(as_text=True)
        shown += [int(n) for n in re.findall(r"<code>t:(\d+)</code>", page)]
        after = re.search(r'href="(/admin/audit\?[^"]*after=[^"]+)"', page)
        url = after.group(1).replace("&amp;", "&") if after else None
    assert shown == [n for n in range(89, -1, -1) if n % 3 != 2]
    exact = admin_client.get("/admin/audit?action=staff.create&from=2026-11-20&to=2026-11-20")
    assert re.findall(r"<code>t:(\d+)</code>", exact.get_data(as_text=True)) == [
        str(n) for n in range(88, -1, -3)]

def test_the_audit_logs_action_filter_offers_every_action_the_console_records(app, admin_client):
    from dashboard.formatting import ACTION_LABELS

    page = admin_client.get("/admin/audit").get_data(as_text=True)
    offered = re.findall(r'<option value="([a-z_.]+)">([^<]*)</option>',
                         page.split('<datalist id="audit-actions">')[1].split("</datalist>")[0])
    # Recorded or not yet: the log here holds a sign-in, and no plan was ever created.
    assert [action for action, _ in offered] == sorted(ACTION_LABELS)
    assert ("plan.create", "요금제 생성") in offered and ("payment.refund", "환불") in offered


def test_the_audit_log_exports_csv(app, staff, admin_client):
    with app.app_context():
        viewer_id = account(staff["viewer"]).id
    admin_client.post(f"/admin/users/{viewer_id}/role", data={"role": "support"})
    body = admin_client.get("/admin/audit.csv", query_string={"action": "staff.change_role"})
    rows = list(csv.DictReader(io.StringIO(body.get_data().decode("utf-8-sig"))))
    assert [row["action"] for row in rows] == ["staff.change_role"]
    assert rows[0]["actor"] == "admin@example.com" and rows[0]["ip_address"] == "127.0.0.1"
    assert '"before": {"role": "viewer"}' in rows[0]["details"]


@pytest.fixture
def sandbox_app(app_config, sandbox):
    from dashboard import create_app
    from tests.conftest import empty_all_tables

    app = create_app({**app_config, **sandbox.app_config(),
                      "IAMPORT_WEBHOOK_TOKEN": "hook-secret-123"})
    with app.app_context():
        empty_all_tables()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def admin_of(app):
    from .conftest import make_user

    with app.app_context():
        make_user("admin")
    client = app.test_client()
    sign_in(client, "admin@example.com")
    return client


def test_setup_page_shows_webhook_url_pg_dunning_and_webhooks_received(sandbox_app):
    client = admin_of(sandbox_app)
    page = client.get("/admin/setup").get_data(as_text=True)
    assert "http://localhost/webhooks/iamport?token=hook-secret-123" in page
    assert "<code>kcp</code>" in page
    assert "1, 1, 1" in page and "past_due" in page  # the default dunning policy
    assert 'id="webhook-received" data-state="none"' in page
    with sandbox_app.app_context():
        make_event(state="processed", received_at=datetime(2026, 11, 27, 4, 5, 9, tzinfo=UTC))
        make_event(state="failed", received_at=datetime(2026, 11, 27, 4, 6, 9, tzinfo=UTC))
        make_event(state="processed", received_at=datetime(2026, 11, 26, 4, 7, 9, tzinfo=UTC))
    page = client.get("/admin/setup").get_data(as_text=True)
    # The newest arrival by time, whatever order the rows were written in.
    received = re.search(r'<p id="webhook-received" data-state="(\w+)">(.*?)</p>', page)
    assert received.group(1) == "failed"
    assert "2026-11-27 13:06:09 KST" in received.group(2)
    assert "처리 실패" in received.group(2)


def test_connection_test_says_ok_with_the_sandbox(sandbox_app):
    client = admin_of(sandbox_app)
    page = client.post("/admin/setup/connection-test").get_data(as_text=True)
    assert 'data-result="ok"' in page
    with sandbox_app.app_context():
        entry = db.session.scalar(db.select(AuditEntry).where(
            AuditEntry.action == "setup.connection_test"))
        assert entry.outcome == "ok" and entry.details["result"] == "ok"


@pytest.mark.parametrize("key, secret, url, result", [
    ("", "secret", None, "missing_key"),
    ("key", "", None, "missing_secret"),
    ("wrong-key", "wrong-secret", None, "refused"),
    ("key", "secret", "http://127.0.0.1:9/", "unreachable"),
])
def test_connection_test_says_what_went_wrong(app_config, sandbox, key, secret, url, result):
    from dashboard import create_app
    from dashboard.iamport import IamportClient
    from tests.conftest import empty_all_tables
    from tests.harness import API_URL

    client = IamportClient(url or API_URL, key, secret, session=sandbox.http,
                           read_timeout=1, read_retries=0, retry_backoff=0)
    app = create_app({**app_config, "IAMPORT_CLIENT": client})
    with app.app_context():
        empty_all_tables()
    try:
        page = admin_of(app).post("/admin/setup/connection-test").get_data(as_text=True)
        assert f'data-result="{result}"' in page
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_go_live_steps_record_who_and_when(app, staff, admin_client):
    page = admin_client.get("/admin/setup").get_data(as_text=True)
    for words in ("NHN KCP / NHN KCP API", "배치결제그룹아이디", "카드사 심사", "사이트코드"):
        assert words in page
    admin_client.post("/admin/setup/steps/batch_group_id",
                      data={"done": "yes", "note": "group id entered"})
    with app.app_context():
        step = db.session.get(GoLiveStep, "batch_group_id")
        assert step.done_by.email == staff["admin"] and step.note == "group id entered"
    page = admin_client.get("/admin/setup").get_data(as_text=True)
    assert 'id="step-batch_group_id" data-done="yes"' in page
    assert admin_client.post("/admin/setup/steps/nonsense", data={"done": "yes"}
                             ).status_code == 404
    admin_client.post("/admin/setup/steps/batch_group_id", data={"done": "no"})
    with app.app_context():
        assert db.session.get(GoLiveStep, "batch_group_id") is None
        actions = db.session.scalars(db.select(AuditEntry.action).where(
            AuditEntry.action.startswith("setup."))).all()
        assert actions == ["setup.step_done", "setup.step_undone"]


def test_setup_is_in_the_navigation_for_admins_only(as_role):
    assert 'href="/admin/setup"' in as_role("admin").get("/customers").get_data(as_text=True)
    assert 'href="/admin/setup"' not in as_role("support").get("/customers").get_data(
        as_text=True)


@pytest.mark.parametrize("url", ["/admin/users", "/admin/tokens", "/admin/audit",
                                 "/admin/audit.csv", "/admin/setup"])
@pytest.mark.parametrize("role", ["viewer", "support"])
def test_admin_pages_are_refused_below_admin(as_role, url, role):
    assert as_role(role).get(url).status_code == 403
