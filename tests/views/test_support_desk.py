"""Support-desk flows over the in-process sandbox: a new card for a past-due customer."""
from __future__ import annotations

import re

import pytest

from dashboard.billing import intake
from dashboard.extensions import db
from dashboard.models import Customer, Payment, Plan, Subscription

from .conftest import HTMX


@pytest.fixture
def app_config(app_config, sandbox):
    return {**app_config, "IAMPORT_CLIENT": sandbox.client, "CLOCK": sandbox.clock()}


@pytest.fixture
def app(app, sandbox):
    sandbox.deliver_to(app)
    return app


@pytest.fixture
def past_due(app, sandbox):
    """A subscriber whose first charge was declined (a card ending in 0002 always is)."""
    with app.app_context():
        db.session.add(Plan(code="basic", name="베이직 월간", amount=9900))
        db.session.commit()
        sandbox.issue_key("cust_pd", card_number="4518-4200-0005-0002")
        subscription = intake.start_subscription("cust_pd", plan_code="basic", customer_info={
            "name": "이서연", "phone": "010-2345-6789"})
        ids = {"subscription": subscription.id, "customer": subscription.customer_id}
    sandbox.advance(120)
    sandbox.run_due()
    with app.app_context():
        assert db.session.scalar(db.select(Payment.status)) == "failed"
    return ids


NEW_CARD = {"card_number": "5570-4200-0007-7221", "birth": "900101", "pwd_2digit": "12"}


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


@pytest.fixture
def paying(app, sandbox):
    """A subscriber with a working card and a paid first period."""
    with app.app_context():
        db.session.add(Plan(code="basic", name="베이직 월간", amount=9900))
        db.session.commit()
        sandbox.issue_key("cust_ok")
        subscription = intake.start_subscription("cust_ok", plan_code="basic", customer_info={
            "name": "김민수", "phone": "010-1234-5678"})
        customer_id = subscription.customer_id
    sandbox.advance(120)
    sandbox.run_due()
    return customer_id


def charge_form(client, url) -> dict:
    html = client.get(url).get_data(as_text=True)
    merchant_uid = re.search(r'name="merchant_uid" type="hidden" value="([^"]+)"', html).group(1)
    return {"merchant_uid": merchant_uid, "amount": "5000", "name": "추가 이용료",
            "reason": "고객 요청", "subscription_id": ""}


def flashes(client, page) -> list[str]:
    return re.findall(r'class="flash flash-\w+"[^>]*>([^<]+)<',
                      client.get(page).get_data(as_text=True))


def manual_charges(app) -> list[Payment]:
    with app.app_context():
        found = db.session.scalars(db.select(Payment).where(Payment.origin == "manual")
                                   .order_by(Payment.id)).all()
        db.session.expunge_all()
        return found


def test_a_resubmitted_charge_shows_the_same_success_message(app, paying, as_role):
    support = as_role("support")
    url, page = f"/customers/{paying}/charge", f"/customers/{paying}"
    data = {**charge_form(support, url), "confirmed": "yes"}
    support.post(url, data=data)
    first = flashes(support, page)
    support.post(url, data=data)
    assert flashes(support, page) == first and "₩5,000" in first[0]
    assert len(manual_charges(app)) == 1


def test_a_second_identical_charge_within_ten_minutes_asks_naming_the_first(
        app, sandbox, paying, as_role):
    support = as_role("support")
    url = f"/customers/{paying}/charge"
    support.post(url, data={**charge_form(support, url), "confirmed": "yes"})
    first = manual_charges(app)[0]

    second = charge_form(support, url)
    confirm = support.post(url, data=second).get_data(as_text=True)
    warning = confirm.split('repeat-charge')[1].split("</div>")[0]
    assert first.merchant_uid in warning and "₩5,000" in warning
    # Confirming the charge without ticking "charge again" charges nothing.
    refused = support.post(url, data={**second, "confirmed": "yes"}, headers=HTMX)
    assert refused.status_code == 422 and first.merchant_uid in refused.get_data(as_text=True)
    assert len(manual_charges(app)) == 1
    support.post(url, data={**second, "confirmed": "yes", "repeat_confirmed": "yes"})
    assert [p.status for p in manual_charges(app)] == ["paid", "paid"]

    # Ten minutes later the same amount is an ordinary charge again.
    sandbox.advance(11 * 60)
    third = charge_form(support, url)
    assert "repeat-charge" not in support.post(url, data=third).get_data(as_text=True)


def test_cancel_now_can_refund_the_current_period(app, sandbox, paying, as_role):
    support = as_role("support")
    with app.app_context():
        subscription_id = db.session.scalar(db.select(Subscription.id))
        paid = db.session.scalar(db.select(Payment).where(Payment.status == "paid"))
        imp_uid, merchant_uid = paid.imp_uid, paid.merchant_uid
    url = f"/subscriptions/{subscription_id}/cancel"
    form = support.get(url).get_data(as_text=True)
    offer = form.split('class="choice refund-current"')[1].split("</label>")[0]
    assert "₩9,900" in offer and merchant_uid in offer
    assert 'data-reason="고객 요청"' in form  # preset reasons, plus free text
    data = {"when": "now", "reason": "고객 요청", "refund_current": "yes"}
    confirm = support.post(url, data=data).get_data(as_text=True)
    assert "₩9,900" in confirm.split('class="confirm-sentence"')[1].split("</p>")[0]
    assert support.post(url, data={**data, "confirmed": "yes"}).status_code == 303
    with app.app_context():
        assert db.session.get(Subscription, subscription_id).status == "cancelled"
        assert db.session.scalar(db.select(Payment.cancel_amount)
                                 .where(Payment.imp_uid == imp_uid)) == 9900
    remote = sandbox.client.get_payment(imp_uid)
    assert remote.cancel_amount == 9900


def test_cancel_now_without_the_box_refunds_nothing(app, sandbox, paying, as_role):
    with app.app_context():
        subscription_id = db.session.scalar(db.select(Subscription.id))
        imp_uid = db.session.scalar(db.select(Payment.imp_uid).where(Payment.status == "paid"))
    as_role("support").post(f"/subscriptions/{subscription_id}/cancel",
                            data={"when": "now", "reason": "폐업", "confirmed": "yes"})
    assert sandbox.client.get_payment(imp_uid).cancel_amount == 0


def test_refund_form_offers_preset_reasons(app, paying, as_role):
    with app.app_context():
        payment_id = db.session.scalar(db.select(Payment.id).where(Payment.status == "paid"))
    html = as_role("support").get(f"/payments/{payment_id}/refund").get_data(as_text=True)
    assert 'list="refund-reasons"' in html and '<option value="중복 결제">' in html
