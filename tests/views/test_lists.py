"""Search, filters and keyset paging of the list pages, and the queries behind them."""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from dashboard import queries
from dashboard.attention import attention_columns
from dashboard.extensions import db
from dashboard.models import Customer, Payment, Subscription
from dashboard.queries import lists
from dashboard.queries.customers import customers_statement
from dashboard.queries.paging import any_match_page_statement
from dashboard.queries.timeline import TIMELINE

from .conftest import (
    HTMX,
    make_customer,
    make_event,
    make_payment,
    make_plan,
    make_refund,
    make_schedule,
    make_subscription,
)

BASE = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)


def names_on(html: str) -> list[str]:
    """The customer names linked in a customer table, in order."""
    return re.findall(r'<a href="/customers/\d+">([^<]+)</a>', html)


def test_search_by_name_email_and_phone_prefix(app, admin_client):
    with app.app_context():
        make_customer(name="김민수", email="minsu@example.com", phone="01012345678")
        make_customer(name="김민지", email="minji@example.com", phone="01098765432")
        make_customer(name="이서연", email="Seoyeon@Example.com", phone="0212345678")

    def search(q):
        return names_on(admin_client.get("/customers", query_string={"q": q},
                                          headers=HTMX).get_data(as_text=True))

    assert sorted(search("김민")) == ["김민수", "김민지"]
    assert search("김민수") == ["김민수"]
    assert search("minji@") == ["김민지"]
    assert search("Seoyeon") == ["이서연"]
    assert search("010-1234") == ["김민수"]
    assert search("010 9876 5432") == ["김민지"]
    assert search("민수") == []  # prefix, not substring: indexes stay usable
    assert search("nobody") == []


def test_search_by_exact_identifiers(app, admin_client):
    with app.app_context():
        first = make_customer(name="박지훈", customer_uid="cust_abc_1")
        second = make_customer(name="최유진")
        payment = make_payment(second, merchant_uid="sub-7-p3-a1", imp_uid="imp_555000111222")
        make_schedule(first, merchant_uid="sub-9-p2-a1")
        del payment

    def search(q):
        return names_on(admin_client.get("/customers", query_string={"q": q},
                                          headers=HTMX).get_data(as_text=True))

    assert search("cust_abc_1") == ["박지훈"]
    assert search("sub-7-p3-a1") == ["최유진"]
    assert search("imp_555000111222") == ["최유진"]
    assert search("sub-9-p2-a1") == ["박지훈"]
    assert search("imp_555") == []  # identifiers match exactly, never by LIKE


def test_customer_filters_by_subscription_status_and_plan(app, admin_client):
    with app.app_context():
        basic, pro = make_plan("basic", "베이직", 9900), make_plan("pro", "프로", 29900)
        make_subscription(make_customer(name="정상고객"), basic, status="active")
        make_subscription(make_customer(name="연체고객"), basic, status="past_due")
        make_subscription(make_customer(name="프로고객"), pro, status="active")
        make_customer(name="구독없음")
        pro_id = pro.id

    def listed(**args):
        return sorted(names_on(admin_client.get("/customers", query_string=args,
                                                headers=HTMX).get_data(as_text=True)))

    assert listed(status="past_due") == ["연체고객"]
    assert listed(status="active") == ["정상고객", "프로고객"]
    assert listed(plan=pro_id) == ["프로고객"]
    assert listed(status="active", plan=pro_id) == ["프로고객"]
    assert len(listed()) == 4


def test_the_customer_filters_follow_every_change_of_a_subscription(app):
    """The customers list filtered by a subscription's state or plan follows the state and the
    plan as they change, lists a customer with two matching subscriptions once, and pages
    newest customer first across the cursor (customers created at the same moment too)."""
    with app.app_context():
        basic, pro = make_plan("basic", "베이직", 9900), make_plan("pro", "프로", 29900)
        customers = [make_customer(name=f"고객{n}", created_at=BASE + timedelta(minutes=n // 2))
                     for n in range(6)]  # two customers at each minute
        for customer in customers:
            make_subscription(customer, basic, status="past_due")
        make_subscription(customers[1], pro, status="past_due")  # a second one: listed once
        moving = make_subscription(customers[5], pro, status="active")

        def every_page(**filters):
            names, after = [], None
            for _ in range(12):  # a cursor that never moves on must fail, not loop
                page = queries.customers_page(queries.CustomerFilters(**filters), after=after,
                                              limit=2)
                names.extend(c.name for c in page.rows)
                if page.next_after is None:
                    return names
                after = page.next_after
            raise AssertionError(f"still paging after {names}")

        newest_first = ["고객5", "고객4", "고객3", "고객2", "고객1", "고객0"]
        assert every_page(status="past_due") == newest_first
        assert every_page(status="past_due", plan_id=basic.id) == newest_first
        assert every_page(plan_id=pro.id) == ["고객5", "고객1"]
        assert every_page(status="active") == ["고객5"]

        moving.status = "paused"
        db.session.commit()
        assert every_page(status="paused") == ["고객5"]
        assert every_page(status="active") == []
        moving.plan_id = basic.id
        db.session.commit()
        assert every_page(plan_id=pro.id) == ["고객1"]
        assert every_page(status="paused", plan_id=basic.id) == ["고객5"]
        for subscription in customers[3].subscriptions:
            subscription.status = "cancelled"
        db.session.commit()
        assert every_page(status="past_due") == ["고객5", "고객4", "고객2", "고객1", "고객0"]
        assert every_page(status="cancelled") == ["고객3"]


def test_a_search_pages_its_matches_across_every_lookup_in_order(app):
    """A search's lookups (name, email, phone, last four digits, an exact uid) together list
    every match once, newest first, page after page, within the other filters."""
    with app.app_context():
        other_phone = "01099990000"

        def customer(minutes, **fields):
            fields.setdefault("phone", other_phone)
            return make_customer(created_at=BASE + timedelta(minutes=minutes), **fields)

        oldest = customer(1, name="5678 상사")
        customer(2, name="박서준", email="5678shop@example.com")
        customer(3, name="최유나", phone="01011115678")  # the last four digits
        customer(4, name="정하늘", customer_uid="5678")  # exact
        customer(5, name="5678마트", email="5678mart@example.com", phone="01022225678")
        tied = [customer(6, name="5678 가"), customer(6, name="5678 나")]
        customer(7, name="567 아님")  # a shorter prefix matches nothing
        customer(8, name="김민수")
        basic = make_plan()
        make_subscription(tied[0], basic, status="active")
        make_subscription(oldest, basic, status="past_due")
        make_subscription(customer(9, name="5678 연체", phone="01033335678"), basic,
                          status="past_due")

        def every_page(filters):
            names, after = [], None
            for _ in range(10):  # a cursor that never moves on must fail, not loop
                page = queries.customers_page(filters, after=after, limit=2)
                names.extend(c.name for c in page.rows)
                if page.next_after is None:
                    return names
                after = page.next_after
            raise AssertionError(f"still paging after {names}")

        assert every_page(queries.CustomerFilters(q="5678")) == [
            "5678 연체", "5678 나", "5678 가", "5678마트", "정하늘", "최유나", "박서준",
            "5678 상사"]
        # With a status filter, only the overdue matches, still newest first (the newest
        # name matches are not overdue).
        assert every_page(queries.CustomerFilters(q="5678", status="past_due")) == [
            "5678 연체", "5678 상사"]


@pytest.mark.parametrize("q", ["kim", "ki", "k"])
def test_a_search_lists_a_customer_matching_several_lookups_once_page_after_page(app, q):
    """A search without an exact uid reads each lookup (name, e-mail, phone) on its own and
    unites them: a customer whose name and e-mail both match is listed once, in its place.
    So does a search of one or two characters, read from the first characters' indexes."""
    with app.app_context():
        def customer(minutes, name, email):
            return make_customer(created_at=BASE + timedelta(minutes=minutes), name=name,
                                 email=email, phone="01099990000")

        customer(1, "kim 상사", "kim1@example.com")  # name and e-mail
        customer(2, "박서준", "kimchi@example.com")  # e-mail only
        customer(3, "김민수", "minsu@example.com")  # neither
        customer(4, "kimberly", "kim4@example.com")
        customer(5, "ko 팀장", "ko@example.com")  # "k" alone
        customer(6, "kim 가", "ga@example.com")  # name only, two at one time
        customer(6, "kim 나", "kim6@example.com")
        customer(7, "kim 다", "kim7@example.com")
        customer(8, "k", "x@example.com")  # "k" alone: a name as short as the search
        filters = queries.CustomerFilters(q=q)
        assert queries.customer_search(q)[0].exact is False

        names, after = [], None
        for _ in range(10):
            page = queries.customers_page(filters, after=after, limit=2)
            names.extend(c.name for c in page.rows)
            if page.next_after is None:
                break
            after = page.next_after
        only_k = ["k", "ko 팀장"] if q == "k" else []
        assert names == [*only_k[:1], "kim 다", "kim 나", "kim 가", *only_k[1:], "kimberly",
                         "박서준", "kim 상사"]
        first = queries.customers_page(filters, limit=50)
        assert [c.name for c in first.rows] == names and first.next_after is None


@pytest.mark.parametrize("q, expected", [
    ("010", ["c4", "c2", "c1"]),  # every mobile number: the first three digits' index
    ("010-1", ["c4", "c1"]),  # four digits typed with a dash: the first four digits' index
    ("01012", ["c1"]),  # five digits: the first five digits' index
    ("010123", ["c1"]),  # six digits: a range of the phone index
])
def test_a_phone_prefix_lists_its_customers_newest_first_page_after_page(app, q, expected):
    with app.app_context():
        for minutes, phone in enumerate(["01012345678", "01098765432", "0212345678",
                                         "01019998888", "01112345678"], start=1):
            make_customer(created_at=BASE + timedelta(minutes=minutes), name=f"c{minutes}",
                          email=f"c{minutes}@example.com", phone=phone)
        names, after = [], None
        for _ in range(5):
            page = queries.customers_page(queries.CustomerFilters(q=q), after=after, limit=2)
            names.extend(c.name for c in page.rows)
            if page.next_after is None:
                break
            after = page.next_after
        assert names == expected


def test_keyset_paging_stays_correct_while_rows_arrive(app):
    with app.app_context():
        for n in range(7):
            make_customer(name=f"고객{n}", created_at=BASE + timedelta(minutes=n))
        # Two rows share a timestamp: the id breaks the tie.
        make_customer(name="고객7", created_at=BASE + timedelta(minutes=6))
        filters = queries.CustomerFilters()
        first = queries.customers_page(filters, limit=3)
        assert [c.name for c in first.rows] == ["고객7", "고객6", "고객5"]
        # New customers arrive between page loads: one sorts before page one, one (dated
        # earlier, as an import would) sorts after the cursor.
        make_customer(name="새고객A", created_at=BASE + timedelta(hours=1))
        make_customer(name="새고객B", created_at=BASE + timedelta(minutes=2, seconds=30))
        second = queries.customers_page(filters, after=first.next_after, limit=3)
        third = queries.customers_page(filters, after=second.next_after, limit=3)
        seen = [c.name for page in (first, second, third) for c in page.rows]
        # Nothing repeated, nothing skipped; the backdated row lands where its time says.
        assert seen == ["고객7", "고객6", "고객5", "고객4", "고객3", "새고객B", "고객2",
                        "고객1", "고객0"]
        assert third.next_after is None


def test_next_page_link_keeps_the_filters(app, admin_client):
    with app.app_context():
        plan = make_plan()
        for n in range(55):
            make_subscription(make_customer(name=f"회원{n:02d}",
                                            created_at=BASE + timedelta(minutes=n)), plan)
    html = admin_client.get("/customers", query_string={"status": "active"}).get_data(as_text=True)
    assert len(names_on(html)) == 50
    link = re.search(r'<a href="(/customers\?[^"]+)" hx-get=', html).group(1).replace("&amp;", "&")
    assert "status=active" in link and "after=" in link and 'hx-push-url="true"' in html
    rest = names_on(admin_client.get(link, headers=HTMX).get_data(as_text=True))
    assert rest == [f"회원{n:02d}" for n in range(4, -1, -1)]


@pytest.mark.parametrize("after", [
    "garbage",
    "20261399T000000000000.5",  # no 99th of the 13th month
    "20261101T000000000000.99999999999999999999",  # beyond 64 bits: SQLite cannot bind it
])
def test_a_forged_cursor_is_ignored(app, admin_client, after):
    with app.app_context():
        customer = make_customer(name="홍길동")
        make_payment(customer, merchant_uid="p-forged-cursor")
    html = admin_client.get(f"/customers?after={after}", headers=HTMX).get_data(as_text=True)
    assert names_on(html) == ["홍길동"]
    payments = admin_client.get(f"/payments?after={after}", headers=HTMX)
    assert payments.status_code == 200 and "p-forged-cursor" in payments.get_data(as_text=True)


def test_payment_filters(app, admin_client):
    with app.app_context():
        kim, lee = make_customer(name="김"), make_customer(name="이")
        make_payment(kim, 9900, "paid", created_at=BASE, merchant_uid="p-paid-kim")
        make_payment(kim, 29900, "failed", created_at=BASE + timedelta(days=1),
                     merchant_uid="p-failed-kim", origin="again")
        make_payment(lee, 5000, "paid", created_at=BASE + timedelta(days=2),
                     merchant_uid="p-paid-lee", origin="manual")
        make_payment(lee, 9900, "pending", created_at=BASE + timedelta(days=3),
                     merchant_uid="p-pending-lee")
        lee_uid = lee.customer_uid

    def listed(**args):
        html = admin_client.get("/payments", query_string=args, headers=HTMX).get_data(as_text=True)
        return sorted(set(re.findall(r"p-[a-z]+-[a-z]+", html)))

    assert listed(status="paid") == ["p-paid-kim", "p-paid-lee"]
    assert listed(status="pending") == ["p-pending-lee"]
    assert listed(origin="manual") == ["p-paid-lee"]
    assert listed(min_amount=9000, max_amount=10000) == ["p-paid-kim", "p-pending-lee"]
    # Dates are days in Korea: BASE is 12:00 KST on 11-01.
    assert listed(**{"from": "2026-11-02", "to": "2026-11-03"}) == ["p-failed-kim", "p-paid-lee"]
    assert listed(customer=lee_uid) == ["p-paid-lee", "p-pending-lee"]
    assert listed(customer="no-such-customer") == []


@pytest.mark.parametrize("one_by_one", [True, False])
def test_payments_by_amount_page_after_page(app, admin_client, monkeypatch, one_by_one):
    """A list filtered by amount (and dates) lists exactly its payments, newest first, page
    after page, whether each amount of the range is read on its own (a few amounts) or the
    list is read newest first (too many amounts, or another filter)."""
    if not one_by_one:
        monkeypatch.setattr(lists, "AMOUNTS_READ_ONE_BY_ONE", 1)
    amounts = (1000, 2000, 9900, 50000)
    with app.app_context():
        customer = make_customer()
        payments = []
        for n in range(130):
            # Every amount spread over the time, and pairs made at one moment.
            payment = make_payment(customer, amounts[n * 7 % 4], created_at=BASE + timedelta(
                hours=n // 2), merchant_uid=f"p-amount-{n:03d}")
            payments.append((payment.created_at, payment.id, payment.amount,
                             payment.merchant_uid))
        assert lists.amounts_read_one_by_one(
            lists.PaymentFilters(min_amount=1500)) == ((2000, 9900, 50000) if one_by_one else None)
        # Another filter than dates reads the list newest first.
        assert lists.amounts_read_one_by_one(
            lists.PaymentFilters(min_amount=1500, status="paid")) is None
    payments.sort(reverse=True)

    def listed(**args):
        uids, url = [], "/payments"
        while url:
            html = admin_client.get(url, query_string=args if url == "/payments" else None,
                                    headers=HTMX).get_data(as_text=True)
            uids += re.findall(r">(p-amount-\d+)<", html)
            link = re.search(r'<a href="(/payments\?[^"]+)" hx-get=', html)
            url = link.group(1).replace("&amp;", "&") if link else None
        return uids

    def expected(low=0, high=10**9, start=None, end=None):
        return [uid for moment, _, amount, uid in payments
                if low <= amount <= high and (start is None or start <= moment < end)]

    assert listed(min_amount=1500) == expected(1500)
    assert len(expected(1500)) > 50  # more than a page
    assert listed(min_amount=2000, max_amount=9900) == expected(2000, 9900)
    assert listed(max_amount=1000) == expected(0, 1000)
    assert listed(min_amount=60000) == []
    # Dates are days in Korea: BASE is 12:00 KST on 11-01; 11-02 holds hours 12 to 35.
    day = datetime(2026, 11, 1, 15, 0, tzinfo=UTC)
    assert listed(min_amount=9900, **{"from": "2026-11-02", "to": "2026-11-02"}) == expected(
        9900, start=day, end=day + timedelta(days=1))
    assert listed(min_amount=1500, status="paid") == expected(1500)


def test_a_list_read_in_another_display_zone_filters_days_of_that_zone(app, admin_client):
    """A list's statement is built once per list and filters and then reused; a date filter
    is a range of UTC times that depends on the display zone, so it is built for each zone."""
    with app.app_context():
        # 01:00 on 11-02 in Korea, 16:00 on 11-01 in UTC.
        make_payment(make_customer(), 9900, created_at=datetime(2026, 11, 1, 16, 0, tzinfo=UTC),
                     merchant_uid="p-late-night")

    def listed_on_the_second() -> bool:
        html = admin_client.get("/payments", query_string={"from": "2026-11-02",
                                                           "to": "2026-11-02"},
                                headers=HTMX).get_data(as_text=True)
        return "p-late-night" in html

    assert listed_on_the_second()
    app.config["DISPLAY_TIMEZONE"] = "UTC"
    assert not listed_on_the_second()
    app.config["DISPLAY_TIMEZONE"] = "Asia/Seoul"
    assert listed_on_the_second()


def test_schedule_status_comes_from_executed_payment_status(app, admin_client):
    with app.app_context():
        customer = make_customer()
        make_schedule(customer, merchant_uid="s-waiting", schedule_at=BASE + timedelta(days=40))
        make_schedule(customer, merchant_uid="s-paid", schedule_status="executed",
                      payment_status="paid", schedule_at=BASE)
        make_schedule(customer, merchant_uid="s-failed", schedule_status="executed",
                      payment_status="failed", schedule_at=BASE + timedelta(days=1))
        make_schedule(customer, merchant_uid="s-revoked", schedule_status="revoked",
                      schedule_at=BASE + timedelta(days=2))

    def listed(**args):
        response = admin_client.get("/schedules", query_string=args, headers=HTMX)
        html = response.get_data(as_text=True)
        return re.findall(r"s-(?:waiting|paid|failed|revoked)", html)

    assert listed(status="scheduled") == ["s-waiting"]
    assert listed(status="paid") == ["s-paid"]
    assert listed(status="failed") == ["s-failed"]
    assert listed(status="revoked") == ["s-revoked"]
    assert listed(**{"from": "2026-11-01", "to": "2026-11-02"}) == ["s-failed", "s-paid"]


def test_upcoming_schedules_read_soonest_first(app):
    with app.app_context():
        customer = make_customer()
        for days in (5, 1, 3):
            make_schedule(customer, merchant_uid=f"s-{days}",
                          schedule_at=BASE + timedelta(days=days))
        page = queries.schedules_page(queries.ScheduleFilters(status="scheduled"), limit=2)
        assert [s.merchant_uid for s in page.rows] == ["s-1", "s-3"]
        rest = queries.schedules_page(queries.ScheduleFilters(status="scheduled"),
                                      after=page.next_after, limit=2)
        assert [s.merchant_uid for s in rest.rows] == ["s-5"]


def test_webhook_events_filter_by_state(app, admin_client):
    with app.app_context():
        make_event(state="processed", imp_uid="imp_ok")
        make_event(state="failed", imp_uid="imp_bad", error="lookup failed")
    html = admin_client.get("/webhook-events?state=failed", headers=HTMX).get_data(as_text=True)
    assert "imp_bad" in html and "imp_ok" not in html and "lookup failed" in html


def test_list_queries_use_indexes_not_scans(app):
    """The plans of the hot queries name an index and never touch ``payment`` for a name."""
    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
        if postgres:
            # Tiny test tables make scans and sorts cheapest; ask whether an index *can* serve.
            db.session.execute(db.text("SET LOCAL enable_seqscan = off"))
            db.session.execute(db.text("SET LOCAL enable_sort = off"))

        def plan_of(query) -> str:
            compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
            explain = "EXPLAIN" if postgres else "EXPLAIN QUERY PLAN"
            rows = db.session.execute(db.text(f"{explain} {compiled}")).all()
            return " | ".join(str(row[-1]) for row in rows)

        page = queries.payments_query(queries.PaymentFilters()).order_by(
            db.text("payment.created_at DESC, payment.id DESC")).limit(51)
        assert "ix_payment_time" in plan_of(page)
        # A prefix is a range of its field's index; one or two characters, an equality on
        # the index of the field's first characters.
        for q, indexes in (("김민수", ("ix_customer_name_created", "ix_customer_email_created")),
                           ("김민", ("ix_customer_name_head2", "ix_customer_email_head2")),
                           ("김", ("ix_customer_name_head1", "ix_customer_email_head1")),
                           ("010", ("ix_customer_phone_head3",)),
                           ("010-1", ("ix_customer_phone_head4",)),
                           ("010-12", ("ix_customer_phone_head5",)),
                           ("010-123", ("ix_customer_phone_created",))):
            shape, parameters = queries.customer_search(q)
            search = (db.select(Customer.id).where(queries.customer_search_condition(shape))
                      .params(parameters))
            plan = plan_of(search)
            assert all(index in plan for index in indexes), (q, plan)
            assert "payment" not in plan
            # Without an exact uid, each lookup's (time, id) comes from its index alone. (On
            # PostgreSQL that depends on the table's visibility map, which a test's new
            # table has not: the benchmark's plans show it.)
            each_lookup = any_match_page_statement(
                customers_statement(queries.CustomerFilters(q=q), shape),
                Customer.created_at, Customer.id, False, True, 50).params(parameters)
            plan = plan_of(each_lookup)
            if not postgres:
                for index in indexes:
                    assert f"COVERING INDEX {index}" in plan, (q, plan)
            assert "payment" not in plan
        # One subscription's attention codes read its own payments, not every pending one.
        # (PostgreSQL picks by its statistics, which empty tables lack: the benchmark's plans.)
        plan = plan_of(db.select(*attention_columns()).where(Subscription.id == 1))
        if not postgres:
            assert "ix_payment_subscription_period" in plan
            assert "ix_payment_status_time" not in plan
        # A list filtered by amount finds the range's amounts by seeking the amount index,
        # and reads each amount's page from it.
        plan = plan_of(lists.AMOUNTS_IN_RANGE.params(low=1000, high=60000, most=21))
        assert "ix_payment_amount_time" in plan and "Seq Scan" not in plan, plan
        if not postgres:
            assert "SCAN payment" not in plan, plan
        one_amount = lists.payments_query(queries.PaymentFilters(), [Payment.id]).where(
            Payment.amount == 9900).order_by(
            db.text("payment.created_at DESC, payment.id DESC")).limit(51)
        assert "ix_payment_amount_time" in plan_of(one_amount)
        # A customer's timeline reads each kind of event through the customer's own rows
        # (and a webhook through their uids), never a whole table. (PostgreSQL, told not to
        # sort, walks the time indexes of these empty tables instead: the benchmark's plans.)
        plan = plan_of(TIMELINE[False].params(customer_id=1, limit=51))
        for index in ("ix_payment_customer_time", "ix_refund_payment", "ix_schedule_customer_at",
                      "ix_webhook_event_imp_uid", "ix_webhook_event_merchant_uid",
                      "ix_audit_entry_customer", "ix_customer_note_customer"):
            assert postgres or index in plan, (index, plan)
        tables = ("payment", "refund", "schedule", "webhook_event", "audit_entry",
                  "customer_note")
        scans = [f"Seq Scan on {table} " if postgres else f"SCAN {table} " for table in tables]
        assert not [scan for scan in scans if scan in f"{plan} "], plan
        db.session.rollback()


def test_overview_numbers(app, admin_client):
    with app.app_context():
        plan = make_plan(amount=10000)
        yearly = make_plan("days", "30일", 30000, interval_unit="day", interval_count=30)
        customer = make_customer()
        subscription = make_subscription(customer, plan)
        make_subscription(make_customer(), yearly)
        make_subscription(make_customer(), plan, status="past_due")
        now = datetime.now(UTC)
        make_payment(customer, 10000, "paid", created_at=now - timedelta(days=2),
                     subscription_id=subscription.id, period=1, attempt=1)
        make_payment(customer, 10000, "failed", created_at=now - timedelta(days=1),
                     subscription_id=subscription.id, period=2, attempt=1)
        make_payment(customer, 10000, "paid", created_at=now - timedelta(hours=20),
                     subscription_id=subscription.id, period=2, attempt=2)
        make_payment(customer, 7000, "pending", created_at=now)
        make_event(state="failed", imp_uid="imp_x")
        numbers = queries.overview()
        assert numbers.active_subscriptions == 2
        assert numbers.mrr == 10000 + round(30000 * 365 / 12 / 30)
        assert numbers.first_attempt_total == 2 and numbers.first_attempt_rate == 0.5
        assert numbers.recovery_total == 1 and numbers.recovery_rate == 1.0
        assert numbers.past_due_count == 1 and numbers.pending_payment_count == 1
        assert numbers.failed_webhook_count == 1
        assert sum(bar.amount for bar in numbers.revenue) == 20000
        assert len(numbers.revenue) == 30
    html = admin_client.get("/").get_data(as_text=True)
    assert "50.0%" in html and "100.0%" in html and "<svg" in html
    # The chart: a bar per day, the tallest full height, a day without charges a sliver.
    chart = html.split('<svg class="chart"')[1].split("</svg>")[0]
    assert chart.count('class="bar"') == 30
    assert 'y="5.0" width="18" height="100.0"' in chart and 'height="0.5"' in chart
    assert chart.count('class="axis"') == 7  # days 1, 6, ..., 26 and the last
    assert "₩10,000 (1건)</title>" in chart and "₩0 (0건)</title>" in chart


def test_the_overview_queues_link_their_records_and_keep_stored_text_as_text(app,
                                                                           admin_client):
    """The overview's queues are written in Python: each item links to its record and shows
    what the template showed, and names and uids stay text."""
    moment = datetime(2026, 11, 27, 4, 5, tzinfo=UTC)
    with app.app_context():
        past_due = make_subscription(make_customer(name="<b>&"),
                                     make_plan("p1", name="p<1>"), status="past_due",
                                     failed_attempts=2)
        stalled = make_subscription(make_customer(name="", customer_uid="cust<x>"),
                                    make_plan("ps", name="plan-s"))
        pending = make_payment(make_customer(), 7000, "pending", merchant_uid="m<p>",
                               created_at=moment)
        refunded = make_payment(make_customer(), 9000, merchant_uid="m<r>")
        make_refund(refunded, 4000, status="pending")
        make_event(state="failed", imp_uid="imp<f>", received_at=moment)
        ids = past_due.id, stalled.id, pending.id, refunded.id
    html = admin_client.get("/").get_data(as_text=True)
    assert (f'<li><a href="/subscriptions/{ids[0]}">&lt;b&gt;&amp;</a> · p&lt;1&gt; · '
            "실패 2건</li>") in html
    assert (f'<li><a href="/subscriptions/{ids[1]}">cust&lt;x&gt;</a> · plan-s · '
            '<span data-code="not_scheduled">') in html
    assert (f'<li><a href="/payments/{ids[2]}"><code class="uid">m&lt;p&gt;</code></a> ₩7,000 · '
            "2026-11-27 13:05 KST</li>") in html
    assert (f'<li><a href="/payments/{ids[3]}"><code class="uid">m&lt;r&gt;</code></a> '
            "₩4,000 · ") in html
    assert '<li><code class="uid">imp&lt;f&gt;</code> · 2026-11-27 13:05 KST</li>' in html
    assert "<b>" not in html.split('id="attention-title"')[1].split("</section>")[0]


def test_overview_queues_longer_than_their_lists_are_counted_in_full(app):
    with app.app_context():
        customer = make_customer()
        now = datetime.now(UTC)
        for n in range(13):
            make_payment(customer, 1000 + n, "pending", created_at=now - timedelta(minutes=n))
            make_event(state="failed", imp_uid=f"imp_q{n}")
        # Active with nothing scheduled: listed, though pending charges without a
        # subscription (manual ones) are about.
        for n in range(4):
            make_subscription(make_customer(), make_plan(f"plan{n}"))
        numbers = queries.overview()
        assert len(numbers.pending_payments) == 10 and numbers.pending_payment_count == 13
        # Oldest first: the payment waiting longest leads the list.
        assert numbers.pending_payments[0].amount == 1012
        assert len(numbers.failed_webhooks) == 10 and numbers.failed_webhook_count == 13
        assert len(numbers.stalled) == 4 and numbers.stalled_count == 4
        assert all(codes == ["not_scheduled"] for _subscription, codes in numbers.stalled)


def test_charge_calendar_counts_per_korean_day(app, admin_client):
    with app.app_context():
        customer = make_customer()
        # 23:30 KST on 12-03 is 14:30 UTC the same day; 00:30 KST on 12-04 is 15:30 UTC on 12-03.
        make_schedule(customer, 9900, schedule_at=datetime(2026, 12, 3, 14, 30, tzinfo=UTC))
        make_schedule(customer, 9900, schedule_at=datetime(2026, 12, 3, 15, 30, tzinfo=UTC))
        make_schedule(customer, 5000, schedule_at=datetime(2026, 12, 3, 15, 40, tzinfo=UTC))
        make_payment(customer, 9900, "failed", created_at=datetime(2026, 12, 10, 1, 0, tzinfo=UTC))
        make_payment(customer, 5000, "paid", created_at=datetime(2026, 12, 10, 2, 0, tzinfo=UTC))
        weeks = queries.charge_calendar(2026, 12)
        days = {d.day: d for week in weeks for d in week}
        third, fourth = days[date(2026, 12, 3)].scheduled, days[date(2026, 12, 4)].scheduled
        assert (third.count, third.amount) == (1, 9900)
        assert (fourth.count, fourth.amount) == (2, 14900)
        assert days[date(2026, 12, 10)].failed.count == 1
        assert (days[date(2026, 12, 10)].paid.count, days[date(2026, 12, 10)].paid.amount) == (
            1, 5000)
        assert weeks[0][0].day.weekday() == 0
    fragment = admin_client.get("/?month=2026-12", headers={**HTMX, "HX-Target": "calendar"})
    html = fragment.get_data(as_text=True)
    assert "<html" not in html and "₩14,900" in html and "2026-12" in html
    # Each day links to its schedules and prints its counts (the calendar's cells are written
    # in Python).
    cells = {cell.split('">', 1)[0]: cell for cell in html.split('<a class="day" href="')[1:]}
    fourth = cells["/schedules?from=2026-12-04&amp;to=2026-12-04"]
    assert '<span class="cal-scheduled">예약 2건<br>₩14,900</span>' in fourth
    tenth = cells["/schedules?from=2026-12-10&amp;to=2026-12-10"]
    assert '<span class="cal-paid">완료 1건<br>₩5,000</span>' in tenth
    assert '<span class="cal-failed">실패 1건</span>' in tenth


def test_again_mode_counts_subscriptions_due(app_config):
    """Without iamport schedules, waiting charges are the subscriptions' next attempts."""
    from dashboard import create_app
    from tests.conftest import empty_all_tables

    app = create_app({**app_config, "BILLING_MODE": "again"})
    with app.app_context():
        empty_all_tables()
        basic, pro = make_plan("basic", "베이직", 9900), make_plan("pro", "프로", 29900)
        due = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
        make_subscription(make_customer(), basic, next_attempt_at=due)
        make_subscription(make_customer(), basic, next_attempt_at=due, next_plan_id=pro.id)
        make_subscription(make_customer(), basic, status="paused", next_attempt_at=due)
        days = {d.day: d for week in queries.charge_calendar(2026, 12) for d in week}
        waiting = days[date(2026, 12, 3)].scheduled
        assert (waiting.count, waiting.amount) == (2, 9900 + 29900)
        tally = queries.upcoming_tally(due - timedelta(hours=1), due + timedelta(hours=1))
        assert (tally.count, tally.amount) == (2, 39800)
        empty_all_tables()
        db.session.remove()
        db.engine.dispose()
