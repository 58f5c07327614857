"""Received webhooks, for operations: what arrived, what became of it, reprocess."""
from __future__ import annotations

from flask import Blueprint, flash, request, url_for
from flask_babel import gettext as _

from .. import queries
from ..billing import webhooks
from ..extensions import db
from ..forms import EventFilterForm, PlainActionForm
from ..htmx import redirect_after_action, render_page_or_fragment
from ..messages import webhook_error
from ..models import WebhookEvent
from .access import current_actor, require_sign_in, role_required
from .common import next_page_url, next_url, or_404

bp = Blueprint("events", __name__)
bp.before_request(require_sign_in)


@bp.get("/webhook-events")
def index():
    """List received webhooks by processing state, newest first."""
    form = EventFilterForm(request.args)
    filters = queries.EventFilters(state=form.state.data or "")
    page = queries.events_page(filters, after=request.args.get("after"))
    return render_page_or_fragment(
        "events/index.html", "events/_table.html",
        form=form, page=page, next_url=next_page_url("events.index", page.next_after),
        backlog=queries.webhook_backlog(), refusals=queries.webhook_refusals(),
    )


@bp.post("/webhook-events/<int:event_id>/reprocess")
@role_required("admin")
def reprocess(event_id: int):
    """Process a stored webhook again: re-fetch the payment from iamport and apply it."""
    or_404(db.session.get(WebhookEvent, event_id))
    form = PlainActionForm()
    back = next_url(form, url_for("events.index", **request.args))
    if form.validate_on_submit():
        answer = webhooks.reprocess_event(event_id, actor=current_actor())
        flash(_("Webhook %(id)s reprocessed: %(message)s", id=event_id,
                message=webhook_error(answer.message)),
              "success" if answer.status < 400 else "warning")
    return redirect_after_action(back)
