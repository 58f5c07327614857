"""Support-desk flows over the in-process sandbox: a new card for a past-due customer."""
from __future__ import annotations

import pytest

from dashboard.billing import intake
from dashboard.extensions import db
from dashboard.iamport.sandbox.wsgi_adapter import WSGIAdapter
from dashboard.models import Customer, Payment, Plan, Subscription

from .conftest import DASHBOARD_URL, HTMX


@pytest.fixture
def app_config(app_config, sandbox):
    return {**app_config, "IAMPORT_CLIENT": sandbox.client, "CLOCK": sandbox.clock()}


@pytest.fixture
def app(app, sandbox):
    sandbox.webhook_session.mount(DASHBOARD_URL, WSGIAdapter(app))
    return app


@pytest.fixture
def past_due(app, sandbox):
    """A subscriber whose first charge was declined (a card ending in 0002 always is)."""
    with app.app_context():
        db.session.add(Plan(code="basic", name="베이직 월간", amount=9900))
        db.session.commit()
        sandbox.issue_key("cust_pd", card_number="4518-4212-3456-0002")
        subscription = intake.start_subscription("cust_pd", plan_code="basic", customer_info={
            "name": "이서연", "phone": "010-2345-6789"})
        ids = {"subscription": subscription.id, "customer": subscription.customer_id}
    sandbox.advance(120)
    sandbox.run_due()
    with app.app_context():
        assert db.session.scalar(db.select(Payment.status)) == "failed"
    return ids


NEW_CARD = {"card_number": "5570-4200-0000-7221", "birth": "900101", "pwd_2digit": "12"}


@pytest.mark.parametrize("printed", ["08/29", "0829", "2029-08", "8/29"])
def test_the_expiry_is_accepted_as_printed(app, sandbox, past_due, as_role, printed):
    response = as_role("support").post(f"/customers/{past_due['customer']}/billing-key",
                                       data={**NEW_CARD, "expiry": printed})
    assert response.status_code == 303
    with app.app_context():
        customer = db.session.get(Customer, past_due["customer"])
        assert customer.card_number.endswith("7221")


def test_a_bad_expiry_explains_itself_and_echoes_no_card_data(app, past_due, as_role):
    response = as_role("support").post(f"/customers/{past_due['customer']}/billing-key",
                                       data={**NEW_CARD, "expiry": "13/29",
                                             "next": "/customers"}, headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "08/29" in html  # how to type it
    assert "5570" not in html and "900101" not in html and "13/29" not in html
    assert 'name="next" type="hidden" value="/customers"' in html  # the rest is kept


def test_after_a_new_card_the_unpaid_period_is_offered_and_charged(app, sandbox, past_due,
                                                                    as_role):
    support = as_role("support")
    page = f"/customers/{past_due['customer']}"
    support.post(f"{page}/billing-key", data={**NEW_CARD, "expiry": "08/29"})
    html = support.get(page).get_data(as_text=True)
    offer = html.split('class="confirm charge-offer"')[1].split("</div>")[0]
    assert "₩9,900" in offer and f"/subscriptions/{past_due['subscription']}/charge-now" in offer
    url = f"/subscriptions/{past_due['subscription']}/charge-now"
    support.post(url, data={"reason": "새 카드로 결제", "confirmed": "yes", "next": page})
    with app.app_context():
        subscription = db.session.get(Subscription, past_due["subscription"])
        assert subscription.status == "active" and subscription.current_period == 1
    assert sandbox.client.get_payment(db_paid_imp_uid(app)).status == "paid"
    assert 'charge-offer' not in support.get(page).get_data(as_text=True)


def db_paid_imp_uid(app) -> str:
    with app.app_context():
        return db.session.scalar(db.select(Payment.imp_uid).where(Payment.status == "paid"))
