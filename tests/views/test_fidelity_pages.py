"""What the console shows about billing dates, attention and money it used to get wrong."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from tests.views.conftest import make_customer, make_plan, make_subscription


def test_the_subscription_page_shows_the_billing_anchor(app, admin_client):
    with app.app_context():
        sub = make_subscription(make_customer(), make_plan(),
                                billing_anchor=datetime(2027, 1, 31, 0, 30))
        sub_id = sub.id
    html = admin_client.get(f"/subscriptions/{sub_id}").get_data(as_text=True)
    assert "2027-01-31 00:30 KST" in html


def lapsed_subscription(app) -> int:
    """A subscription past due since 45 days ago, its key still active."""
    from datetime import UTC, timedelta

    now = datetime.now(UTC)
    with app.app_context():
        sub = make_subscription(
            make_customer(), make_plan(), status="past_due", failed_attempts=3,
            current_period_start=now - timedelta(days=75),
            current_period_end=now - timedelta(days=45),
            next_charge_at=now - timedelta(days=45),
            billing_anchor=(now - timedelta(days=75)).astimezone(
                ZoneInfo("Asia/Seoul")).replace(tzinfo=None),
        )
        return sub.id


def test_charging_a_lapsed_period_offers_restart_by_default(app, as_role):
    sub_id = lapsed_subscription(app)
    support = as_role("support")
    url = f"/subscriptions/{sub_id}/charge-now"
    form = support.get(url).get_data(as_text=True)
    assert 'checked id="start-0" name="start" type="radio" value="today"' in form
    assert 'value="missed"' in form
    confirm = support.post(url, data={"reason": "새 카드"}).get_data(as_text=True)
    assert "1 × ₩9,900" in confirm
    assert confirm.count("<tr") == 3  # header, the one charge, the next regular charge


def test_collecting_the_missed_period_lists_every_charge(app, as_role):
    sub_id = lapsed_subscription(app)
    support = as_role("support")
    confirm = support.post(f"/subscriptions/{sub_id}/charge-now",
                           data={"reason": "밀린 요금", "start": "missed"}).get_data(as_text=True)
    assert "2 × ₩9,900" in confirm  # the missed period, and the one that started since
    assert 'name="start" value="missed"' in confirm
    assert confirm.count("<tr") == 4


def test_a_subscription_nothing_will_charge_is_listed_on_the_overview_and_its_page(
        app, admin_client):
    with app.app_context():
        customer = make_customer(billing_key_status="missing")
        sub_id = make_subscription(customer, make_plan()).id
    page = admin_client.get(f"/subscriptions/{sub_id}").get_data(as_text=True)
    assert 'data-code="billing_key_missing"' in page and 'data-code="not_scheduled"' in page
    overview = admin_client.get("/").get_data(as_text=True)
    panel = overview[overview.index('id="stalled-subscriptions"'):]
    panel = panel[:panel.index("</div>")]
    assert f"/subscriptions/{sub_id}" in panel and 'data-code="not_scheduled"' in panel


def partly_refunded(app) -> dict:
    """A scheduled charge of ₩9,900 that iamport calls cancelled after a ₩3,000 refund."""
    from tests.views.conftest import make_payment, make_refund, make_schedule

    with app.app_context():
        customer = make_customer()
        sub = make_subscription(customer, make_plan())
        payment = make_payment(customer, 9900, status="cancelled", merchant_uid="sub1-p1-a1",
                               subscription_id=sub.id, period=1)
        make_refund(payment, 3000)
        make_schedule(customer, 9900, merchant_uid="sub1-p1-a1", subscription_id=sub.id,
                      period=1, schedule_status="executed", payment_status="cancelled",
                      executed_at=payment.paid_at)
        return {"customer": customer.id, "subscription": sub.id}


def test_a_partial_refund_never_reads_refunded(app, admin_client):
    import csv
    import io

    ids = partly_refunded(app)
    pages = [f"/customers/{ids['customer']}", f"/subscriptions/{ids['subscription']}",
             "/schedules?status=cancelled"]
    for url in pages:
        html = admin_client.get(url).get_data(as_text=True)
        assert "부분환불 ₩3,000" in html, url
        assert "환불 완료" not in html, url

    def csv_rows(url):
        text = admin_client.get(url).get_data(as_text=True).lstrip("\ufeff")
        return list(csv.DictReader(io.StringIO(text)))

    admin_client.set_cookie("lang", "en")  # English column titles
    assert [row["Status"] for row in csv_rows("/payments.csv")] == ["partially_refunded"]
    assert [row["Charge result"] for row in csv_rows("/schedules.csv")] == [
        "partially_refunded"]


def test_a_full_refund_still_reads_refunded(app, admin_client):
    from tests.views.conftest import make_payment, make_refund

    with app.app_context():
        customer = make_customer()
        make_refund(make_payment(customer, 9900, status="cancelled"), 9900)
        customer_id = customer.id
    html = admin_client.get(f"/customers/{customer_id}").get_data(as_text=True)
    assert "환불 완료" in html and "부분환불" not in html


def test_the_payment_page_of_a_partial_refund_never_reads_refunded(app, admin_client):
    from dashboard.extensions import db
    from dashboard.models import Payment

    partly_refunded(app)
    with app.app_context():
        payment_id = db.session.scalar(db.select(Payment.id))
    html = admin_client.get(f"/payments/{payment_id}").get_data(as_text=True)
    assert "부분환불" in html and "환불 완료" not in html
