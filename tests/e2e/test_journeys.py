"""A support agent's everyday tasks in Chromium, from sign-in to the outcome.

Each journey checks the result where it lands: the console's database and what the sandbox
(iamport) recorded. The ``console`` fixture runs axe-core on every page a journey shows and
fails it on any serious or critical violation, or on any script error.
"""
from __future__ import annotations

import csv
import io
import re
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

    _, imp_uid, _ = customers["cust_minsu"]
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
    # The panel has settled (htmx has wired its form) once focus lands on its first field.
    expect(panel.locator("input[name=resume_at]")).to_be_focused()
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


def test_replace_a_card_and_charge_the_past_due_subscription(app, sandbox, customers, staff,
                                                            console):
    tab = console()
    tab.sign_in(staff["support"])
    tab.search("010-2345-6789")
    expect(tab.page.locator("h1")).to_contain_text("이서연")
    tab.page.locator("a:has-text('카드 등록·교체')").click()
    panel = tab.page.locator("#action-panel")
    expect(panel.locator("input[name=card_number]")).to_be_focused()
    tab.check_accessibility()
    panel.locator("input[name=card_number]").fill("5570-4200-0007-7221")
    panel.locator("input[name=expiry]").fill("08/29")  # as printed on the card
    panel.locator("input[name=birth]").fill("900101")
    panel.locator("input[name=pwd_2digit]").fill("12")
    panel.locator("button[type=submit]").click()
    offer = tab.page.locator(".charge-offer")
    expect(offer).to_contain_text("₩9,900")
    tab.check_accessibility()
    offer.locator("a").click()
    panel.locator("input[name=reason]").fill("새 카드로 연체 결제")
    panel.locator("button[type=submit]").click()
    expect(panel.locator("button.danger")).to_be_visible()
    panel.locator("button.danger").click()
    expect(tab.page.locator("#messages")).to_contain_text("₩9,900")

    (subscription,) = rows(app, Subscription,
                           Subscription.customer.has(customer_uid="cust_seoyeon"))
    assert subscription.status == "active" and subscription.current_period == 1
    (paid,) = rows(app, Payment, Payment.status == "paid",
                   Payment.customer.has(customer_uid="cust_seoyeon"))
    remote = sandbox.client.get_payment(paid.imp_uid)
    assert remote.status == "paid" and remote.card_number.endswith("7221")


def test_a_double_submitted_manual_charge_charges_once(app, sandbox, customers, staff, console):
    tab = console()
    tab.sign_in(staff["support"])
    tab.search("cust_jihoon")
    tab.page.locator(".toolbar a:has-text('수동 결제')").click()
    panel = tab.page.locator("#action-panel")
    panel.locator("input[name=amount]").fill("5000")
    panel.locator("input[name=name]").fill("추가 이용료")
    panel.locator("input[name=reason]").fill("고객 요청")
    panel.locator("button[type=submit]").click()
    charge = panel.locator("button.danger")
    expect(charge).to_be_visible()
    tab.check_accessibility()
    charge.dblclick()
    expect(tab.page.locator("#messages")).to_contain_text("₩5,000")
    manual = rows(app, Payment, Payment.origin == "manual")
    assert [(p.amount, p.status) for p in manual] == [(5000, "paid")]
    assert sandbox.client.get_payment(manual[0].imp_uid).amount == 5000

    # The same amount again within ten minutes: the confirmation names the first charge.
    tab.page.locator(".toolbar a:has-text('수동 결제')").click()
    panel.locator("input[name=amount]").fill("5000")
    panel.locator("input[name=name]").fill("추가 이용료")
    panel.locator("input[name=reason]").fill("고객 요청")
    panel.locator("button[type=submit]").click()
    expect(panel.locator(".repeat-charge")).to_contain_text(manual[0].merchant_uid)
    tab.check_accessibility()
    panel.locator("input[name=repeat_confirmed]").check()
    panel.locator("button.danger").click()
    expect(panel.locator("button.danger")).to_have_count(0)
    expect(tab.page.locator("#messages")).to_contain_text("₩5,000")
    assert len(rows(app, Payment, Payment.origin == "manual", Payment.status == "paid")) == 2


def test_reprocess_a_failed_webhook(app, sandbox, customers, staff, console):
    _, imp_uid, _ = customers["cust_jihoon"]
    with app.app_context():
        failed = WebhookEvent(imp_uid=imp_uid, status="paid", state="failed", attempts=1,
                              raw_body=b"{}", error="iamport unavailable: read timeout")
        db.session.add(failed)
        db.session.commit()
        event_id = failed.id
    tab = console()
    tab.sign_in(staff["admin"])
    tab.goto("/webhook-events?state=failed")
    row = tab.page.locator("#results tbody tr").first
    expect(row).to_contain_text("처리 실패")
    expect(row).to_contain_text("아임포트에 연결할 수 없습니다")
    row.locator("button:has-text('재처리')").click()
    expect(tab.page.locator("#messages")).to_contain_text("완료")
    tab.check_accessibility()
    (event,) = rows(app, WebhookEvent, WebhookEvent.id == event_id)
    assert event.state == "processed" and event.error is None and event.attempts == 2


def test_export_and_read_a_csv(app, sandbox, customers, staff, console):
    tab = console(accept_downloads=True)
    tab.sign_in(staff["viewer"])
    tab.goto("/payments?status=paid")
    with tab.page.expect_download() as download_info:
        tab.page.locator("a:has-text('CSV 내보내기')").click()
    body = download_info.value.path().read_bytes().decode("utf-8")
    assert body.startswith("\ufeff")
    table = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))
    assert sorted(row["고객명"] for row in table) == ["김민수", "박지훈"]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", row["결제 시각 (KST)"])
               for row in table)


def test_switch_language(app, customers, staff, console):
    tab = console()
    tab.sign_in(staff["viewer"])
    tab.goto("/payments")
    expect(tab.page.locator("h1")).to_have_text("결제 내역")
    tab.page.locator("button[lang=en]").click()
    expect(tab.page.locator("h1")).to_have_text("Payments")
    assert tab.page.locator("html").get_attribute("lang") == "en"
    assert tab.page.url.endswith("/payments")
    tab.check_accessibility()
    tab.goto("/webhook-events")
    expect(tab.page.locator("h1")).to_contain_text("webhooks")
    tab.page.locator("button[lang=ko]").click()
    expect(tab.page.locator("html")).to_have_attribute("lang", "ko")


def test_a_viewer_sees_but_cannot_act(app, sandbox, customers, staff, console):
    payment_id, imp_uid, _ = customers["cust_minsu"]
    tab = console()
    tab.sign_in(staff["viewer"])
    tab.search("cust_minsu")
    assert tab.page.locator("main .toolbar").count() == 0
    assert tab.page.locator("a:has-text('환불')").count() == 0
    assert tab.page.locator("#notes form").count() == 0
    # Typing the address of an action is refused too, and nothing moves.
    response = tab.page.goto(tab.url(f"/payments/{payment_id}/refund"))
    assert response.status == 403
    # (Chromium logs every 4xx page load as a console error; this one is the point.)
    tab.problems[:] = [p for p in tab.problems if "status of 403" not in p]
    tab.check_accessibility()
    assert rows(app, Refund) == [] and sandbox.client.get_payment(imp_uid).cancel_amount == 0


def ring_contrast(color: str, background) -> float:
    """Return the WCAG contrast of an ``rgb(...)`` colour against the page background."""

    def luminance(rgb) -> float:
        channels = [c / 255 for c in rgb]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    rgb = [int(part) for part in re.findall(r"\d+", color)[:3]]
    lighter, darker = sorted((luminance(rgb), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_the_whole_refund_with_the_keyboard_only(app, sandbox, customers, staff, console):
    tab = console()
    keys = tab.page.keyboard
    tab.sign_in(staff["support"], keyboard=True)

    def tab_to(locator, limit: int = 60, background=(246, 247, 249)) -> None:
        """Press Tab until ``locator`` has focus; its focus ring must contrast 3:1 or more."""
        for _ in range(limit):
            keys.press("Tab")
            if locator.evaluate("element => element === document.activeElement"):
                style = locator.evaluate("element => { const s = getComputedStyle(element);"
                                         " return [s.outlineStyle, s.outlineColor]; }")
                assert style[0] != "none", "focused element without a visible focus ring"
                assert ring_contrast(style[1], background) >= 3, style
                return
        raise AssertionError(f"never reached {locator}")

    tab.page.focus("body")
    tab_to(tab.page.locator("#global-q"), background=(17, 24, 39))  # the dark top bar
    keys.type("010-1234-5678")
    keys.press("Enter")
    tab.page.wait_for_url("**/customers/*")
    tab.check_accessibility()
    tab_to(tab.page.locator("tr[data-payment] a:has-text('환불')").first)
    keys.press("Enter")
    amount = tab.page.locator("#action-panel input[name=amount]")
    expect(amount).to_be_focused()  # focus followed the form that opened
    keys.type("2000")
    keys.press("Tab")
    keys.type("부분 환불 요청")
    keys.press("Enter")
    confirm = tab.page.locator("#action-panel button.danger")
    expect(confirm).to_be_visible()
    expect(tab.page.locator("#action-title")).to_be_focused()  # heading of the confirmation
    tab_to(confirm)
    keys.press("Enter")
    expect(tab.page.locator("#messages")).to_contain_text("₩2,000")
    tab.check_accessibility()
    _, imp_uid, _ = customers["cust_minsu"]
    assert sandbox.client.get_payment(imp_uid).cancel_amount == 2000
    assert [(r.amount, r.reason) for r in rows(app, Refund)] == [(2000, "부분 환불 요청")]


def test_refund_at_phone_width(app, sandbox, customers, staff, console):
    tab = console(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    tab.sign_in(staff["support"])

    def nothing_scrolls_sideways() -> None:
        width = tab.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{tab.page.url} is {width}px wide"

    nothing_scrolls_sideways()
    tab.search("5678")  # the last four digits: a list
    nothing_scrolls_sideways()
    tab.page.locator("main table a", has_text="김민수").click()
    tab.page.wait_for_url("**/customers/*")
    tab.check_accessibility()
    nothing_scrolls_sideways()
    # Tables are stacked cards; tap targets are at least 44px high.
    assert tab.page.locator("tr[data-payment]").first.evaluate(
        "row => getComputedStyle(row).display") == "block"
    refund = tab.page.locator("tr[data-payment] a:has-text('환불')").first
    assert refund.bounding_box()["height"] >= 44
    delete_key = tab.page.locator(".toolbar a.danger-outline")
    harmless = tab.page.locator(".toolbar a:has-text('크레딧')")
    assert delete_key.bounding_box()["y"] - harmless.bounding_box()["y"] >= 44
    refund.tap()
    refund_in_panel(tab, "1000", "모바일 환불")
    expect(tab.page.locator("#messages")).to_contain_text("₩1,000")
    nothing_scrolls_sideways()
    _, imp_uid, _ = customers["cust_minsu"]
    assert sandbox.client.get_payment(imp_uid).cancel_amount == 1000


def test_leave_a_note_on_the_customer(app, customers, staff, console):
    tab = console()
    tab.sign_in(staff["support"])
    open_customer(tab, "김민")
    tab.page.locator("#notes textarea").fill("환불 문의 전화, 다음 주 재연락")
    tab.page.locator("#notes button[type=submit]").click()
    expect(tab.page.locator("#notes .notes")).to_contain_text("환불 문의 전화")
    expect(tab.page.locator(".timeline .tl-note")).to_contain_text(staff["support"])
    tab.check_accessibility()
    (note,) = rows(app, CustomerNote)
    assert note.author_label == staff["support"]


def test_page_through_a_long_timeline(app, customers, staff, console):
    """A customer with more events than a page: the customer page links the full timeline,
    whose pager swaps in the older events in place and puts their address in the bar."""
    with app.app_context():
        customer_id = db.session.scalar(db.select(Payment.customer_id).where(
            Payment.id == customers["cust_minsu"][0]))
        start = datetime(2026, 1, 5, 1, 0, tzinfo=ZoneInfo("UTC"))
        for number in range(60):
            db.session.add(CustomerNote(customer_id=customer_id, body=f"상담 기록 {number:02d}",
                                        author_label=staff["support"],
                                        created_at=start + timedelta(hours=number)))
        db.session.commit()
    tab = console()
    tab.sign_in(staff["support"])
    open_customer(tab, "김민")
    tab.page.get_by_role("link", name="전체 타임라인").click()
    tab.page.wait_for_url(f"**/customers/{customer_id}/timeline")
    items = tab.page.locator("ol.timeline > li")
    expect(items).to_have_count(50)
    expect(items.first).to_contain_text("결제")  # the charges are the newest events
    tab.check_accessibility()
    tab.page.get_by_role("link", name="다음 페이지 →").click()
    tab.page.wait_for_url(re.compile(r".*/timeline\?after="))
    expect(items.last).to_contain_text("상담 기록 00")  # the oldest event, on the last page
    expect(tab.page.get_by_role("link", name="최신 기록")).to_be_visible()
    expect(tab.page.locator("nav.pager")).to_have_count(0)
    tab.check_accessibility()
