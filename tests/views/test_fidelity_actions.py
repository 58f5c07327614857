"""The console's "next charge", subscription badges and manual charges, against the sandbox."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from dashboard.billing import audit, charges, errors
from dashboard.extensions import db
from dashboard.models import Payment, Schedule, Subscription
from tests.views import test_actions
from tests.views.conftest import make_customer, make_plan, make_subscription
from tests.views.test_actions import fresh, kst_input

# The dashboard wired to the sandbox, a paid first period, and a support client.
app_config = test_actions.app_config
app = test_actions.app
subscribed = test_actions.subscribed
support = test_actions.support


def next_charge_shown(client, sub_id: int) -> str:
    html = client.get(f"/subscriptions/{sub_id}").get_data(as_text=True)
    return re.search(r"<dt>다음 결제</dt><dd>(.*?)</dd>", html).group(1)


def live_row(app, sub_id) -> Schedule:
    with app.app_context():
        row = db.session.scalar(db.select(Schedule).where(
            Schedule.subscription_id == sub_id, Schedule.schedule_status == "scheduled"))
        db.session.expunge_all()
        return row


def test_next_charge_follows_a_moved_schedule(app, sandbox, subscribed, support):
    sub_id = subscribed["subscription"]
    row = live_row(app, sub_id)
    later = (row.schedule_at + timedelta(days=3)).replace(second=0, microsecond=0)
    response = support.post(f"/schedules/{row.id}/time",
                            data={"schedule_at": kst_input(later), "reason": "급여일"})
    assert response.status_code == 303, response.get_data(as_text=True)
    from dashboard.formatting import local_time
    with app.app_context():
        assert next_charge_shown(support, sub_id) == local_time(later)


def test_next_charge_is_none_once_the_schedule_is_revoked(app, subscribed, support):
    sub_id = subscribed["subscription"]
    row = live_row(app, sub_id)
    support.post(f"/schedules/{row.id}/revoke", data={"reason": "x", "confirmed": "yes"})
    assert next_charge_shown(support, sub_id) == "—"


def test_cancelling_at_period_end_shows_in_the_badge_and_nothing_is_next(app, subscribed,
                                                                          support):
    sub_id = subscribed["subscription"]
    support.post(f"/subscriptions/{sub_id}/cancel",
                 data={"when": "period_end", "reason": "이사", "confirmed": "yes"})
    sub = fresh(app, Subscription, sub_id)
    assert sub.cancel_at_period_end and sub.status == "active"
    from dashboard.formatting import local_time
    with app.app_context():
        ends = local_time(sub.current_period_end)
    html = support.get(f"/subscriptions/{sub_id}").get_data(as_text=True)
    heading = re.search(r"<h1>(.*?)</h1>", html, re.DOTALL).group(1)
    assert f"{ends} 종료" in heading or ends in heading
    assert next_charge_shown(support, sub_id) == "—"
    listing = support.get("/subscriptions").get_data(as_text=True)
    assert ends in listing


def test_a_manual_charge_is_filed_only_under_the_customers_own_subscription(
        app, sandbox, subscribed, support):
    with app.app_context():
        stranger = make_subscription(make_customer(customer_uid="cust_other"),
                                     make_plan("other", "다른 요금제"))
        stranger_id = stranger.id
    customer_id = subscribed["customer"]
    form = support.get(f"/customers/{customer_id}/charge").get_data(as_text=True)
    merchant_uid = re.search(r'name="merchant_uid" type="hidden" value="([^"]+)"', form).group(1)
    response = support.post(f"/customers/{customer_id}/charge", data={
        "merchant_uid": merchant_uid, "amount": 5000, "name": "추가 결제", "reason": "요청",
        "subscription_id": str(stranger_id), "confirmed": "yes"})
    assert response.status_code == 422
    with app.app_context():
        assert db.session.scalar(db.select(Payment).where(
            Payment.merchant_uid == merchant_uid)) is None
        with pytest.raises(errors.InvalidInput):
            charges.manual_charge(customer_id, merchant_uid=charges.new_manual_merchant_uid(),
                                  amount=5000, name="추가", reason="요청",
                                  actor=audit.Actor("s@example.com"),
                                  subscription_id=stranger_id)
        assert db.session.scalar(db.select(db.func.count(Payment.id)).where(
            Payment.origin == "manual")) == 0
