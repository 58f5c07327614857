"""The overview: today's charges, what needs attention, health numbers, chart and calendar."""
from __future__ import annotations

import re
from datetime import date

from flask import Blueprint, flash, request, url_for
from flask_babel import gettext as _

from .. import queries
from ..billing import sync
from ..forms import RunSyncForm
from ..htmx import redirect_after_action, render_page_or_fragment
from .access import current_actor, require_sign_in, role_required

bp = Blueprint("overview", __name__)
bp.before_request(require_sign_in)


def month_from_query(today: date) -> tuple[int, int]:
    """Read ``month=YYYY-MM`` from the query string, defaulting to this month."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", request.args.get("month", ""))
    if match and 1 <= int(match.group(2)) <= 12:
        return int(match.group(1)), int(match.group(2))
    return today.year, today.month


def shift_month(year: int, month: int, by: int) -> str:
    index = year * 12 + (month - 1) + by
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@bp.get("/")
def index():
    """Show the overview."""
    numbers = queries.overview()
    year, month = month_from_query(numbers.today)
    return render_page_or_fragment(
        "overview/index.html",
        "overview/_calendar.html",
        numbers=numbers,
        weeks=queries.charge_calendar(year, month, numbers.days),
        month=f"{year:04d}-{month:02d}",
        previous_month=shift_month(year, month, -1),
        next_month=shift_month(year, month, 1),
        sync_form=RunSyncForm(formdata=None),
    )


@bp.post("/operations/sync")
@role_required("admin")
def run_sync():
    """Reconcile recent payments and schedules with iamport and resolve unknown outcomes."""
    form = RunSyncForm()
    if not form.validate_on_submit():
        flash(_("Choose between 1 and 90 days."), "error")
        return redirect_after_action(url_for("overview.index"))
    summary = sync.run_sync(form.days.data, actor=current_actor())
    flash(
        _(
            "Sync finished: %(fetched)s fetched, %(changed)s changed, %(resolved)s resolved.",
            fetched=summary.fetched, changed=summary.changed, resolved=summary.resolved,
        ),
        "success" if not summary.errors else "warning",
    )
    for error in summary.errors[:5]:
        flash(error, "warning")
    return redirect_after_action(url_for("overview.index"))
