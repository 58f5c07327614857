"""CSV exports: streamed, uncapped, with a BOM and header, for exactly the current filters."""
from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from .conftest import (
    make_customer,
    make_payment,
    make_plan,
    make_refund,
    make_schedule,
    make_subscription,
)

BASE = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)


def english(client):
    client.set_cookie("lang", "en")
    return client


def read_csv(response) -> list[dict]:
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.is_streamed
    body = response.get_data()
    assert body.startswith("\ufeff".encode())  # Excel opens Korean correctly with a BOM
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def test_payments_csv_matches_the_filters_and_pages_through_everything(app, admin_client,
                                                                        monkeypatch):
    from dashboard import queries

    monkeypatch.setattr(queries.paging, "EXPORT_BATCH", 7)  # many pages, to prove there is no cap
    with app.app_context():
        customer = make_customer(name="김민수")
        for n in range(30):
            make_payment(customer, 1000 + n, "paid" if n % 3 else "failed",
                         created_at=BASE + timedelta(minutes=n), merchant_uid=f"m-{n:03d}")
    rows = read_csv(english(admin_client).get("/payments.csv", query_string={"status": "paid"}))
    assert len(rows) == 20
    assert {row["Status"] for row in rows} == {"paid"}
    assert rows[0]["merchant_uid"] == "m-029"
    assert rows[0]["imp_uid"].startswith("imp_")
    assert rows[0]["customer_uid"].startswith("cust_")
    assert rows[0]["Customer name"] == "김민수"
    assert rows[0]["Amount"] == "1029"
    # ISO dates in the display time zone, as spreadsheets read them.
    assert rows[-1]["Requested at (KST)"] == "2026-11-01 12:01"
    assert list(rows[0])[:4] == ["imp_uid", "merchant_uid", "customer_uid", "Customer name"]


def test_payments_csv_converts_each_time_at_its_own_offset(app, admin_client):
    """The database or Python writes the times (by driver); either way each moment gets the
    zone's offset at that moment. New York's clocks jump from 02:00 to 03:00 at 07:00 UTC on
    8 March 2026. A time the payment lacks is an empty cell."""
    app.config["DISPLAY_TIMEZONE"] = "America/New_York"
    before = datetime(2026, 3, 8, 6, 59, 30, tzinfo=UTC)
    after = datetime(2026, 3, 8, 7, 0, 10, tzinfo=UTC)
    with app.app_context():
        customer = make_customer()
        make_payment(customer, 1000, "failed", created_at=before, merchant_uid="before")
        make_payment(customer, 2000, "cancelled", created_at=after, merchant_uid="after",
                     cancelled_at=datetime(2026, 7, 1, 16, 0, tzinfo=UTC))
    rows = {row["merchant_uid"]: row
            for row in read_csv(english(admin_client).get("/payments.csv"))}
    # The titles name the zone: New York's times are EST and EDT, so by its name.
    times = ("Requested at (America/New_York)", "Paid at (America/New_York)",
             "Failed at (America/New_York)", "Refunded at (America/New_York)")
    assert [rows["before"][column] for column in times] == [
        "2026-03-08 01:59", "", "2026-03-08 01:59", ""]
    assert [rows["after"][column] for column in times] == [
        "2026-03-08 03:00", "2026-03-08 03:00", "", "2026-07-01 12:00"]


def test_payments_csv_pages_through_times_microseconds_apart(app, admin_client, monkeypatch):
    """Each batch starts after the previous one's last row, read back from the time as text:
    payments a microsecond apart, and payments of the very same time, each come once."""
    from dashboard import queries

    monkeypatch.setattr(queries.paging, "EXPORT_BATCH", 2)  # batches of 8 rows
    with app.app_context():
        customer = make_customer()
        for n in range(30):
            make_payment(customer, 1000, "paid", merchant_uid=f"m-{n:03d}",
                         created_at=BASE + timedelta(microseconds=n // 3))
    rows = read_csv(english(admin_client).get("/payments.csv"))
    assert [row["merchant_uid"] for row in rows] == [f"m-{n:03d}" for n in reversed(range(30))]


def test_export_link_carries_the_filters_but_not_the_page(app, admin_client):
    html = admin_client.get("/payments?status=paid&after=20261101T030000000000.5").get_data(
        as_text=True)
    assert 'href="/payments.csv?status=paid"' in html


def test_customers_csv(app, admin_client):
    with app.app_context():
        plan = make_plan()
        make_subscription(make_customer(name="김민수", phone="01012345678"), plan,
                          status="past_due")
        make_customer(name="이서연")
    rows = read_csv(english(admin_client).get("/customers.csv",
                                               query_string={"status": "past_due"}))
    assert [(r["Customer name"], r["Phone"], r["Subscriptions"]) for r in rows] == [
        ("김민수", "01012345678", "basic:past_due")]
    assert len(read_csv(admin_client.get("/customers.csv"))) == 2
    searched = read_csv(english(admin_client).get("/customers.csv", query_string={"q": "이서"}))
    assert [r["Customer name"] for r in searched] == ["이서연"]


def test_schedules_csv(app, admin_client):
    with app.app_context():
        customer = make_customer()
        make_schedule(customer, 9900, schedule_at=BASE, merchant_uid="s-1",
                      schedule_status="executed", payment_status="failed", fail_reason="한도초과")
        make_schedule(customer, 9900, schedule_at=BASE + timedelta(days=1), merchant_uid="s-2")
    rows = read_csv(english(admin_client).get("/schedules.csv",
                                               query_string={"status": "failed"}))
    assert [(r["merchant_uid"], r["Charge result"], r["Failure reason"], r["Charge time (KST)"])
            for r in rows] == [("s-1", "failed", "한도초과", "2026-11-01 12:00")]


def test_exports_need_sign_in(client):
    for url in ("/payments.csv", "/schedules.csv", "/customers.csv", "/refunds.csv"):
        assert client.get(url).status_code == 303


def test_korean_mode_writes_korean_headers(app, admin_client):
    with app.app_context():
        make_payment(make_customer(name="김민수"), 9900, created_at=BASE)
    rows = read_csv(admin_client.get("/payments.csv"))
    assert list(rows[0])[:5] == ["imp_uid", "merchant_uid", "customer_uid", "고객명", "구독"]
    assert rows[0]["고객명"] == "김민수" and rows[0]["요청 시각 (KST)"] == "2026-11-01 12:00"


def test_refunds_csv_and_filters_date_refunds_on_their_own_day(app, admin_client):
    with app.app_context():
        customer = make_customer(name="이서연")
        paid_in_october = make_payment(customer, 9900, created_at=BASE - timedelta(days=20),
                                       merchant_uid="oct")
        make_refund(paid_in_october, 3000, cancelled_at=BASE + timedelta(days=2))
        make_payment(customer, 9900, created_at=BASE, merchant_uid="nov-untouched")
        whole = make_payment(customer, 5000, created_at=BASE, merchant_uid="nov-whole",
                             status="cancelled")
        make_refund(whole, 5000, cancelled_at=BASE + timedelta(days=9))
    client = english(admin_client)
    day = (BASE + timedelta(days=2)).date().isoformat()
    refunds = read_csv(client.get("/refunds.csv", query_string={"refunded_from": day,
                                                                "refunded_to": day}))
    assert [(r["merchant_uid"], r["Customer name"], r["Refund amount"], r["Refunded at (KST)"])
            for r in refunds] == [("oct", "이서연", "3000", "2026-11-03 12:00")]
    listed = client.get("/payments", query_string={"refunded_from": day, "refunded_to": day},
                        headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "oct" in listed and "nov-whole" not in listed and "nov-untouched" not in listed
    partial = client.get("/payments", query_string={"status": "partially_refunded"},
                         headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "oct" in partial and "nov-whole" not in partial and "nov-untouched" not in partial
    assert len(read_csv(client.get("/refunds.csv"))) == 2


def test_the_overview_shows_refunds_today_this_month_and_on_the_calendar(app, admin_client):
    with app.app_context():
        customer = make_customer()
        payment = make_payment(customer, 9900, created_at=datetime.now(UTC) - timedelta(days=40))
        make_refund(payment, 2500)
    html = admin_client.get("/").get_data(as_text=True)
    tile = html.split('class="tile refunds-tile"')[1].split("</div>")[0]
    assert "₩2,500" in tile and "1건" in tile
    calendar = html.split('id="calendar"')[1]
    assert "환불 1건" in calendar and "−₩2,500" in calendar
