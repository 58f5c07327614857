"""Every console page renders as a full page and as its htmx fragment, behind sign-in."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest

from dashboard.extensions import db
from dashboard.htmx import HTMX_INTEGRITY, HTMX_URL

from .conftest import (
    HTMX,
    add,
    make_customer,
    make_event,
    make_payment,
    make_plan,
    make_refund,
    make_schedule,
    make_subscription,
)


@pytest.fixture
def seeded(app):
    with app.app_context():
        plan = make_plan()
        customer = make_customer(name="김민수")
        subscription = make_subscription(customer, plan)
        payment = make_payment(customer, subscription_id=subscription.id, period=1)
        make_refund(payment, 3000)
        schedule = make_schedule(customer, subscription_id=subscription.id, period=2)
        make_event(imp_uid=payment.imp_uid, merchant_uid=payment.merchant_uid)
        return {
            "customer": customer.id, "subscription": subscription.id, "payment": payment.id,
            "schedule": schedule.id,
        }


# (url, the element only the full page has, the element the fragment must have)
LIST_PAGES = [
    ("/customers", 'id="results"', "<table"),
    ("/subscriptions", 'id="results"', "<table"),
    ("/schedules", 'id="results"', "<table"),
    ("/payments", 'id="results"', "<table"),
    ("/webhook-events", 'id="results"', "<table"),
    ("/", 'id="calendar"', 'class="calendar"'),
]
DETAIL_PAGES = [
    "/customers/{customer}",
    "/subscriptions/{subscription}",
    "/payments/{payment}",
]
ACTION_FORMS = [
    "/payments/{payment}/refund",
    "/customers/{customer}/charge",
    "/customers/{customer}/billing-key",
    "/customers/{customer}/billing-key/delete",
    "/customers/{customer}/credits",
    "/subscriptions/{subscription}/pause",
    "/subscriptions/{subscription}/cancel",
    "/subscriptions/{subscription}/plan",
    "/subscriptions/{subscription}/charge-now",
    "/schedules/{schedule}/time",
    "/schedules/{schedule}/revoke",
    "/schedules/{schedule}/retry",
    "/schedules/{schedule}/reschedule",
]


@pytest.mark.parametrize("url, page_marker, fragment_marker", LIST_PAGES)
def test_list_pages_render_whole_and_as_fragment(admin_client, seeded, url, page_marker,
                                                 fragment_marker):
    page = admin_client.get(url)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.startswith("<!doctype html>") and page_marker in html
    assert "HX-Request" in page.headers["Vary"]

    fragment = admin_client.get(url, headers=HTMX)
    assert fragment.status_code == 200
    part = fragment.get_data(as_text=True)
    assert "<html" not in part and page_marker not in part and fragment_marker in part
    assert "HX-Request" in fragment.headers["Vary"]


@pytest.mark.parametrize("template", DETAIL_PAGES + ACTION_FORMS)
def test_detail_pages_and_forms_render_whole_and_for_htmx(admin_client, seeded, template):
    url = template.format(**seeded)
    page = admin_client.get(url)
    assert page.status_code == 200, page.get_data(as_text=True)
    assert page.get_data(as_text=True).startswith("<!doctype html>")

    fragment = admin_client.get(url, headers=HTMX)
    assert fragment.status_code == 200
    assert "<html" not in fragment.get_data(as_text=True)
    assert "HX-Request" in fragment.headers["Vary"]


def test_in_place_reload_of_main_gets_the_page_content_without_layout(admin_client, seeded):
    response = admin_client.get("/customers", headers={**HTMX, "HX-Target": "main"})
    html = response.get_data(as_text=True)
    assert "<html" not in html and 'id="results"' in html and 'id="messages"' in html


def test_history_restore_gets_the_full_page(admin_client, seeded):
    response = admin_client.get(
        "/customers", headers={**HTMX, "HX-History-Restore-Request": "true"}
    )
    assert response.get_data(as_text=True).startswith("<!doctype html>")


@pytest.mark.parametrize("url", ["/", "/customers", "/payments", "/schedules",
                                 "/subscriptions", "/webhook-events", "/customers.csv"])
def test_pages_need_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/login?next=")


def test_htmx_request_without_session_is_sent_to_sign_in_with_hx_redirect(client):
    response = client.get("/customers?q=kim", headers=HTMX)
    assert response.status_code == 200
    assert response.headers["HX-Redirect"].startswith("/login?next=")
    assert response.get_data(as_text=True) == ""


def test_page_loads_pinned_htmx_with_integrity_and_a_strict_policy(admin_client):
    response = admin_client.get("/customers")
    html = unescape(response.get_data(as_text=True))
    assert f'<script src="{HTMX_URL}" integrity="{HTMX_INTEGRITY}" crossorigin="anonymous"' in html
    assert "htmx.org@2.0.11/dist/htmx.min.js" in HTMX_URL
    policy = response.headers["Content-Security-Policy"]
    assert f"script-src 'self' {HTMX_URL};" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    # No inline script or style anywhere in the page: htmx and our one static file.
    assert html.count("<script") == 2
    assert '<script src="/static/app.js" defer></script>' in html
    assert " style=" not in html and "<style" not in html
    assert 'name="htmx-config"' in html and '"code":"422","swap":true' in html
    assert "X-CSRFToken" in html
    assert response.headers["Cache-Control"] == "no-store"


def test_unknown_records_answer_404(admin_client):
    assert admin_client.get("/customers/999").status_code == 404
    assert admin_client.get("/payments/999").status_code == 404
    assert admin_client.get("/subscriptions/999").status_code == 404


def test_customer_page_shows_everything_on_one_screen(admin_client, seeded, app):
    html = admin_client.get(f"/customers/{seeded['customer']}").get_data(as_text=True)
    with app.app_context():
        from dashboard.models import Payment
        payment = db.session.get(Payment, seeded["payment"])
        merchant_uid, imp_uid = payment.merchant_uid, payment.imp_uid
    for expected in ["김민수", "5570-42**-****-7221", "베이직 월간", merchant_uid, imp_uid,
                     "₩9,900", "₩3,000", 'class="timeline"', "중복 결제"]:
        assert expected in html, expected
    # The timeline merges charges, refunds, schedules and webhooks.
    for kind in ("tl-payment", "tl-refund", "tl-schedule", "tl-webhook"):
        assert kind in html


def test_the_customer_page_shows_the_credit_balance_of_its_own_ledger(admin_client, app):
    """The Credits card sums the customer's ledger, not another customer's; no entries read
    as 0."""
    with app.app_context():
        from dashboard.models import CreditEntry
        customer, other, empty = make_customer(), make_customer(), make_customer()
        for owner, delta in ((customer, 1200), (customer, -300), (customer, 45), (other, 7000)):
            add(CreditEntry(customer_id=owner.id, delta=delta, reason="manual"))
        ids = customer.id, empty.id

    def balance(customer_id):
        html = admin_client.get(f"/customers/{customer_id}").get_data(as_text=True)
        return html.split('<p class="big">')[1].split("</p>")[0]

    assert [balance(customer_id) for customer_id in ids] == ["945", "0"]


def test_webhooks_of_a_payment_are_found_by_either_uid(admin_client, app):
    """A notification that names only the imp_uid, or only the merchant_uid, belongs to the
    payment on its page and in its customer's timeline; one that names both is one line;
    another payment's does not."""
    with app.app_context():
        customer = make_customer(name="웹훅 고객")
        payment = make_payment(customer, merchant_uid="order_hook", imp_uid="imp_hook")
        make_event(imp_uid="imp_hook", status="paid")
        make_event(merchant_uid="order_hook", status="failed")
        make_event(imp_uid="imp_hook", merchant_uid="order_hook", status="cancelled")
        make_event(imp_uid="imp_other", merchant_uid="order_other", status="cancelled")
        customer_id, payment_id = customer.id, payment.id
    payment_page = admin_client.get(f"/payments/{payment_id}").get_data(as_text=True)
    timeline = admin_client.get(f"/customers/{customer_id}").get_data(as_text=True).split(
        'class="timeline"')[1]
    assert timeline.count("tl-webhook") == 3 and "imp_other" not in timeline
    # Each notification is one line: its status as iamport sent it.
    assert "웹훅 결제 완료" in payment_page and "웹훅 결제 실패" in payment_page
    assert payment_page.count("· 웹훅 ") == 3


def test_list_rows_escape_stored_text(admin_client, app):
    """The payments and customers rows are written in Python: stored text stays text."""
    hostile = '<img src=x onerror="alert(1)">&'
    with app.app_context():
        plan = make_plan(name=hostile)
        customer = make_customer(name=hostile, email="a<b>@example.com", phone="010<1>",
                                 card_name=hostile, card_number="<5570>")
        make_subscription(customer, plan)
        make_payment(customer, name=hostile, merchant_uid='m<"1">', imp_uid="imp_<x>")
        make_payment(None, name="no customer")
        make_customer(name="", customer_uid="cust_nameless")
    escaped = "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;&amp;"
    payments = admin_client.get("/payments").get_data(as_text=True)
    customers = admin_client.get("/customers").get_data(as_text=True)
    for html in (payments, customers):
        assert "<img" not in html and "<5570>" not in html
        assert escaped in html
    assert '<code class="uid">m&lt;&#34;1&#34;&gt;</code>' in payments
    assert '<code class="uid">imp_&lt;x&gt;</code>' in payments
    assert "<td>—</td>" in payments  # the payment without a customer
    assert "a&lt;b&gt;@example.com" in customers and "010&lt;1&gt;" in customers
    assert f"<div>{escaped} " in customers  # the plan's name beside its badge
    assert ">(이름 없음)</a>" in customers  # a customer without a name


def test_the_customers_list_shows_each_subscriptions_own_state(admin_client, app):
    """Customers on the same plan in different states: each row shows its own badge."""
    with app.app_context():
        plan = make_plan(name="공유 요금제")
        states = ("active", "paused", "past_due", "cancelled")
        for state in states:
            make_subscription(make_customer(name=f"고객 {state}"), plan, status=state)
    html = admin_client.get("/customers").get_data(as_text=True)
    for state in states:
        row = html.split(f">고객 {state}</a>")[1].split("</tr>")[0]
        assert f'<div>공유 요금제 <span class="badge badge-{state}">' in row, state


def test_translated_sentences_escape_the_names_put_in_them(admin_client, app):
    """A template's ``_()`` escapes the values it is given: here a plan's name in "then
    %(plan)s" on the customer and subscription pages."""
    hostile = '<img src=x onerror="alert(1)">&'
    with app.app_context():
        customer = make_customer()
        following = make_plan("next", hostile, 19900)
        subscription = make_subscription(customer, make_plan(), next_plan_id=following.id)
        pages = [f"/customers/{customer.id}", f"/subscriptions/{subscription.id}"]
    for page in pages:
        html = admin_client.get(page).get_data(as_text=True)
        assert "<img" not in html, page
        assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;&amp;" in html, page


def test_the_timeline_escapes_stored_text(admin_client, app):
    """The customer's timeline is written in Python too: a note and a decline reason stay
    text, and each item keeps its kind, amount and status."""
    hostile = '<img src=x onerror="alert(1)">&'
    with app.app_context():
        from dashboard.models import CustomerNote
        customer = make_customer()
        payment = make_payment(customer, status="failed", fail_reason=hostile, amount=4900)
        add(CustomerNote(customer_id=customer.id, body=hostile, author_label="상담원<1>"))
        customer_id, payment_id = customer.id, payment.id
    timeline = admin_client.get(f"/customers/{customer_id}").get_data(as_text=True).split(
        'class="timeline"')[1].split("</ol>")[0]
    assert "<img" not in timeline and "상담원<1>" not in timeline
    assert timeline.count("&lt;img src=x onerror=&#34;alert(1)&#34;&gt;&amp;") == 2
    assert '<span class="badge badge-failed">결제 실패</span>' in timeline
    assert "<strong>₩4,900</strong>" in timeline and "상담원&lt;1&gt;" in timeline
    # The charge's request and its decline link to the payment.
    assert timeline.count(f'<a href="/payments/{payment_id}">') == 2


def test_the_customer_page_shows_the_latest_payments_and_events_and_links_the_rest(
        admin_client, app):
    """The page lists the newest 20 payments and the newest 50 events; the customer's timeline
    page holds every event, 50 a page, newest first, and a short history gets no links."""
    from dashboard.models import CustomerNote
    base = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
    with app.app_context():
        customer = make_customer()
        add(CustomerNote(customer_id=customer.id, body="첫 상담 기록", author_label="상담원",
                         created_at=base - timedelta(days=1)))
        orders = [make_payment(customer, created_at=base + timedelta(days=day),
                               merchant_uid=f"order_day{day:02d}").merchant_uid
                  for day in range(30)]
        quiet = make_customer()
        make_payment(quiet, created_at=base, merchant_uid="order_quiet")
        customer_id, quiet_id = customer.id, quiet.id

    def section(html, start, end="</section>"):
        return html.split(start)[1].split(end)[0]

    page = admin_client.get(f"/customers/{customer_id}").get_data(as_text=True)
    payments = section(page, 'id="payments"')
    assert [uid for uid in orders if f">{uid}<" in payments] == orders[10:]
    assert "최근 결제 20건입니다." in payments
    timeline = section(page, 'class="timeline"', "</ol>")
    # Each charge is two events (requested, paid): the newest 50 are the last 25 charges'.
    assert timeline.count("<li ") == 50
    assert "order_day05" in timeline and "order_day04" not in timeline
    assert "첫 상담 기록" not in timeline
    full_url = f"/customers/{customer_id}/timeline"
    assert f'href="{full_url}"' in page

    full = admin_client.get(full_url).get_data(as_text=True)
    assert section(full, 'class="timeline"', "</ol>") == timeline  # the same newest 50
    older = admin_client.get(unescape(re.search(
        r'href="(/customers/\d+/timeline\?after=[^"]+)"', full).group(1))).get_data(as_text=True)
    events = section(older, 'class="timeline"', "</ol>")
    # The other 5 charges and the note, and no link further.
    assert events.count("<li ") == 11 and "첫 상담 기록" in events
    assert "order_day04" in events and "order_day05" not in events
    assert 'class="pager"' not in older

    quiet_page = admin_client.get(f"/customers/{quiet_id}").get_data(as_text=True)
    assert "/timeline" not in quiet_page and "최근 결제" not in quiet_page
    assert admin_client.get("/customers/999999/timeline").status_code == 404


def test_the_timeline_pages_through_every_event_once_in_time_order(admin_client, app):
    """The timeline page lists a customer's events 50 a page, newest first, and each next page
    goes on exactly where the last stopped: every kind of event, several at one moment (a
    charge requested and paid together; then by kind; then the newer row first), a kind with
    more events than a page, and far more events than the page ever held, each listed once."""
    from dashboard.models import AuditEntry, CustomerNote
    base = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
    # Each event the page should list: (time, order at the same moment, row, kind, detail).
    expected = []
    kinds = ("requested", "paid", "failed", "refund", "scheduled", "executed", "revoked",
             "webhook", "audit", "note")

    def expect(moment, event, row, detail):
        css = {"requested": "payment", "paid": "payment", "failed": "payment",
               "scheduled": "schedule", "executed": "schedule", "revoked": "schedule"}
        expected.append((moment, kinds.index(event), row.id, css.get(event, event), detail))

    with app.app_context():
        customer, other = make_customer(), make_customer()
        for day in range(40):
            moment = base + timedelta(days=day)
            charge = make_payment(customer, created_at=moment, merchant_uid=f"order_t{day:02d}",
                                  imp_uid=f"imp_t{day:02d}")
            expect(moment, "requested", charge, charge.merchant_uid)
            expect(moment, "paid", charge, charge.imp_uid)
            if day % 10 == 0:
                refund = make_refund(charge, 1000, reason=f"refund {day}",
                                     cancelled_at=moment + timedelta(hours=5))
                expect(refund.cancelled_at, "refund", refund, refund.reason)
            if day % 8 == 0:
                event = make_event(imp_uid=charge.imp_uid, received_at=moment)
                expect(moment, "webhook", event, charge.imp_uid)
        for day in range(3):
            moment = base + timedelta(days=day, hours=1)
            declined = make_payment(customer, status="failed", created_at=moment,
                                    fail_reason=f"declined {day}")
            expect(moment, "requested", declined, declined.merchant_uid)
            expect(moment, "failed", declined, declined.fail_reason)
        for day in range(2):
            planned = base + timedelta(days=20 + day, hours=2)
            done = make_schedule(customer, schedule_at=planned, schedule_status="executed",
                                 payment_status="failed", fail_reason=f"schedule declined {day}",
                                 created_at=planned - timedelta(days=3), executed_at=planned)
            expect(done.created_at, "scheduled", done, done.merchant_uid)
            expect(planned, "executed", done, done.fail_reason)
            revoked = make_schedule(customer, schedule_at=planned, schedule_status="revoked",
                                    created_at=planned - timedelta(days=2),
                                    revoked_at=planned - timedelta(days=1))
            expect(revoked.created_at, "scheduled", revoked, revoked.merchant_uid)
            expect(revoked.revoked_at, "revoked", revoked, revoked.merchant_uid)
            # A webhook naming a schedule's merchant_uid, and no payment of the customer's.
            event = make_event(merchant_uid=revoked.merchant_uid, status="failed",
                               received_at=revoked.revoked_at + timedelta(minutes=1))
            expect(event.received_at, "webhook", event, revoked.merchant_uid)
        for number in range(4):
            entry = add(AuditEntry(customer_id=customer.id, action="payment.refund",
                                   target_type="payment", target_id="1",
                                   reason=f"audit {number}", created_at=base + timedelta(days=5)))
            expect(entry.created_at, "audit", entry, entry.reason)
        # More notes than a page, all newer than every charge; two at one moment.
        for number in range(70):
            note = add(CustomerNote(customer_id=customer.id, body=f"note {number}",
                                    created_at=base + timedelta(days=50, minutes=number // 2)))
            expect(note.created_at, "note", note, note.body)
        add(CustomerNote(customer_id=other.id, body="another customer's note",
                         created_at=base + timedelta(days=60)))
        make_payment(other, created_at=base + timedelta(days=60), merchant_uid="order_other")
        customer_id = customer.id
    expected.sort(key=lambda event: (-event[0].timestamp(), event[1], -event[2]))
    seoul = ZoneInfo("Asia/Seoul")
    expected = [(css, moment.astimezone(seoul).isoformat(timespec="seconds"), detail)
                for moment, _, _, css, detail in expected]

    pages, url = [], f"/customers/{customer_id}/timeline"
    while url:
        html = admin_client.get(url).get_data(as_text=True)
        items = html.split('class="timeline"')[1].split("</ol>")[0]
        pages.append([(css, moment, unescape(detail)) for css, moment, detail in re.findall(
            r'<li class="tl-(\w+)"><time datetime="([^"]+)">.*?'
            r'<span class="muted detail">([^<]*)</span></li>', items)])
        assert len(pages[-1]) == items.count("<li ")  # every item was read
        assert ("최신 기록</a>" in html) == (len(pages) > 1)
        link = re.search(r'href="(/customers/\d+/timeline\?after=[^"]+)"', html)
        url = unescape(link.group(1)) if link else None
    assert len(expected) == 179
    assert [len(page) for page in pages] == [50, 50, 50, 29]
    assert [event for page in pages for event in page] == expected
    # The pager swaps the page's content in place: the next page without the layout.
    html = admin_client.get(f"/customers/{customer_id}/timeline").get_data(as_text=True)
    pager = re.search(r'<a href="([^"]+)" hx-get="([^"]+)" hx-target="#main"', html)
    assert pager and pager.group(1) == pager.group(2)
    swapped = admin_client.get(unescape(pager.group(2)), headers={**HTMX, "HX-Target": "main"})
    assert "<html" not in swapped.get_data(as_text=True)
    assert "note 19" in swapped.get_data(as_text=True)  # the second page's first event
    # A cursor the console did not write reads the first page, and so does one after
    # everything with an id beyond 32 bits.
    first = pages[0]
    for forged in ("garbage", "20261399T000000000000.5.0", "20260301T030000000000.1.12",
                   "20260301T030000000000.99999999999999999999.0",
                   "20301231T000000000000.9999999999.0"):
        html = admin_client.get(f"/customers/{customer_id}/timeline?after={forged}").get_data(
            as_text=True)
        assert first[0][2] in html and first[-1][2] in html, forged


def test_the_customer_pages_payment_rows(admin_client, viewer_client, app):
    """A customer's payments are written in Python: stored text stays text, each refund is a
    row under its payment, a partial refund shows its amount, and only a payment that can
    still be refunded has the button, for staff who may refund."""
    hostile = '<img src=x onerror="alert(1)">&'
    with app.app_context():
        customer = make_customer()
        partial = make_payment(customer, 10000, name=hostile, merchant_uid='m<"1">',
                               created_at=datetime(2026, 11, 27, 4, 5, tzinfo=UTC))
        make_refund(partial, 3000, reason=hostile)
        make_refund(partial, 1000, status="rejected", reason="")
        full = make_payment(customer, 5000, status="cancelled", merchant_uid="m-full")
        make_refund(full, 5000)
        make_payment(customer, 4900, status="failed", merchant_uid="m-failed",
                     fail_reason="한도초과")
        make_refund(make_payment(customer, 7000, merchant_uid="m-asked"), 2000, status="pending")
        empty_id, customer_id, partial_id = make_customer().id, customer.id, partial.id
    html = admin_client.get(f"/customers/{customer_id}").get_data(as_text=True)
    table = html.split('id="payments"')[1].split("</table>")[0]
    escaped = "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;&amp;"
    assert "<img" not in table and 'data-payment="m&lt;&#34;1&#34;&gt;"' in table
    assert f'<a href="/payments/{partial_id}">{escaped}</a>' in table
    assert "2026-11-27 13:05 KST" in table and "예약결제 · 1회차 시도" in table
    assert '<span class="badge badge-partial">부분환불 ₩3,000</span>' in table
    assert '<span class="badge badge-cancelled">전액 환불</span>' in table
    assert table.count('class="sub-row"') == 4
    assert f"↳ 환불: {escaped}</td>" in table and "↳ 환불: </td>" in table
    assert '<span class="badge badge-partially_refunded">' in table  # ₩3,000 of ₩10,000
    assert '<span class="badge badge-succeeded">' in table  # ₩5,000 of ₩5,000
    assert '<span class="badge badge-rejected">' in table
    assert "한도초과" in table
    # Only the partly refunded payment can be refunded again: not the one refunded in full,
    # nor the one whose refund waits for iamport's answer, nor the declined one.
    assert table.count(">환불</a>") == 1
    assert f'href="/payments/{partial_id}/refund?next=/customers/{customer_id}"' in table
    viewer_table = viewer_client.get(f"/customers/{customer_id}").get_data(
        as_text=True).split('id="payments"')[1].split("</table>")[0]
    assert ">환불</a>" not in viewer_table and viewer_table.count('class="sub-row"') == 4
    empty = admin_client.get(f"/customers/{empty_id}").get_data(as_text=True)
    assert '<td colspan="6" class="empty">결제 내역이 없습니다.</td>' in empty


def test_the_subscription_pages_payment_rows(admin_client, app):
    """A subscription's payments are read as plain rows and written in Python: each links to
    its payment, with its period and attempt, and a partial refund shows its amount."""
    with app.app_context():
        customer, plan = make_customer(), make_plan()
        subscription = make_subscription(customer, plan)
        partly = make_payment(customer, 9900, subscription_id=subscription.id, period=3,
                              attempt=2, merchant_uid="m<3>",
                              created_at=datetime(2026, 11, 27, 4, 5, tzinfo=UTC))
        make_refund(partly, 3000)
        make_payment(customer, 9900, status="failed", subscription_id=subscription.id, period=4)
        make_payment(customer, 5000, merchant_uid="m-other")  # not this subscription's
        subscription_id, partly_id = subscription.id, partly.id
        empty_id = make_subscription(make_customer(), plan).id
    html = admin_client.get(f"/subscriptions/{subscription_id}").get_data(as_text=True)
    table = html.split("<h2>결제 내역</h2>")[1].split("</table>")[0]
    assert (f'<tr><td><a href="/payments/{partly_id}">2026-11-27 13:05 KST</a></td>'
            '<td>3 / 2</td><td><code class="uid">m&lt;3&gt;</code></td>'
            "<td>₩9,900</td><td>₩3,000</td>"
            '<td><span class="badge badge-partial">부분환불 ₩3,000</span></td></tr>') in table
    assert table.count("<tr><td><a") == 2 and "badge-failed" in table and "m-other" not in table
    empty = admin_client.get(f"/subscriptions/{empty_id}").get_data(as_text=True)
    assert '<td colspan="6" class="empty">결제 내역이 없습니다.</td>' in empty


def test_a_subscription_ending_at_period_end_says_when(admin_client, app):
    with app.app_context():
        subscription = make_subscription(
            make_customer(), make_plan(), cancel_at_period_end=True,
            current_period_end=datetime(2026, 12, 31, 15, 0, tzinfo=UTC))
        subscription_id = subscription.id
    ending = '<span class="badge badge-warning">2027-01-01 00:00 KST 종료</span>'
    for url in ("/subscriptions", f"/subscriptions/{subscription_id}"):
        html = admin_client.get(url).get_data(as_text=True)
        assert ending in html, url
    listed = admin_client.get("/subscriptions").get_data(as_text=True)
    assert "<td>—</td>" in listed  # nothing will charge it again


def test_refunded_charges_read_as_refunded_in_part_or_in_full(admin_client, app):
    with app.app_context():
        customer = make_customer()
        partly = make_payment(customer, amount=9900, merchant_uid="order_partly")
        make_refund(partly, 3000)
        fully = make_payment(customer, amount=9900, merchant_uid="order_fully",
                             status="cancelled")
        make_refund(fully, 9900)
        make_schedule(customer, merchant_uid="order_partly", schedule_status="executed",
                      payment_status="paid")
    payments = admin_client.get("/payments").get_data(as_text=True)
    assert '<span class="badge badge-partial">부분환불</span>' in payments
    assert '<span class="badge badge-cancelled">' in payments
    schedules = admin_client.get("/schedules?status=paid").get_data(as_text=True)
    assert '<span class="badge badge-partial">부분환불 ₩3,000</span>' in schedules


def test_header_links_follow_the_script_root_of_each_request(admin_client):
    """The header's links are built once per script root: a console mounted under a path
    links under it, and the same process serving at the root links there."""
    mounted = admin_client.get("/payments", environ_overrides={"SCRIPT_NAME": "/console"})
    at_root = admin_client.get("/payments")
    mounted_again = admin_client.get("/payments", environ_overrides={"SCRIPT_NAME": "/console"})
    assert 'href="/console/customers"' in mounted.get_data(as_text=True)
    assert 'href="/console/static/app.css"' in mounted.get_data(as_text=True)
    assert 'href="/customers"' in at_root.get_data(as_text=True)
    assert 'href="/console/customers"' not in at_root.get_data(as_text=True)
    assert mounted_again.get_data(as_text=True).count('href="/console/') == (
        mounted.get_data(as_text=True).count('href="/console/'))
