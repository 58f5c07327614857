"""A support agent's everyday tasks in Chromium, from sign-in to the outcome.

Each journey checks the result where it lands: the console's database and what the sandbox
(iamport) recorded. The ``console`` fixture runs axe-core on every page a journey shows and
fails it on any serious or critical violation, or on any script error.
"""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dashboard.extensions import db
from dashboard.models import (
    CustomerNote,
    Payment,
    Refund,
    Schedule,
    Subscription,
    WebhookEvent,
)

from .conftest import sync_api

pytestmark = pytest.mark.e2e
expect = sync_api.expect


def rows(app, model, *conditions):
    with app.app_context():
        found = db.session.scalars(db.select(model).where(*conditions).order_by(model.id)).all()
        db.session.expunge_all()
        return found


def refund_in_panel(tab, amount: str, reason: str) -> None:
    """Fill the refund form that opened in the action panel, then confirm it."""
    panel = tab.page.locator("#action-panel")
    panel.locator("input[name=amount]").fill(amount)
    panel.locator("input[name=reason]").fill(reason)
    panel.locator("button[type=submit]").click()
    expect(panel.locator("input[name=confirmed]")).to_have_count(1)
    tab.check_accessibility()
    panel.locator("button.danger").click()


def test_refund_in_part_found_by_phone_search(app, sandbox, customers, staff, console):
    tab = console()
    tab.sign_in(staff["support"])
    tab.search("+82 10-1234-5678")
    expect(tab.page.locator("h1")).to_contain_text("김민수")
    tab.page.evaluate("window.stillTheSamePage = true")
    tab.page.locator("tr[data-payment] a:has-text('환불')").first.click()
    expect(tab.page.locator("#action-panel input[name=amount]")).to_be_focused()
    tab.check_accessibility()
    refund_in_panel(tab, "3000", "중복 결제")
    expect(tab.page.locator("tr[data-payment] td.refunded").first).to_have_text("₩3,000")
    assert tab.page.evaluate("window.stillTheSamePage") is True
    expect(tab.page.locator("#announcer")).to_contain_text("₩3,000")
    tab.check_accessibility()

    payment_id, imp_uid, _ = customers["cust_minsu"]
    assert [(r.amount, r.status) for r in rows(app, Refund)] == [(3000, "succeeded")]
    remote = sandbox.client.get_payment(imp_uid)
    assert remote.cancel_amount == 3000 and len(remote.cancel_history) == 1


def test_find_a_payment_by_a_pasted_imp_uid(app, customers, staff, console):
    payment_id, imp_uid, _ = customers["cust_jihoon"]
    tab = console()
    tab.sign_in(staff["viewer"])
    tab.goto("/subscriptions")
    tab.search(f"  {imp_uid} ")
    assert tab.page.url.endswith(f"/payments/{payment_id}")
    expect(tab.page.locator("main")).to_contain_text(imp_uid)
    # The page offers its own address to paste into a ticket.
    expect(tab.page.locator("#page-link")).to_have_value(tab.url(f"/payments/{payment_id}"))


def test_the_accessibility_check_can_fail(app, console):
    """Guard the guard: a page with an unlabelled field and a nameless button is reported."""
    tab = console()
    tab.page.goto(tab.url("/login"))
    tab.page.evaluate("""() => {
        const form = document.querySelector('form');
        form.insertAdjacentHTML('beforeend', '<input type=text><button></button>');
    }""")
    tab.check_accessibility()
    found, tab.problems[:] = list(tab.problems), []
    assert any("button-name" in problem for problem in found), found
    assert any("label" in problem for problem in found), found


def waiting_at_iamport(app, sandbox, customer_uid: str) -> list[str]:
    """Return the customer's charges the sandbox still holds as scheduled."""
    known = rows(app, Schedule, Schedule.customer.has(customer_uid=customer_uid))
    return [row.merchant_uid for row in known
            if sandbox.client.get_schedule(row.merchant_uid).schedule_status == "scheduled"]


def open_customer(tab, name: str) -> None:
    """Search a name in the top bar and open the customer from the result list."""
    tab.search(name)
    tab.page.locator("main table a", has_text=name).click()
    tab.page.wait_for_url("**/customers/*")
    tab.check_accessibility()


def kst(moment) -> datetime:
    return moment.astimezone(ZoneInfo("Asia/Seoul"))


def test_move_and_revoke_a_scheduled_charge_and_see_the_calendar(app, sandbox, customers,
                                                                 staff, console):
    (schedule,) = rows(app, Schedule, Schedule.schedule_status == "scheduled",
                       Schedule.customer.has(customer_uid="cust_jihoon"))
    moved_to = kst(schedule.schedule_at + timedelta(days=2)).replace(hour=10, minute=30, second=0,
                                                                  microsecond=0)
    tab = console()
    tab.sign_in(staff["support"])
    open_customer(tab, "박지훈")
    tab.page.locator("a:has-text('시각 변경')").click()
    field = tab.page.locator("#action-panel input[name=schedule_at]")
    expect(field).to_be_focused()
    tab.check_accessibility()
    field.fill(moved_to.strftime("%Y-%m-%dT%H:%M"))
    tab.page.locator("#action-panel button[type=submit]").click()
    expect(tab.page.locator(".flash-success")).to_be_visible()
    assert kst(sandbox.client.get_schedule(schedule.merchant_uid).schedule_at) == moved_to

    tab.goto(f"/?month={moved_to:%Y-%m}")
    day = tab.page.locator("#calendar td", has=tab.page.locator(
        f"a.day[href*='from={moved_to:%Y-%m-%d}']"))
    expect(day.locator(".cal-scheduled")).to_contain_text("₩9,900")

    tab.page.go_back()
    tab.page.locator("a:has-text('예약 취소')").click()
    tab.page.locator("#action-panel input[name=reason]").fill("고객 요청으로 이번 달 건너뜀")
    tab.page.locator("#action-panel button[type=submit]").click()
    expect(tab.page.locator("#action-panel button.danger")).to_be_visible()
    tab.check_accessibility()
    tab.page.locator("#action-panel button.danger").click()
    expect(tab.page.locator(".flash-success")).to_be_visible()
    assert sandbox.client.get_schedule(schedule.merchant_uid).schedule_status == "revoked"
    assert rows(app, Schedule, Schedule.id == schedule.id)[0].schedule_status == "revoked"
    tab.goto(f"/?month={moved_to:%Y-%m}")
    expect(day.locator(".cal-scheduled")).to_have_count(0)


def open_subscription(tab, name: str) -> None:
    open_customer(tab, name)
    tab.page.locator("main a", has_text="베이직 월간").first.click()
    tab.page.wait_for_url("**/subscriptions/*")
    tab.check_accessibility()


def test_cancel_at_period_end_then_cancel_now(app, sandbox, customers, staff, console):
    tab = console()
    tab.sign_in(staff["support"])
    open_subscription(tab, "김민수")
    tab.page.locator("a:has-text('구독 해지')").click()
    panel = tab.page.locator("#action-panel")
    panel.locator("input[name=when][value=period_end]").check()
    panel.locator("input[name=reason]").fill("가격 부담")
    panel.locator("button[type=submit]").click()
    expect(panel.locator("button.danger")).to_be_visible()
    tab.check_accessibility()
    panel.locator("button.danger").click()
    expect(tab.page.locator(".flash-success")).to_be_visible()
    (subscription,) = rows(app, Subscription, Subscription.customer.has(customer_uid="cust_minsu"))
    assert subscription.cancel_at_period_end and subscription.status == "active"
    assert waiting_at_iamport(app, sandbox, "cust_minsu") == []

    # Changed their mind that afternoon: end it now, and refund the current period.
    tab.page.locator("a:has-text('구독 해지')").click()
    panel.locator("input[name=when][value=now]").check()
    panel.locator("input[name=refund_current]").check()
    panel.locator("button.preset", has_text="고객 요청").click()
    expect(panel.locator("input[name=reason]")).to_have_value("고객 요청")
    panel.locator("button[type=submit]").click()
    expect(panel.locator(".confirm-sentence")).to_contain_text("₩9,900")
    panel.locator("button.danger").click()
    expect(tab.page.locator("#messages")).to_contain_text("₩9,900")
    (subscription,) = rows(app, Subscription, Subscription.id == subscription.id)
    assert subscription.status == "cancelled"
    _, imp_uid, _ = customers["cust_minsu"]
    assert sandbox.client.get_payment(imp_uid).cancel_amount == 9900


def test_pause_and_resume_with_a_reason(app, sandbox, customers, staff, console):
    tab = console()
    tab.sign_in(staff["support"])
    open_subscription(tab, "박지훈")
    tab.page.locator("a:has-text('일시정지')").click()
    panel = tab.page.locator("#action-panel")
    panel.locator("input[name=reason]").fill("해외 출장")
    panel.locator("button[type=submit]").click()
    expect(tab.page.locator(".flash-success")).to_be_visible()
    (subscription,) = rows(app, Subscription, Subscription.customer.has(customer_uid="cust_jihoon"))
    assert subscription.status == "paused"
    assert waiting_at_iamport(app, sandbox, "cust_jihoon") == []

    tab.page.locator("a:has-text('재개')").click()
    expect(panel.locator("input[name=reason]")).to_be_focused()
    tab.check_accessibility()
    expect(panel.locator(".confirm-sentence")).to_contain_text("₩9,900")
    panel.locator("input[name=reason]").fill("출장 종료")
    panel.locator("button[type=submit]").click()
    expect(tab.page.locator("#messages")).to_contain_text("재개")
    (subscription,) = rows(app, Subscription, Subscription.id == subscription.id)
    assert subscription.status == "active"
    assert len(waiting_at_iamport(app, sandbox, "cust_jihoon")) == 1
