"""CSV exports: streamed, uncapped, with a BOM and header, for exactly the current filters."""
from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from .conftest import make_customer, make_payment, make_plan, make_schedule, make_subscription

BASE = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)


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
    rows = read_csv(admin_client.get("/payments.csv", query_string={"status": "paid"}))
    assert len(rows) == 20
    assert {row["status"] for row in rows} == {"paid"}
    assert rows[0]["merchant_uid"] == "m-029"
    assert rows[0]["imp_uid"].startswith("imp_")
    assert rows[0]["customer_uid"].startswith("cust_")
    assert rows[0]["amount"] == "1029"
    # ISO 8601 in the display time zone.
    assert rows[-1]["created_at"] == "2026-11-01T12:01:00+09:00"
    assert list(rows[0])[:3] == ["imp_uid", "merchant_uid", "customer_uid"]


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
    rows = read_csv(admin_client.get("/customers.csv", query_string={"status": "past_due"}))
    assert [(r["name"], r["phone"], r["subscriptions"]) for r in rows] == [
        ("김민수", "01012345678", "basic:past_due")]
    assert len(read_csv(admin_client.get("/customers.csv"))) == 2


def test_schedules_csv(app, admin_client):
    with app.app_context():
        customer = make_customer()
        make_schedule(customer, 9900, schedule_at=BASE, merchant_uid="s-1",
                      schedule_status="executed", payment_status="failed", fail_reason="한도초과")
        make_schedule(customer, 9900, schedule_at=BASE + timedelta(days=1), merchant_uid="s-2")
    rows = read_csv(admin_client.get("/schedules.csv", query_string={"status": "failed"}))
    assert [(r["merchant_uid"], r["payment_status"], r["fail_reason"], r["schedule_at"])
            for r in rows] == [("s-1", "failed", "한도초과", "2026-11-01T12:00:00+09:00")]


def test_exports_need_sign_in(client):
    for url in ("/payments.csv", "/schedules.csv", "/customers.csv"):
        assert client.get(url).status_code == 303
