"""What the console shows about billing dates, attention and money it used to get wrong."""
from __future__ import annotations

from datetime import datetime

from tests.views.conftest import make_customer, make_plan, make_subscription


def test_the_subscription_page_shows_the_billing_anchor(app, admin_client):
    with app.app_context():
        sub = make_subscription(make_customer(), make_plan(),
                                billing_anchor=datetime(2027, 1, 31, 0, 30))
        sub_id = sub.id
    html = admin_client.get(f"/subscriptions/{sub_id}").get_data(as_text=True)
    assert "2027-01-31 00:30 KST" in html
