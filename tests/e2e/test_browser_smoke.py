"""A real browser proves htmx, the CSP and the forms work together.

Sign in, search and open a customer, make one partial refund through the htmx form, and see
the page update in place while the sandbox records the cancel.
"""
from __future__ import annotations

import pytest

from dashboard.billing import intake
from dashboard.extensions import db
from dashboard.models import Payment, Plan
from tests.views.conftest import DASHBOARD_URL, PASSWORD, Sandbox, make_user
from tests.webhook_queue import DrainingAdapter

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
    return {**app_config, "IAMPORT_CLIENT": sandbox.client, "CLOCK": sandbox.clock()}


@pytest.fixture
def paid_customer(app, sandbox):
    """A subscriber whose first period (₩9,900) is paid."""
    sandbox.webhook_session.mount(DASHBOARD_URL, DrainingAdapter(app))
    with app.app_context():
        make_user("support")
        db.session.add(Plan(code="basic", name="베이직 월간", amount=9900))
        db.session.commit()
        sandbox.issue_key("cust_e2e")
        intake.start_subscription("cust_e2e", plan_code="basic", customer_info={
            "name": "김민수", "email": "minsu@example.com", "phone": "010-1234-5678"})
    sandbox.advance(120)
    sandbox.run_due()
    with app.app_context():
        payment = db.session.scalar(db.select(Payment).where(Payment.status == "paid"))
        return payment.imp_uid


@pytest.fixture
def chromium():
    """Debian's Chromium driven by Playwright (no browser download)."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


def test_sign_in_search_and_refund_in_place(app, sandbox, paid_customer, chromium):
    problems: list[str] = []
    with serve(app) as base_url:
        page = chromium.new_page()
        page.on("console",
                lambda message: message.type == "error" and problems.append(message.text))
        page.on("pageerror", lambda error: problems.append(str(error)))
        route_htmx(page)

        page.goto(f"{base_url}/customers")
        assert "/login" in page.url
        page.fill("input[name=email]", "support@example.com")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit].primary")
        page.wait_for_url(f"{base_url}/customers")
        assert page.evaluate("typeof htmx") == "object"  # loaded despite the strict CSP

        # Search as you type: htmx swaps the table and pushes the query into the address.
        page.fill("input[name=q]", "010-1234")
        page.wait_for_url("**/customers?q=010-1234**")
        page.click("#results a:has-text('김민수')")
        page.wait_for_url("**/customers/*")

        page.evaluate("window.stillTheSamePage = true")
        row = page.locator("tr[data-payment]").first
        assert row.locator("td.refunded").inner_text() == "₩0"
        row.locator("a:has-text('환불')").click()
        panel = page.locator("#action-panel")
        panel.locator("input[name=amount]").fill("3000")
        panel.locator("input[name=reason]").fill("중복 결제")
        panel.locator("button[type=submit]").click()
        # The server-rendered confirmation: paid, already refunded, refundable, what remains.
        page.wait_for_selector("#action-panel input[name=confirmed]", state="attached")
        confirmation = panel.inner_text()
        assert "₩9,900" in confirmation and "₩6,900" in confirmation
        panel.locator("button.danger").click()

        # (Playwright's string predicates are eval, which the CSP forbids: use locators.)
        sync_api.expect(page.locator("tr[data-payment] td.refunded").first).to_have_text("₩3,000")
        assert page.evaluate("window.stillTheSamePage") is True  # updated in place
        assert "부분환불" in page.locator("tr[data-payment]").first.inner_text()
        assert page.locator(".flash-success").count() == 1
        page.close()

    remote = sandbox.client.get_payment(paid_customer)
    assert remote.cancel_amount == 3000 and len(remote.cancel_history) == 1
    assert problems == []
