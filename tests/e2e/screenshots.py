"""Take the README's screenshots of the console: ``python -m tests.e2e.screenshots [OUT_DIR]``.

Seeds a fresh SQLite database with a month of realistic billing through the in-process
sandbox and direct rows, serves the console on 127.0.0.1 and photographs the main pages with
Debian's Chromium. Writes docs/screenshots/*.png by default.
"""
from __future__ import annotations

import random
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import sync_playwright

from dashboard import create_app
from dashboard.billing import audit, intake, refunds
from dashboard.extensions import db
from dashboard.models import Customer, Payment, Plan, Schedule, Subscription, WebhookEvent
from tests.views.conftest import DASHBOARD_URL, PASSWORD, Sandbox, make_user
from tests.webhook_queue import DrainingAdapter

from .live import CHROMIUM, route_htmx, serve

ROOT = Path(__file__).resolve().parents[2]
PEOPLE = [
    ("김민수", "minsu.kim@example.com", "010-1234-5678"),
    ("이서연", "seoyeon@example.com", "010-2345-6789"),
    ("박지훈", "jihoon.park@example.com", "010-3456-7890"),
    ("최유진", "yujin@example.com", "010-4567-8901"),
    ("정하은", "haeun.jung@example.com", "010-5678-9012"),
    ("강도윤", "doyun@example.com", "010-6789-0123"),
    ("조수아", "sua.cho@example.com", "010-7890-1234"),
    ("윤지호", "jiho.yoon@example.com", "010-8901-2345"),
]


def seed(app, sandbox) -> int:
    """Fill the database; return the id of the customer to photograph."""
    rng = random.Random(7)
    now = datetime.now(UTC)
    with app.app_context():
        db.create_all()
        make_user("support", "support@example.com")
        db.session.add_all([
            Plan(code="basic", name="베이직 월간", amount=9900, credits_per_period=100),
            Plan(code="pro", name="프로 월간", amount=29900, credits_per_period=500),
        ])
        db.session.commit()
        for n, (name, email, phone) in enumerate(PEOPLE):
            uid = f"cust_{n + 1:04d}"
            sandbox.issue_key(uid, card_number="4518-4212-3456-0002" if n == 5 else
                              f"5570-4200-0000-{7221 + n}")
            intake.start_subscription(uid, plan_code="pro" if n % 3 == 0 else "basic",
                                      customer_info={"name": name, "email": email, "phone": phone})
    sandbox.advance(120)
    sandbox.run_due()
    with app.app_context():
        customers = db.session.scalars(db.select(Customer).order_by(Customer.id)).all()
        # A month of earlier charges, for the chart and the calendar.
        for day in range(1, 30):
            for customer in rng.sample(customers, rng.randint(1, 4)):
                at = now - timedelta(days=day, hours=rng.randint(0, 20))
                status = "failed" if rng.random() < 0.12 else "paid"
                db.session.add(Payment(
                    merchant_uid=f"hist-{day}-{customer.id}",
                    imp_uid=f"imps_{day:02d}{customer.id:04d}",
                    customer_id=customer.id, amount=rng.choice([9900, 29900]), status=status,
                    origin="schedule", name="정기결제", created_at=at, card_name=customer.card_name,
                    card_number=customer.card_number,
                    paid_at=at if status == "paid" else None,
                    failed_at=at if status == "failed" else None,
                    fail_reason="[CC10] 통장 잔액부족" if status == "failed" else None))
        for day in range(2, 40, 3):
            customer = customers[day % len(customers)]
            db.session.add(Schedule(
                merchant_uid=f"future-{day}", customer_id=customer.id, amount=9900,
                schedule_at=now + timedelta(days=day, hours=2), name="베이직 월간"))
        past_due = db.session.scalars(db.select(Subscription)).all()[5]
        past_due.status, past_due.failed_attempts = "past_due", 3
        db.session.add(Payment(merchant_uid="manual-unknown-1", customer_id=customers[2].id,
                               amount=29900, status="pending", origin="manual", name="추가 이용료"))
        db.session.add(WebhookEvent(imp_uid="imp_lost_0001", merchant_uid="sub9-p2-a1",
                                    status="paid", state="failed", attempts=2, raw_body=b"{}",
                                    error="iamport could not be reached"))
        db.session.commit()
        target = customers[0].id
        paid = db.session.scalar(db.select(Payment.id).where(
            Payment.customer_id == target, ~Payment.merchant_uid.startswith("hist-"),
            Payment.status == "paid"))
        if paid is not None:
            refunds.refund_payment(paid, amount=2000, reason="일할 환불", actor=audit.CLI)
    return target


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    sandbox = Sandbox()
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({
            "TESTING": True, "SECRET_KEY": "screenshots", "WTF_CSRF_ENABLED": False,
            "DATABASE_URL": f"sqlite:///{folder}/shots.sqlite",
            "IAMPORT_CLIENT": sandbox.client, "CLOCK": sandbox.clock(),
        })
        sandbox.webhook_session.mount(DASHBOARD_URL, DrainingAdapter(app))
        customer_id = seed(app, sandbox)
        with serve(app) as base, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
            page = browser.new_page(viewport={"width": 1360, "height": 900},
                                    device_scale_factor=1)
            route_htmx(page)
            page.goto(f"{base}/login")
            page.fill("input[name=email]", "support@example.com")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit].primary")
            page.wait_for_url(f"{base}/")
            page.screenshot(path=str(out_dir / "overview.png"), full_page=True)
            page.goto(f"{base}/customers")
            page.screenshot(path=str(out_dir / "customers.png"), full_page=True)
            page.goto(f"{base}/customers/{customer_id}")
            page.screenshot(path=str(out_dir / "customer.png"), full_page=True)
            row = page.locator("tr[data-payment]").filter(has_text="₩9,900").first
            row.locator("a:has-text('환불')").click()
            panel = page.locator("#action-panel")
            panel.locator("input[name=amount]").fill("3000")
            panel.locator("input[name=reason]").fill("중복 결제")
            panel.locator("button[type=submit]").click()
            page.wait_for_selector("#action-panel input[name=confirmed]", state="attached")
            panel.screenshot(path=str(out_dir / "refund-confirmation.png"))
            browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots")
