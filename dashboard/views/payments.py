"""Payments: filters, CSV export, detail with cancel history, and refunds."""
from __future__ import annotations

from flask import Blueprint, flash, request, url_for
from flask_babel import gettext as _

from .. import queries
from ..billing import refunds
from ..formatting import csv_time_in, display_zone, https_only, refund_aware_status, won
from ..forms import PaymentFilterForm, RefundForm
from ..htmx import redirect_after_action, render_page_or_fragment
from .access import current_actor, require_sign_in, role_required
from .common import (
    csv_header,
    export_url,
    next_page_url,
    next_url,
    on_refusal,
    or_404,
    render_action,
    stream_csv,
)

bp = Blueprint("payments", __name__)
bp.before_request(require_sign_in)


def read_filters() -> tuple[PaymentFilterForm, queries.PaymentFilters]:
    form = PaymentFilterForm(request.args)
    form.validate()

    def valid(field):
        return field.data if not field.errors else None

    return form, queries.PaymentFilters(
        status=form.status.data or "",
        origin=form.origin.data or "",
        date_from=valid(form.from_),
        date_to=valid(form.to),
        min_amount=valid(form.min_amount),
        max_amount=valid(form.max_amount),
        customer_id=queries.customer_id_for(form.customer.data or ""),
        uid=form.uid.data or "",
        refunded_from=valid(form.refunded_from),
        refunded_to=valid(form.refunded_to),
    )


@bp.get("/payments")
def index():
    """List payments by status, date, amount, customer and origin, newest first."""
    form, filters = read_filters()
    page = queries.payments_page(filters, after=request.args.get("after"))
    return render_page_or_fragment(
        "payments/index.html", "payments/_table.html",
        form=form, page=page,
        next_url=next_page_url("payments.index", page.next_after),
        csv_url=export_url("payments.export"),
        refunds_csv_url=export_url("payments.export_refunds"),
    )


@bp.get("/payments.csv")
def export():
    """Download every payment matching the current filters as CSV."""
    _form, filters = read_filters()
    header = csv_header([
        "imp_uid", "merchant_uid", "customer_uid", "customer_name", "subscription_id", "period",
        "attempt", "origin", "name", "amount", "cancel_amount", "status", "card_name",
        "card_number", "fail_reason", "created_at", "paid_at", "failed_at", "cancelled_at",
        "receipt_url"])

    minutes = queries.export_minutes()

    def rows():
        # Rows of queries.payment_export_columns(): the header's order up to the four times,
        # then the receipt (and the keyset's columns, not written).
        for row in queries.iterate_payments(filters):
            yield [*row[:11], refund_aware_status(row[11], row[9], row[10]), *row[12:15],
                   minutes(row[15]), minutes(row[16]), minutes(row[17]), minutes(row[18]),
                   https_only(row[19])]

    return stream_csv("payments.csv", header, rows())


@bp.get("/refunds.csv")
def export_refunds():
    """Download every refund of the payments matching the current filters, dated on its day."""
    _form, filters = read_filters()
    csv_time = csv_time_in(display_zone())
    header = csv_header(["refunded_at", "imp_uid", "merchant_uid", "customer_uid",
                         "customer_name", "payment_amount", "refund_amount", "reason",
                         "refund_status"])

    def rows():
        for r in queries.iterate_refunds(filters):
            p = r.payment
            yield [csv_time(r.cancelled_at or r.created_at), p.imp_uid, p.merchant_uid,
                   p.customer.customer_uid if p.customer else "",
                   p.customer.name if p.customer else "", p.amount, r.amount, r.reason,
                   r.status]

    return stream_csv("refunds.csv", header, rows())


@bp.get("/payments/<int:payment_id>")
def detail(payment_id: int):
    """Show a payment with its cancel history, receipt, webhooks and staff actions."""
    detail = or_404(queries.payment_detail(payment_id))
    return render_page_or_fragment(
        "payments/detail.html", None, detail=detail, payment=detail.payment,
    )


def payment_url(payment_id: int) -> str:
    return url_for("payments.detail", payment_id=payment_id)


def render_refund(payment, form, status=200, template="payments/_refund_form.html",
                  error=None, error_detail=None):
    refundable = payment.refundable_amount
    amount = form.amount.data or refundable
    return render_action(
        template, status=status, title=_("Refund a payment"),
        back_url=next_url(form, payment_url(payment.id)),
        payment=payment, form=form, error=error, error_detail=error_detail,
        refundable=refundable, refund_amount=amount, remaining_after=refundable - amount,
        pending_refunds=queries.unresolved_refund_total(payment),
    )


@bp.route("/payments/<int:payment_id>/refund", methods=["GET", "POST"])
@role_required("support")
def refund(payment_id: int):
    """Refund all or part of a payment, after a confirmation showing paid and refundable."""
    payment = or_404(queries.payment_or_none(payment_id))
    form = RefundForm(next=request.args.get("next", ""))
    if request.method == "GET":
        form.request_key.data = refunds.new_refund_key()
        return render_refund(payment, form)
    if not form.validate_on_submit():
        return render_refund(payment, form, status=422)
    if form.amount.data and form.amount.data > payment.refundable_amount:
        form.amount.errors.append(
            _("At most %(amount)s can be refunded.", amount=won(payment.refundable_amount))
        )
        return render_refund(payment, form, status=422)
    if not form.is_confirmed:
        return render_refund(payment, form, template="payments/_refund_confirm.html")
    on_refusal(render_refund, payment=payment, form=form)
    done = refunds.refund_payment(payment_id, amount=form.amount.data or None,
                                  reason=form.reason.data, actor=current_actor(),
                                  request_key=form.request_key.data or None)
    flash(_("Refunded %(amount)s of %(uid)s.", amount=won(done.amount),
            uid=payment.merchant_uid), "success")
    return redirect_after_action(next_url(form, payment_url(payment_id)))
