"""The top bar's search box, the one phone normaliser behind it, and the payments uid filter."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from dashboard.phones import phone_digits

from .conftest import HTMX, make_customer, make_payment


@pytest.mark.parametrize("typed", [
    "010-1234-5678", "01012345678", "+82 10-1234-5678", "+82-010-1234-5678", "0082 10 1234 5678",
    "(010) 1234.5678",
])
def test_every_way_of_typing_a_phone_number_gives_the_same_digits(typed):
    assert phone_digits(typed) == "01012345678"


def test_a_domestic_number_starting_with_82_is_left_alone():
    # Only a "+" (or 00) marks the country code; 82... could be a local number's start.
    assert phone_digits("8212345678") == "8212345678"


@pytest.fixture
def people(app):
    with app.app_context():
        minsu = make_customer(name="김민수", email="minsu@example.com", phone="01012345678",
                              customer_uid="cust_minsu")
        minji = make_customer(name="김민지", email="minji@example.com", phone="01099995678")
        seoyeon = make_customer(name="이서연", email="seoyeon@example.com", phone="01022223333")
        payment = make_payment(minsu, imp_uid="imp_123456789012", merchant_uid="order-9-1")
        return {"minsu": minsu.id, "minji": minji.id, "seoyeon": seoyeon.id,
                "payment": payment.id}


def search(client, q, **kwargs):
    return client.get("/search", query_string={"q": q}, **kwargs)


@pytest.mark.parametrize("q", ["imp_123456789012", " imp_123456789012 ", "order-9-1"])
def test_an_exact_imp_uid_or_merchant_uid_opens_the_payment(people, viewer_client, q):
    response = search(viewer_client, q)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/payments/{people['payment']}")


@pytest.mark.parametrize("q", ["cust_minsu", "MINSU@example.com", "010-1234-5678",
                               "01012345678", "+82 10-1234-5678"])
def test_an_exact_customer_uid_email_or_phone_opens_the_customer(people, viewer_client, q):
    response = search(viewer_client, q)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/customers/{people['minsu']}")


def test_htmx_search_navigates_with_hx_redirect(people, viewer_client):
    response = search(viewer_client, "imp_123456789012", headers=HTMX)
    assert response.headers["HX-Redirect"].endswith(f"/payments/{people['payment']}")


def test_last_four_digits_list_every_customer_whose_number_ends_so(people, viewer_client):
    response = search(viewer_client, "5678")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "김민수" in html and "김민지" in html and "이서연" not in html


def test_a_name_prefix_lists_customers(people, viewer_client):
    html = search(viewer_client, "김민").get_data(as_text=True)
    assert "김민수" in html and "김민지" in html and "이서연" not in html


@pytest.mark.parametrize("q", ["김", "010"])
def test_a_short_prefix_lists_its_newest_customers_first_as_the_customers_list_does(
        app, viewer_client, q):
    with app.app_context():
        start = datetime(2026, 11, 1, tzinfo=UTC)
        for day, name in enumerate(["김가영", "김나래", "김다은"]):
            make_customer(name=name, phone=f"0101234000{day}",
                          created_at=start + timedelta(days=day))
        make_customer(name="박하늘", phone="0212345678", created_at=start + timedelta(days=9))
    html = search(viewer_client, q).get_data(as_text=True)
    listed = re.findall(r'<a href="/customers/\d+">([^<]+)</a>', html.split("<main")[1])
    assert listed == ["김다은", "김나래", "김가영"]


def test_nothing_found_says_so(people, viewer_client):
    response = search(viewer_client, "no-such-thing")
    assert response.status_code == 200
    assert "no-such-thing" in response.get_data(as_text=True)
    assert "/customers/" not in response.get_data(as_text=True).split("<main")[1]


def test_the_search_box_is_in_the_top_bar_of_every_page(people, viewer_client):
    for path in ["/", "/customers", f"/customers/{people['minsu']}", "/payments", "/schedules",
                 "/subscriptions", "/webhook-events", "/no-such-page"]:
        html = viewer_client.get(path).get_data(as_text=True)
        assert 'role="search"' in html and 'action="/search"' in html, path


def test_the_customer_list_finds_last_four_digits_too(people, viewer_client):
    html = viewer_client.get("/customers", query_string={"q": "5678"},
                             headers=HTMX).get_data(as_text=True)
    assert "김민수" in html and "김민지" in html and "이서연" not in html


def test_payments_filter_by_imp_uid_or_merchant_uid(app, people, viewer_client):
    with app.app_context():
        from dashboard.extensions import db
        from dashboard.models import Customer
        other = make_payment(db.session.get(Customer, people["minji"]),
                             merchant_uid="order-other")
        other_uid = other.imp_uid
    for uid in ["imp_123456789012", "order-9-1"]:
        html = viewer_client.get("/payments", query_string={"uid": uid},
                                 headers=HTMX).get_data(as_text=True)
        assert "order-9-1" in html and "order-other" not in html, uid
    html = viewer_client.get("/payments", query_string={"uid": other_uid},
                             headers=HTMX).get_data(as_text=True)
    assert "order-other" in html and "order-9-1" not in html


def test_customer_and_payment_pages_offer_a_copyable_link(people, viewer_client):
    for path in [f"/customers/{people['minsu']}", f"/payments/{people['payment']}"]:
        html = viewer_client.get(path).get_data(as_text=True)
        assert f'value="http://localhost{path}"' in html, path
        assert f'data-copy="http://localhost{path}"' in html, path



def test_a_saved_filter_keeps_the_query_string_and_appears_in_every_reader_s_menu(
        app, people, as_role):
    support = as_role("support")
    response = support.post("/saved-filters", data={
        "list_name": "payments", "name": "실패한 결제",
        "query_string": "status=failed&after=20261101T000000000000.5&origin="})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/payments?status=failed")
    html = as_role("viewer").get("/payments").get_data(as_text=True)
    menu = html.split('class="saved-filters"')[1].split("</details>")[0]
    assert 'href="/payments?status=failed">실패한 결제</a>' in menu
    # Saving under the same name replaces it; other lists keep their own menus.
    support.post("/saved-filters", data={"list_name": "payments", "name": "실패한 결제",
                                         "query_string": "status=cancelled"})
    html = support.get("/payments").get_data(as_text=True)
    assert 'href="/payments?status=cancelled">실패한 결제</a>' in html
    assert "실패한 결제" not in support.get("/customers").get_data(as_text=True)


def test_a_viewer_cannot_save_filters(app, people, as_role):
    viewer = as_role("viewer")
    response = viewer.post("/saved-filters", data={"list_name": "payments", "name": "x",
                                                   "query_string": "status=paid"})
    assert response.status_code == 403
    assert 'data-saved-filter' not in viewer.get("/payments").get_data(as_text=True)
