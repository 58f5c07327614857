"""The top bar's search box: open the one payment or customer it names, or list the matches."""
from __future__ import annotations

from flask import Blueprint, flash, request, url_for
from flask_babel import gettext as _

from .. import desk, queries
from ..forms import SavedFilterForm
from ..htmx import hx_redirect, redirect_after_action, render_page_or_fragment
from .access import current_actor, require_sign_in, role_required

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


@bp.post("/saved-filters")
@role_required("support")
def save_filter():
    """Save the list's current query string under a name, for the saved-filters menu."""
    form = SavedFilterForm()
    list_name = form.list_name.data if form.list_name.data in desk.FILTER_LISTS else "customers"
    back = url_for(f"{list_name}.index")
    if not form.validate_on_submit():
        flash(_("Name the filter to save it."), "error")
        return redirect_after_action(back)
    saved = desk.save_filter(list_name, form.name.data, form.query_string.data or "",
                             actor=current_actor())
    flash(_("Filter saved as “%(name)s”.", name=saved.name), "success")
    return redirect_after_action(f"{back}?{saved.query_string}" if saved.query_string else back)
