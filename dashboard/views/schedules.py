"""Scheduled charges: by status and date range, CSV export, and the schedule actions."""
from __future__ import annotations

from flask import Blueprint, flash, request, url_for
from flask_babel import gettext as _

from .. import queries
from ..billing import charges, schedules
from ..formatting import (
    csv_time_in,
    display_zone,
    from_local,
    local_time,
    refund_aware_status,
    to_local,
    won,
)
from ..forms import ReasonForm, RescheduleForm, ScheduleFilterForm, ScheduleTimeForm
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

bp = Blueprint("schedules", __name__)
bp.before_request(require_sign_in)


def read_filters() -> tuple[ScheduleFilterForm, queries.ScheduleFilters]:
    form = ScheduleFilterForm(request.args)
    form.validate()
    return form, queries.ScheduleFilters(
        status=form.status.data or "",
        date_from=form.from_.data if not form.from_.errors else None,
        date_to=form.to.data if not form.to.errors else None,
        customer_id=queries.customer_id_for(form.customer.data or ""),
    )


@bp.get("/schedules")
def index():
    """List scheduled charges by status and date range."""
    form, filters = read_filters()
    page = queries.schedules_page(filters, after=request.args.get("after"))
    return render_page_or_fragment(
        "schedules/index.html", "schedules/_table.html",
        form=form, page=page, filters=filters,
        next_url=next_page_url("schedules.index", page.next_after),
        csv_url=export_url("schedules.export"),
    )


@bp.get("/schedules.csv")
def export():
    """Download every schedule matching the current filters as CSV."""
    _form, filters = read_filters()
    csv_time = csv_time_in(display_zone())
    header = csv_header(["merchant_uid", "customer_uid", "customer_name", "subscription_id",
                         "period", "attempt", "schedule_at", "amount", "name",
                         "schedule_status", "payment_status", "imp_uid", "fail_reason",
                         "executed_at", "revoked_at"])

    def rows():
        for s in queries.iterate_schedules(filters):
            yield [s.merchant_uid, s.customer.customer_uid, s.customer.name, s.subscription_id,
                   s.period, s.attempt, csv_time(s.schedule_at), s.amount, s.name,
                   s.schedule_status, schedule_payment_status(s), s.imp_uid, s.fail_reason,
                   csv_time(s.executed_at), csv_time(s.revoked_at)]

    return stream_csv("schedules.csv", header, rows())


def schedule_payment_status(schedule) -> str | None:
    """Return what became of a schedule's charge, a partial refund named as one."""
    payment = schedule.payment
    if payment is None:
        return schedule.payment_status
    return refund_aware_status(schedule.payment_status, payment.amount, payment.cancel_amount)


def load(schedule_id: int):
    return or_404(queries.schedule_or_none(schedule_id))


def back_to(schedule) -> str:
    return url_for("customers.detail", customer_id=schedule.customer_id)


def render_form(template, title, schedule, form, status=200, error=None, error_detail=None):
    return render_action(
        template, status=status, title=title, back_url=next_url(form, back_to(schedule)),
        schedule=schedule, form=form, error=error, error_detail=error_detail,
    )


@bp.route("/schedules/<int:schedule_id>/time", methods=["GET", "POST"])
@role_required("support")
def change_time(schedule_id: int):
    """Move a waiting charge to another time (entered in the display time zone)."""
    schedule = load(schedule_id)
    form = ScheduleTimeForm(next=request.args.get("next", ""))
    template, title = "schedules/_time_form.html", _("Change the charge time")
    if request.method == "GET":
        # Start from the current time, as staff read it (naive, in the display zone).
        form.schedule_at.data = to_local(schedule.schedule_at).replace(tzinfo=None)
        return render_form(template, title, schedule, form)
    if not form.validate_on_submit():
        return render_form(template, title, schedule, form, status=422)
    on_refusal(render_form, template=template, title=title, schedule=schedule, form=form)
    moved = schedules.change_schedule_time(
        schedule_id, schedule_at=from_local(form.schedule_at.data), actor=current_actor(),
        reason=form.reason.data or None,
    )
    flash(_("The charge of %(amount)s now runs at %(time)s.", amount=won(moved.amount),
            time=local_time(moved.schedule_at)), "success")
    return redirect_after_action(next_url(form, back_to(schedule)))


@bp.route("/schedules/<int:schedule_id>/revoke", methods=["GET", "POST"])
@role_required("support")
def revoke(schedule_id: int):
    """Revoke a waiting charge so it never runs, after a confirmation."""
    schedule = load(schedule_id)
    form = ReasonForm(next=request.args.get("next", ""))
    template, title = "schedules/_revoke_form.html", _("Revoke the scheduled charge")
    if request.method == "GET":
        return render_form(template, title, schedule, form)
    if not form.validate_on_submit():
        return render_form(template, title, schedule, form, status=422)
    if not form.is_confirmed:
        return render_form("schedules/_revoke_confirm.html", title, schedule, form)
    on_refusal(render_form, template=template, title=title, schedule=schedule, form=form)
    schedules.revoke_schedule(schedule_id, actor=current_actor(), reason=form.reason.data)
    flash(_("The charge of %(amount)s at %(time)s was revoked.", amount=won(schedule.amount),
            time=local_time(schedule.schedule_at)), "success")
    return redirect_after_action(next_url(form, back_to(schedule)))


@bp.route("/schedules/<int:schedule_id>/retry", methods=["GET", "POST"])
@role_required("support")
def retry(schedule_id: int):
    """Charge a failed or revoked schedule again right now, after a confirmation."""
    schedule = load(schedule_id)
    form = ReasonForm(next=request.args.get("next", ""))
    template, title = "schedules/_retry_form.html", _("Retry the charge now")
    if request.method == "GET":
        return render_form(template, title, schedule, form)
    if not form.validate_on_submit():
        return render_form(template, title, schedule, form, status=422)
    if not form.is_confirmed:
        return render_form("schedules/_retry_confirm.html", title, schedule, form)
    on_refusal(render_form, template=template, title=title, schedule=schedule, form=form)
    payment = charges.retry_schedule_now(schedule_id, actor=current_actor(),
                                           reason=form.reason.data)
    if payment.status == "paid":
        flash(_("The retry was paid: %(amount)s.", amount=won(payment.amount)), "success")
    elif payment.status == "failed":
        flash(_("The retry was declined: %(reason)s", reason=payment.fail_reason or "-"), "error")
    else:
        flash(_("The retry outcome is not known yet; a sync will resolve it."), "warning")
    return redirect_after_action(next_url(form, back_to(schedule)))


@bp.route("/schedules/<int:schedule_id>/reschedule", methods=["GET", "POST"])
@role_required("support")
def reschedule(schedule_id: int):
    """Schedule a failed or revoked charge again at a new time."""
    schedule = load(schedule_id)
    form = RescheduleForm(next=request.args.get("next", ""))
    template, title = "schedules/_reschedule_form.html", _("Reschedule the charge")
    if request.method == "GET":
        return render_form(template, title, schedule, form)
    if not form.validate_on_submit():
        return render_form(template, title, schedule, form, status=422)
    on_refusal(render_form, template=template, title=title, schedule=schedule, form=form)
    moved = schedules.reschedule_failed(
        schedule_id, schedule_at=from_local(form.schedule_at.data), actor=current_actor(),
        reason=form.reason.data,
    )
    flash(_("The charge of %(amount)s is scheduled again for %(time)s.",
            amount=won(moved.amount), time=local_time(moved.schedule_at)), "success")
    return redirect_after_action(next_url(form, back_to(schedule)))
