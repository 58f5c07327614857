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
