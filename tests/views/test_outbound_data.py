"""Data that leaves the app or comes from iamport: links, card numbers, JSON headers."""
from __future__ import annotations

import gunicorn
import pytest

from dashboard.extensions import db
from dashboard.models import Customer, Payment

from .conftest import make_customer, make_payment


@pytest.mark.parametrize("url, shown", [
    ("https://iniweb.inicis.com/receipt?no=1", True),
    ("javascript:alert(document.cookie)", False),
    ("http://receipt.example/plain", False),
    ("JaVaScRiPt:alert(1)", False),
    ("//evil.example/receipt", False),
])
def test_a_receipt_link_is_shown_only_when_it_is_https(app, admin_client, url, shown):
    with app.app_context():
        payment_id = make_payment(make_customer(), receipt_url=url).id
    html = admin_client.get(f"/payments/{payment_id}").get_data(as_text=True)
    assert (f'href="{url}"' in html) is shown
    rows = admin_client.get("/payments.csv").get_data(as_text=True)
    assert (url in rows) is shown


def test_card_numbers_are_stored_masked_whatever_iamport_sends(app):
    with app.app_context():
        customer = make_customer(card_number="5570420000007221")
        make_payment(customer, card_number="5570-4200-0007-7221")
        db.session.expire_all()
        assert db.session.scalar(db.select(Customer.card_number)) == "557042******7221"
        assert db.session.scalar(db.select(Payment.card_number)) == "5570-42**-****-7221"


def test_a_payment_result_with_a_full_card_number_is_stored_masked(app):
    from dashboard.billing import results
    from dashboard.iamport.types import Payment as ApiPayment

    result = ApiPayment.from_api({
        "imp_uid": "imp_000000000001", "merchant_uid": "order-1", "amount": 9900,
        "cancel_amount": 0, "status": "paid", "card_number": "4111111111111111",
        "paid_at": 1764547200, "customer_uid": None, "name": "x", "currency": "KRW",
    })
    with app.app_context():
        results.apply_payment_result(result, source="sync")
        db.session.expire_all()
        assert db.session.scalar(db.select(Payment.card_number)) == "411111******1111"


@pytest.mark.parametrize("method, url, mimetype", [
    ("get", "/healthz", "application/json"),
    ("get", "/api/v1/subscriptions/1", "application/json"),
    ("post", "/webhooks/iamport", "text/plain"),  # answers "ok" or "refused", nothing more
    ("get", "/api/v1/nowhere", "application/json"),
])
def test_json_answers_are_not_sniffed_or_cached(client, method, url, mimetype):
    response = getattr(client, method)(url)
    assert response.mimetype == mimetype
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Server" not in response.headers


def test_the_production_server_names_no_version():
    """gunicorn (the documented production server) sends ``Server: gunicorn`` only."""
    assert gunicorn.SERVER == "gunicorn"
