"""Subscriptions: list, detail, and pause / resume / cancel / reinstate / change plan."""
from __future__ import annotations

from flask import Blueprint, flash, request, url_for
from flask_babel import gettext as _

from .. import queries
from ..actions import allowed_actions
from ..billing import charges, lifecycle, refunds
from ..billing.errors import BillingError
from ..billing.periods import charges_after_charge_now, unpaid_period_ended
from ..clock import now
from ..formatting import from_local, local_time, won
from ..forms import (
    CancelSubscriptionForm,
    ChangePlanForm,
    ChargeNowForm,
    PauseForm,
    ReasonForm,
    SubscriptionFilterForm,
    choice,
)
from ..htmx import redirect_after_action, render_page_or_fragment
from ..messages import billing_detail
from .access import current_actor, require_sign_in, role_required
from .common import (
    next_page_url,
    next_url,
    on_refusal,
    or_404,
    render_action,
    row_id_arg,
)

bp = Blueprint("subscriptions", __name__)
bp.before_request(require_sign_in)


@bp.get("/subscriptions")
def index():
    """List subscriptions by status and plan, newest first."""
    form = SubscriptionFilterForm(request.args)
    form.plan.choices = [choice("", _("All"))] + [
        choice(str(plan.id), plan.name) for plan in queries.all_plans()
    ]
    plan = request.args.get("plan", "")
    customer = request.args.get("customer", "")
    filters = queries.SubscriptionFilters(
        status=form.status.data or "",
        plan_id=row_id_arg(plan),
        customer_id=row_id_arg(customer),
    )
    page = queries.subscriptions_page(filters, after=request.args.get("after"))
    return render_page_or_fragment(
        "subscriptions/index.html", "subscriptions/_table.html",
        form=form, page=page, next_url=next_page_url("subscriptions.index", page.next_after),
    )


@bp.get("/subscriptions/<int:subscription_id>")
def detail(subscription_id: int):
    """Show a subscription with its schedules, payments and staff actions."""
    detail = or_404(queries.subscription_detail(subscription_id))
    return render_page_or_fragment(
        "subscriptions/detail.html", None, detail=detail, subscription=detail.subscription
    )


def subscription_url(subscription_id: int) -> str:
    return url_for("subscriptions.detail", subscription_id=subscription_id)


def load(subscription_id: int):
    return or_404(queries.subscription_or_none(subscription_id))


def render_form(template, title, subscription, form, status=200, error=None, error_detail=None,
                **context):
    return render_action(
        template, status=status, title=title,
        back_url=next_url(form, subscription_url(subscription.id)),
        subscription=subscription, form=form, error=error, error_detail=error_detail, **context,
    )


@bp.route("/subscriptions/<int:subscription_id>/pause", methods=["GET", "POST"])
@role_required("support")
def pause(subscription_id: int):
    """Pause charging (waiting schedules are revoked), optionally until a resume date."""
    subscription = load(subscription_id)
    form = PauseForm(next=request.args.get("next", ""))
    template, title = "subscriptions/_pause_form.html", _("Pause the subscription")
    if request.method == "GET":
        return render_form(template, title, subscription, form)
    if not form.validate_on_submit():
        return render_form(template, title, subscription, form, status=422)
    on_refusal(render_form, template=template, title=title, subscription=subscription, form=form)
    resume_at = from_local(form.resume_at.data) if form.resume_at.data else None
    lifecycle.pause_subscription(subscription_id, actor=current_actor(),
                                 reason=form.reason.data, resume_at=resume_at)
    if resume_at:
        flash(_("Paused until %(time)s; waiting charges were revoked.",
                time=local_time(resume_at)), "success")
    else:
        flash(_("Paused; waiting charges were revoked."), "success")
    return redirect_after_action(next_url(form, subscription_url(subscription_id)))


@bp.route("/subscriptions/<int:subscription_id>/resume", methods=["GET", "POST"])
@role_required("support")
def resume(subscription_id: int):
    """Resume a paused subscription from its next due date, with a reason, after confirming."""
    subscription = load(subscription_id)
    form = ReasonForm(next=request.args.get("next", ""))
    template, title = "subscriptions/_resume_form.html", _("Resume the subscription")
    if request.method == "GET":
        return render_form(template, title, subscription, form)
    if not form.validate_on_submit():
        return render_form(template, title, subscription, form, status=422)
    on_refusal(render_form, template=template, title=title, subscription=subscription, form=form)
    resumed = lifecycle.resume_subscription(subscription_id, actor=current_actor(),
                                            reason=form.reason.data)
    flash(_("Resumed; the next charge is at %(time)s.",
            time=local_time(resumed.next_charge_at)), "success")
    return redirect_after_action(next_url(form, subscription_url(subscription_id)))


@bp.route("/subscriptions/<int:subscription_id>/cancel", methods=["GET", "POST"])
@role_required("support")
def cancel(subscription_id: int):
    """Cancel now or at the end of the period (waiting schedules are revoked), after confirming."""
    subscription = load(subscription_id)
    form = CancelSubscriptionForm(next=request.args.get("next", ""))
    title = _("Cancel the subscription")
    template = "subscriptions/_cancel_form.html"
    live = queries.upcoming_schedules(subscription.customer_id)
    live = [s for s in live if s.subscription_id == subscription_id]
    current = queries.current_period_payment(subscription_id)
    refundable = current if current is not None and "refund" in allowed_actions(current) else None
    context = {"live_schedules": live, "refundable_payment": refundable}
    if request.method == "GET":
        return render_form(template, title, subscription, form, **context)
    if not form.validate_on_submit():
        return render_form(template, title, subscription, form, status=422, **context)
    if not form.is_confirmed:
        return render_form("subscriptions/_cancel_confirm.html", title, subscription, form,
                           **context)
    on_refusal(render_form, template=template, title=title, subscription=subscription,
               form=form, **context)
    at_period_end = form.when.data == "period_end"
    cancelled = lifecycle.cancel_subscription(subscription_id, actor=current_actor(),
                                              reason=form.reason.data,
                                              at_period_end=at_period_end)
    if cancelled.status != "cancelled" and cancelled.cancel_at_period_end:
        flash(_("The subscription ends on %(time)s; no further charges are scheduled.",
                time=local_time(cancelled.current_period_end)), "success")
    else:
        flash(_("The subscription is cancelled; no further charges are scheduled."), "success")
    if not at_period_end and form.refund_current.data == "yes" and refundable is not None:
        refund_current_period(refundable, form.reason.data)
    return redirect_after_action(next_url(form, subscription_url(subscription_id)))


def refund_current_period(payment, reason: str) -> None:
    """Refund the period that "cancel now" ended; the cancellation stands if iamport says no."""
    try:
        done = refunds.refund_payment(payment.id, amount=None, reason=reason,
                                      actor=current_actor())
    except BillingError as error:
        flash(_("The subscription is cancelled, but the refund was not made: %(why)s",
                why=billing_detail(error.message)), "error")
        return
    flash(_("Refunded %(amount)s of %(uid)s.", amount=won(done.amount),
            uid=payment.merchant_uid), "success")


@bp.route("/subscriptions/<int:subscription_id>/reinstate", methods=["GET", "POST"])
@role_required("support")
def reinstate(subscription_id: int):
    """Undo a cancellation and bill again from the next due date, with a reason."""
    subscription = load(subscription_id)
    form = ReasonForm(next=request.args.get("next", ""))
    template, title = "subscriptions/_resume_form.html", _("Reinstate the subscription")
    restored = queries.revoked_charges_to_restore(subscription_id)
    if request.method == "GET":
        return render_form(template, title, subscription, form, restored=restored)
    if not form.validate_on_submit():
        return render_form(template, title, subscription, form, status=422, restored=restored)
    on_refusal(render_form, template=template, title=title, subscription=subscription,
               form=form, restored=restored)
    reinstated = lifecycle.reinstate_subscription(subscription_id, actor=current_actor(),
                                                  reason=form.reason.data)
    flash(_("Reinstated; the next charge is at %(time)s.",
            time=local_time(reinstated.next_charge_at)), "success")
    return redirect_after_action(next_url(form, subscription_url(subscription_id)))


@bp.route("/subscriptions/<int:subscription_id>/plan", methods=["GET", "POST"])
@role_required("support")
def change_plan(subscription_id: int):
    """Switch to another plan from the next period."""
    subscription = load(subscription_id)
    form = ChangePlanForm(next=request.args.get("next", ""))
    form.plan_id.choices = [choice(p.id, f"{p.name} ({p.code})") for p in queries.active_plans()]
    template, title = "subscriptions/_plan_form.html", _("Change the plan")
    if request.method == "GET":
        form.plan_id.data = subscription.next_plan_id or subscription.plan_id
        return render_form(template, title, subscription, form)
    if not form.validate_on_submit():
        return render_form(template, title, subscription, form, status=422)
    on_refusal(render_form, template=template, title=title, subscription=subscription, form=form)
    changed = lifecycle.change_plan(subscription_id, plan_id=form.plan_id.data,
                                    actor=current_actor(), reason=form.reason.data or None)
    plan = changed.next_plan or changed.plan
    flash(_("From the next period the plan is %(plan)s.", plan=plan.name), "success")
    return redirect_after_action(next_url(form, subscription_url(subscription_id)))


@bp.route("/subscriptions/<int:subscription_id>/charge-now", methods=["GET", "POST"])
@role_required("support")
def charge_now(subscription_id: int):
    """Charge the unpaid period now (after a decline or a new card), after a confirmation."""
    subscription = load(subscription_id)
    form = ChargeNowForm(next=request.args.get("next", ""))
    template, title = "subscriptions/_charge_now_form.html", _("Charge the unpaid period now")
    # The choice exists only for a period that has already ended; otherwise one charge.
    ended = unpaid_period_ended(subscription, now())
    restart = ended and form.start.data != "missed"
    context = {"ended": ended, "restart": restart,
               "planned": charges_after_charge_now(subscription, restart=restart, at=now())}
    if request.method == "GET":
        return render_form(template, title, subscription, form, **context)
    if not form.validate_on_submit():
        return render_form(template, title, subscription, form, status=422, **context)
    if not form.is_confirmed:
        return render_form("subscriptions/_charge_now_confirm.html", title, subscription, form,
                           **context)
    on_refusal(render_form, template=template, title=title, subscription=subscription, form=form,
               **context)
    payment = charges.retry_period_now(subscription_id, actor=current_actor(),
                                       reason=form.reason.data, restart=restart)
    if payment.status == "paid":
        flash(_("The period is paid: %(amount)s.", amount=won(payment.amount)), "success")
    elif payment.status == "failed":
        flash(_("The charge was declined: %(reason)s", reason=payment.fail_reason or "-"),
              "error")
    else:
        flash(_("The charge outcome is not known yet; a sync will resolve it."), "warning")
    return redirect_after_action(next_url(form, subscription_url(subscription_id)))
