"""The peer: Flask-Admin's ``ModelView`` for the same ``Payment`` and ``Customer`` models.

Configured the way its documentation suggests for a support back office: a search box over
``merchant_uid``, ``imp_uid`` and the customer's name, email and phone on payments, and over
``customer_uid``, name, email and phone on customers; every other setting is left at its
default (20 rows a page unless ``?page_size=50`` asks for the console's 50, numbered pages
with a total count, case-insensitive ``LIKE '%…%'`` search). A second payments view searches
only the two uids, Flask-Admin's best case for an order number. It runs in its own small Flask
app on the same database file, without sign-in, so it carries no session or CSRF work the
console does.
"""
from __future__ import annotations

from typing import ClassVar

from flask import Flask
from markupsafe import Markup, escape

from dashboard.extensions import db
from dashboard.models import Customer, Payment


def create_peer_app(database_url: str) -> Flask:
    """Build a Flask app serving Flask-Admin's list views under ``/admin/``."""
    from flask_admin import Admin
    from flask_admin.contrib.sqla import ModelView
    from flask_babel import Babel

    class PaymentView(ModelView):
        can_create = can_edit = can_delete = False
        # Default 20 rows; ``?page_size=50`` gives the console's page size for a like-for-like list.
        can_set_page_size = True
        page_size_options = (20, 50, 100)
        column_list = ("created_at", "customer", "name", "merchant_uid", "imp_uid", "amount",
                       "cancel_amount", "status", "origin", "attempt")
        column_searchable_list = ("merchant_uid", "imp_uid", "customer.name", "customer.email",
                                  "customer.phone")
        column_default_sort = ("created_at", True)
        column_formatters: ClassVar[dict] = {
            "customer": lambda view, context, model, name: (
                Markup(escape(model.customer.name)) if model.customer else ""
            ),
        }

    class PaymentUidView(PaymentView):
        # Flask-Admin at its best for order numbers: nothing but the two uids to LIKE-scan.
        column_searchable_list = ("merchant_uid", "imp_uid")

    class CustomerView(ModelView):
        can_create = can_edit = can_delete = False
        can_set_page_size = True
        page_size_options = (20, 50, 100)
        column_list = ("created_at", "customer_uid", "name", "email", "phone", "card_name",
                       "card_number", "billing_key_status")
        column_searchable_list = ("customer_uid", "name", "email", "phone")
        column_default_sort = ("created_at", True)

    app = Flask("bench_peer")
    app.config.update(
        SECRET_KEY="bench-peer-" + "x" * 32,
        SQLALCHEMY_DATABASE_URI=database_url,
        BABEL_DEFAULT_LOCALE="ko",
    )
    db.init_app(app)
    # Flask-Admin translates its labels through Flask-Babel when it is installed.
    Babel(app)
    admin = Admin(app, name="peer")
    admin.add_view(PaymentView(Payment, db.session, endpoint="payment"))
    admin.add_view(PaymentUidView(Payment, db.session, name="Payment uids",
                                  endpoint="payment_uids"))
    admin.add_view(CustomerView(Customer, db.session, endpoint="customer"))
    return app
