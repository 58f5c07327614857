"""Browser journeys: a live console over HTTP, the sandbox in process, Chromium and axe-core.

Every page a journey visits is checked with axe-core (pinned in tests/e2e/package.json); a
serious or critical violation fails the journey. axe is served from 127.0.0.1 like the
console's own files, so the strict Content-Security-Policy stays on while it runs.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from dashboard.billing import intake
from dashboard.extensions import db
from dashboard.models import Payment, Plan
from tests.harness import Sandbox
from tests.views.conftest import PASSWORD, make_user

from .live import AXE_FILE, CHROMIUM, HTMX_FILE, route_assets, serve

if not CHROMIUM.exists():
    pytest.skip("needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)",
                allow_module_level=True)
if not (HTMX_FILE.exists() and AXE_FILE.exists()):
    pytest.skip("needs the pinned npm packages: npm ci --prefix tests/e2e",
                allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")

# What fails a journey: axe's two worst impact levels.
BLOCKING_IMPACTS = ("serious", "critical")


@pytest.fixture
def sandbox():
    return Sandbox()


@pytest.fixture
def app_config(app_config, sandbox):
    return {**app_config, "IAMPORT_CLIENT": sandbox.client, "CLOCK": sandbox.clock()}


@pytest.fixture
def app(app, sandbox):
    """The console, receiving the sandbox's webhooks in process."""
    sandbox.deliver_to(app)
    return app


@pytest.fixture(scope="session")
def chromium_browser():
    """Debian's Chromium driven by Playwright (no browser download), shared by the journeys."""
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


@dataclass
class Console:
    """One staff member's browser tab on the live console, checking every page it shows."""

    page: object
    base_url: str
    problems: list[str] = field(default_factory=list)
    checked: set[str] = field(default_factory=set)

    def url(self, path: str) -> str:
        return self.base_url + path

    def sign_in(self, email: str, *, keyboard: bool = False) -> None:
        self.page.goto(self.url("/login"))
        self.check_accessibility()
        self.page.fill("input[name=email]", email)
        self.page.fill("input[name=password]", PASSWORD)
        if keyboard:
            self.page.keyboard.press("Enter")
        else:
            self.page.click("button[type=submit].primary")
        self.page.wait_for_url(lambda url: "/login" not in url)
        self.check_accessibility()

    def goto(self, path: str) -> None:
        self.page.goto(self.url(path))
        self.check_accessibility()

    def search(self, text: str) -> None:
        """Type into the top bar's search box and press Enter."""
        box = self.page.locator("#global-q")
        box.fill(text)
        box.press("Enter")
        self.page.wait_for_load_state()
        self.check_accessibility()

    def flash(self) -> str:
        return self.page.locator(".flash").first.inner_text()

    def check_accessibility(self) -> None:
        """Run axe-core on the page as it is now; record serious and critical violations."""
        self.page.add_script_tag(url=self.url("/_e2e/axe.min.js"))
        result = self.page.evaluate(
            "axe.run(document, {resultTypes: ['violations']})"
            ".then(r => r.violations.map(v => ({id: v.id, impact: v.impact,"
            " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))})))"
        )
        path = self.page.url.replace(self.base_url, "")
        self.checked.add(path.split("?")[0])
        for violation in result:
            if violation["impact"] in BLOCKING_IMPACTS:
                self.problems.append(f"axe {violation['impact']} {violation['id']} on {path}: "
                                     f"{json.dumps(violation['nodes'], ensure_ascii=False)}")


@pytest.fixture
def console(app, chromium_browser):
    """Open a tab on the live console; fail on page errors and accessibility violations."""
    contexts = []

    def open_tab(**context_options) -> Console:
        context = chromium_browser.new_context(**context_options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        tab = Console(page=page, base_url=base_url)
        page.on("console", lambda message: message.type == "error"
                and tab.problems.append(f"console: {message.text}"))
        page.on("pageerror", lambda error: tab.problems.append(f"page error: {error}"))
        route_assets(page)
        tabs.append(tab)
        return tab

    tabs: list[Console] = []
    with serve(app) as base_url:
        yield open_tab
        for context in contexts:
            context.close()
    problems = [problem for tab in tabs for problem in tab.problems]
    assert problems == []
    assert all(tab.checked for tab in tabs)


@pytest.fixture
def staff(app):
    """One account per role."""
    with app.app_context():
        return {role: make_user(role).email for role in ("viewer", "support", "admin")}


def subscribe(app, sandbox, customer_uid: str, name: str, phone: str, *,
              card_number: str = "5570-4200-0007-7221", plan: str = "basic") -> None:
    """Issue a billing key at the sandbox and start a subscription (not yet charged)."""
    with app.app_context():
        if db.session.scalar(db.select(Plan).where(Plan.code == plan)) is None:
            db.session.add(Plan(code=plan, name="베이직 월간", amount=9900))
            db.session.commit()
        sandbox.issue_key(customer_uid, card_number=card_number)
        intake.start_subscription(customer_uid, plan_code=plan, customer_info={
            "name": name, "email": f"{customer_uid}@example.com", "phone": phone})


@pytest.fixture
def customers(app, sandbox, staff):
    """Three subscribers: two paid their first period, one (이서연) was declined."""
    subscribe(app, sandbox, "cust_minsu", "김민수", "010-1234-5678")
    subscribe(app, sandbox, "cust_jihoon", "박지훈", "010-3456-7890")
    subscribe(app, sandbox, "cust_seoyeon", "이서연", "010-2345-6789",
              card_number="4518-4200-0005-0002")
    sandbox.advance(120)
    sandbox.run_due()
    with app.app_context():
        payments = {p.customer.customer_uid: (p.id, p.imp_uid, p.status)
                    for p in db.session.scalars(db.select(Payment))}
    assert payments["cust_minsu"][2] == "paid" and payments["cust_seoyeon"][2] == "failed"
    return payments
