"""The operations pages in a real browser: create a staff member and see the one-time
password once, revoke their session, create a scoped API token, filter the audit log, and
walk the setup page's connection test and go-live checklist."""
from __future__ import annotations

import pytest

from dashboard.extensions import db
from dashboard.models import AdminUser, ApiToken, GoLiveStep, StaffSession
from tests.harness import Sandbox
from tests.views.conftest import PASSWORD, make_user

from .live import CHROMIUM, HTMX_FILE, route_htmx, serve

pytestmark = pytest.mark.e2e

if not CHROMIUM.exists():
    pytest.skip("needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)",
                allow_module_level=True)
if not HTMX_FILE.exists():
    pytest.skip("needs the pinned htmx copy: npm install --prefix tests/e2e htmx.org@2.0.11",
                allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def sandbox():
    return Sandbox()


@pytest.fixture
def app_config(app_config, sandbox):
    return {**app_config, "IAMPORT_CLIENT": sandbox.client, "CLOCK": sandbox.clock(),
            "IAMPORT_WEBHOOK_TOKEN": "hook-token-e2e"}


@pytest.fixture
def chromium():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


def sign_in(page, base_url, email, password):
    page.goto(f"{base_url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{base_url}/")


def test_operations_pages_in_the_browser(app, chromium):
    with app.app_context():
        make_user("admin")
    problems: list[str] = []
    with serve(app) as base_url:
        context = chromium.new_context()
        page = context.new_page()
        page.on("console",
                lambda message: message.type == "error" and problems.append(message.text))
        page.on("pageerror", lambda error: problems.append(str(error)))
        route_htmx(page)
        sign_in(page, base_url, "admin@example.com", PASSWORD)

        # The setup page is in the navigation (Korean by default).
        page.click("nav a:has-text('설정')")
        page.wait_for_url(f"{base_url}/admin/setup")
        assert "/webhooks/iamport?token=hook-token-e2e" in page.locator("#webhook-url").inner_text()
        page.click("#connection button[type=submit]")
        sync_api.expect(page.locator("#connection-result")).to_have_attribute("data-result", "ok")
        step = page.locator("#step-pg_setting")
        step.locator("input[name=note]").fill("사이트코드 입력함")
        step.locator("button[type=submit]").click()
        sync_api.expect(page.locator("#step-pg_setting")).to_have_attribute("data-done", "yes")
        assert "admin@example.com" in page.locator("#step-pg_setting").inner_text()

        # Staff: create an agent; the one-time password is shown once and works.
        page.click("nav.toolbar a[href='/admin/users']")
        page.wait_for_url(f"{base_url}/admin/users")
        page.fill("input[name=email]", "agent@example.com")
        page.select_option("select[name=role]", "support")
        page.click("button:has-text('계정 만들기')")
        secret = page.locator("#secret-once")
        sync_api.expect(secret).to_be_visible()
        password = secret.inner_text().strip()

        agent_context = chromium.new_context()
        agent = agent_context.new_page()
        route_htmx(agent)
        sign_in(agent, base_url, "agent@example.com", password)

        # The agent's session is listed; signing them out everywhere ends it.
        with app.app_context():
            agent_id = db.session.scalar(
                db.select(AdminUser.id).where(AdminUser.email == "agent@example.com"))
        page.goto(f"{base_url}/admin/users/{agent_id}")
        assert "HeadlessChrome" in page.locator("main").inner_text()
        page.click("button:has-text('모든 기기에서 로그아웃')")
        page.locator(".confirm button.danger").click()
        sync_api.expect(page.locator(".flash-success")).to_have_count(1)
        agent.goto(f"{base_url}/customers")
        assert "/login" in agent.url

        # API tokens: read-only scope, shown once, listed.
        page.goto(f"{base_url}/admin/tokens")
        page.fill("input[name=name]", "reporting")
        page.click("button:has-text('토큰 만들기')")
        token = page.locator("#secret-once").inner_text().strip()
        assert token.startswith("dsk_")
        page.goto(f"{base_url}/admin/tokens")
        assert "reporting" in page.locator("table").inner_text()
        assert token not in page.content()

        # Audit: filter by action with htmx; the address keeps the filter.
        page.goto(f"{base_url}/admin/audit")
        page.fill("input[name=action]", "staff.sign_out_everywhere")
        page.locator("input[name=action]").press("Enter")
        page.wait_for_url("**/admin/audit?*action=staff.sign_out_everywhere*")
        sync_api.expect(page.locator("#results tbody tr")).to_have_count(1)
        page.close()
        agent_context.close()
        context.close()

    with app.app_context():
        assert db.session.get(GoLiveStep, "pg_setting").note == "사이트코드 입력함"
        assert db.session.scalar(db.select(ApiToken.scopes)) == "subscriptions:read"
        assert db.session.scalar(db.select(StaffSession.revoked_reason).where(
            StaffSession.user_id == agent_id)) == "sign_out_everywhere"
    assert problems == []
