"""The top bar's search box: open the one payment or customer it names, or list the matches."""
from __future__ import annotations

from flask import Blueprint, request, url_for

from .. import queries
from ..htmx import hx_redirect, render_page_or_fragment
from .access import require_sign_in

bp = Blueprint("search", __name__)
bp.before_request(require_sign_in)


@bp.get("/search")
def index():
    """Open the payment or customer the search names exactly; otherwise list the customers."""
    result = queries.search(request.args.get("q", ""))
    if result.payment is not None:
        return hx_redirect(url_for("payments.detail", payment_id=result.payment.id))
    if result.single_customer is not None:
        return hx_redirect(url_for("customers.detail", customer_id=result.single_customer.id))
    return render_page_or_fragment("search/index.html", None, result=result)
