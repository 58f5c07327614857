"""Customers: search, detail with timeline, CSV export, and the customer actions."""
from __future__ import annotations

from flask import Blueprint, flash, request, url_for
from flask_babel import gettext as _

from .. import desk, queries
from ..billing import charges, customers
from ..billing.sync import sync_customer
from ..formatting import csv_time_in, display_zone, label, won
from ..forms import (
    BillingKeyForm,
    CreditAdjustmentForm,
    CustomerFilterForm,
    ManualChargeForm,
    NoteForm,
    PlainActionForm,
    ReasonForm,
    choice,
)
from ..htmx import redirect_after_action, render_page_or_fragment
from .access import current_actor, require_sign_in, role_required
from .common import (
    csv_header,
    export_url,
    id_url,
    next_page_url,
    next_url,
    on_refusal,
    or_404,
    render_action,
    row_id_arg,
    stream_csv,
)

bp = Blueprint("customers", __name__)
bp.before_request(require_sign_in)


def read_filters() -> tuple[CustomerFilterForm, queries.CustomerFilters]:
    form = CustomerFilterForm(request.args)
    form.plan.choices = [choice("", _("All"))] + [
        choice(str(plan.id), plan.name) for plan in queries.all_plans()
    ]
    plan = request.args.get("plan", "")
    return form, queries.CustomerFilters(
        q=form.q.data or "",
        status=form.status.data or "",
        plan_id=row_id_arg(plan),
    )


@bp.get("/customers")
def index():
    """List customers matching the search and filters, newest first, one page at a time."""
    form, filters = read_filters()
    page = queries.customers_page(filters, after=request.args.get("after"))
    return render_page_or_fragment(
        "customers/index.html", "customers/_table.html",
        form=form, page=page,
        next_url=next_page_url("customers.index", page.next_after),
        csv_url=export_url("customers.export"),
    )


@bp.get("/customers.csv")
def export():
    """Download every customer matching the current filters as CSV."""
    _form, filters = read_filters()
    csv_time = csv_time_in(display_zone())
    header = csv_header(["customer_uid", "customer_name", "email", "phone", "card_name",
                         "card_number", "billing_key_status", "subscriptions", "created_at"])

    def rows():
        for customer in queries.iterate_customers(filters):
            subscriptions = "; ".join(
                f"{s.plan.code}:{s.status}" for s in customer.subscriptions
            )
            yield [customer.customer_uid, customer.name, customer.email, customer.phone,
                   customer.card_name, customer.card_number, customer.billing_key_status,
                   subscriptions, csv_time(customer.created_at)]

    return stream_csv("customers.csv", header, rows())


@bp.get("/customers/<int:customer_id>")
def detail(customer_id: int):
    """Show one customer: profile, card, subscriptions, credits, schedules, their latest
    payments and the newest page of their timeline."""
    detail = or_404(queries.customer_detail(customer_id))
    timeline = queries.customer_timeline(customer_id, id_url("payments.detail", "payment_id"))
    return render_page_or_fragment(
        "customers/detail.html", None,
        detail=detail, customer=detail.customer,
        payments=detail.payments[:queries.PAYMENTS_ON_PAGE],
        timeline=timeline.items,
        more_events=timeline.next_after is not None,
        note_form=NoteForm(formdata=None),
    )


@bp.get("/customers/<int:customer_id>/timeline")
def timeline(customer_id: int):
    """Show a customer's timeline, a page at a time: charges, refunds, schedules, webhooks,
    staff actions and notes, newest first."""
    customer = or_404(queries.customer_or_none(customer_id))
    page = queries.customer_timeline(customer_id, id_url("payments.detail", "payment_id"),
                                     after=request.args.get("after"))
    return render_page_or_fragment(
        "customers/timeline.html", None,
        customer=customer, timeline=page.items, first_page=not request.args.get("after"),
        next_url=next_page_url("customers.timeline", page.next_after, customer_id=customer_id),
    )


def customer_url(customer_id: int) -> str:
    return url_for("customers.detail", customer_id=customer_id)


# --- actions -----------------------------------------------------------------------------


@bp.post("/customers/<int:customer_id>/sync")
@role_required("support")
def sync(customer_id: int):
    """Refresh the customer's billing key, payments and schedules from iamport."""
    or_404(queries.customer_or_none(customer_id))
    form = PlainActionForm()
    back = next_url(form, customer_url(customer_id))
    if form.validate_on_submit():
        summary = sync_customer(customer_id, actor=current_actor())
        flash(_("Synced with iamport: billing key %(state)s, %(changed)s records changed.",
                state=label("billing_key", summary.billing_key), changed=summary.changed),
              "success")
    return redirect_after_action(back)


def render_billing_key_form(customer, form, status=200, error=None, error_detail=None):
    form.clear_card_data()
    return render_action(
        "customers/_billing_key_form.html", status=status,
        title=_("Register or replace the billing key"),
        back_url=next_url(form, customer_url(customer.id)),
        customer=customer, form=form, error=error, error_detail=error_detail,
    )


@bp.route("/customers/<int:customer_id>/billing-key", methods=["GET", "POST"])
@role_required("support")
def billing_key(customer_id: int):
    """Issue or replace the billing key by card key-in; the card data goes to iamport only."""
    customer = or_404(queries.customer_or_none(customer_id))
    form = BillingKeyForm(next=request.args.get("next", ""))
    if request.method == "GET":
        return render_billing_key_form(customer, form)
    if not form.validate_on_submit():
        return render_billing_key_form(customer, form, status=422)
    on_refusal(render_billing_key_form, customer=customer, form=form)
    customers.register_billing_key(
        customer_id,
        card_number=form.card_number.data,
        expiry=form.expiry.data,
        birth=form.birth.data,
        pwd_2digit=form.pwd_2digit.data,
        actor=current_actor(),
    )
    form.clear_card_data()
    flash(_("The billing key was registered with iamport."), "success")
    return redirect_after_action(next_url(form, customer_url(customer_id)))


def render_delete_key(customer, form, status=200, template="customers/_delete_key_form.html",
                      error=None, error_detail=None):
    return render_action(
        template, status=status, title=_("Delete the billing key"),
        back_url=next_url(form, customer_url(customer.id)),
        customer=customer, form=form, error=error, error_detail=error_detail,
        live_schedules=queries.upcoming_schedules(customer.id),
    )


@bp.route("/customers/<int:customer_id>/billing-key/delete", methods=["GET", "POST"])
@role_required("support")
def delete_billing_key(customer_id: int):
    """Delete the billing key at iamport (revoking its schedules), after a confirmation."""
    customer = or_404(queries.customer_or_none(customer_id))
    form = ReasonForm(next=request.args.get("next", ""))
    if request.method == "GET":
        return render_delete_key(customer, form)
    if not form.validate_on_submit():
        return render_delete_key(customer, form, status=422)
    if not form.is_confirmed:
        return render_delete_key(customer, form, template="customers/_delete_key_confirm.html")
    on_refusal(render_delete_key, customer=customer, form=form)
    customers.delete_billing_key(customer_id, actor=current_actor(), reason=form.reason.data)
    flash(_("The billing key was deleted and its waiting schedules revoked."), "success")
    return redirect_after_action(next_url(form, customer_url(customer_id)))


def render_credits(customer, form, status=200, error=None, error_detail=None):
    return render_action(
        "customers/_credits_form.html", status=status, title=_("Adjust credits"),
        back_url=next_url(form, customer_url(customer.id)),
        customer=customer, form=form, error=error, error_detail=error_detail,
        balance=queries.credit_balance(customer.id),
    )


@bp.route("/customers/<int:customer_id>/credits", methods=["GET", "POST"])
@role_required("support")
def credits(customer_id: int):
    """Add or take away credits with a reason (a ledger entry, never an edit in place)."""
    customer = or_404(queries.customer_or_none(customer_id))
    form = CreditAdjustmentForm(next=request.args.get("next", ""))
    if request.method == "GET":
        return render_credits(customer, form)
    if not form.validate_on_submit():
        return render_credits(customer, form, status=422)
    on_refusal(render_credits, customer=customer, form=form)
    customers.adjust_credits(customer_id, delta=form.delta.data, reason=form.reason.data,
                             actor=current_actor())
    flash(_("Credits adjusted by %(delta)s.", delta=f"{form.delta.data:+,}"), "success")
    return redirect_after_action(next_url(form, customer_url(customer_id)))


def render_manual_charge(customer, form, status=200, template="customers/_charge_form.html",
                         error=None, error_detail=None, earlier=None):
    return render_action(
        template, status=status, title=_("Charge the billing key by hand"),
        back_url=next_url(form, customer_url(customer.id)),
        customer=customer, form=form, error=error, error_detail=error_detail, earlier=earlier,
        subscription_label=next((str(option.label) for option in form.subscription_id
                                 if option.data == form.subscription_id.data and option.data), ""),
    )


def subscription_choices(customer):
    return [choice("", _("None (a one-off charge)"))] + [
        choice(str(s.id), f"#{s.id} {s.plan.name} ({label('subscription', s.status)})")
        for s in queries.customer_subscriptions(customer.id)
    ]


@bp.route("/customers/<int:customer_id>/charge", methods=["GET", "POST"])
@role_required("support")
def manual_charge(customer_id: int):
    """Charge the customer's billing key once, after a confirmation; safe to submit twice."""
    customer = or_404(queries.customer_or_none(customer_id))
    if request.method == "GET":
        # The merchant_uid is fixed when the form is shown, so a double submit reuses it.
        form = ManualChargeForm(
            formdata=None, next=request.args.get("next", ""),
            merchant_uid=charges.new_manual_merchant_uid(),
            subscription_id=request.args.get("subscription", ""),
        )
        form.subscription_id.choices = subscription_choices(customer)
        return render_manual_charge(customer, form)
    form = ManualChargeForm()
    form.subscription_id.choices = subscription_choices(customer)
    if not form.validate_on_submit():
        return render_manual_charge(customer, form, status=422)
    earlier = queries.recent_identical_charge(customer_id, form.amount.data,
                                              other_than=form.merchant_uid.data)
    repeat_unconfirmed = earlier is not None and form.repeat_confirmed.data != "yes"
    if not form.is_confirmed or repeat_unconfirmed:
        return render_manual_charge(
            customer, form, template="customers/_charge_confirm.html", earlier=earlier,
            status=422 if form.is_confirmed and repeat_unconfirmed else 200,
            error=_("Confirm that this is a second charge.") if form.is_confirmed else None)
    on_refusal(render_manual_charge, customer=customer, form=form)
    subscription_id = form.subscription_id.data
    payment = charges.manual_charge(
        customer_id,
        merchant_uid=form.merchant_uid.data,
        amount=form.amount.data,
        name=form.name.data,
        reason=form.reason.data,
        actor=current_actor(),
        subscription_id=int(subscription_id) if subscription_id else None,
    )
    if payment.status == "paid":
        flash(_("Charged %(amount)s (%(uid)s).", amount=won(payment.amount),
                uid=payment.merchant_uid), "success")
    elif payment.status == "failed":
        flash(_("The charge was declined: %(reason)s", reason=payment.fail_reason or "-"),
              "error")
    else:
        flash(_("The charge outcome is not known yet; a sync will resolve it."), "warning")
    return redirect_after_action(next_url(form, customer_url(customer_id)))


def render_note(customer, form, status=200, error=None, error_detail=None):
    return render_action(
        "customers/_note_form.html", status=status, title=_("Add an internal note"),
        back_url=next_url(form, customer_url(customer.id)),
        customer=customer, form=form, error=error, error_detail=error_detail,
    )


@bp.route("/customers/<int:customer_id>/notes", methods=["GET", "POST"])
@role_required("support")
def add_note(customer_id: int):
    """Add an internal memo to the customer (shown on its page and timeline, never sent)."""
    customer = or_404(queries.customer_or_none(customer_id))
    form = NoteForm(next=request.args.get("next", ""))
    if request.method == "GET":
        return render_note(customer, form)
    if not form.validate_on_submit():
        return render_note(customer, form, status=422)
    on_refusal(render_note, customer=customer, form=form)
    desk.add_customer_note(customer_id, form.body.data, actor=current_actor())
    flash(_("Note added."), "success")
    return redirect_after_action(next_url(form, customer_url(customer_id)))
