"""Helpers the console's views share: list pages, CSV streams and action forms."""
from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator

from flask import Response, abort, request, stream_with_context, url_for
from flask_babel import gettext as _

from .. import exports
from ..formatting import display_zone, local_time, zone_label
from ..formatting import lazy_gettext as _l
from ..htmx import render_page_or_fragment, safe_next
from ..models import MAX_ROW_ID
from .access import current_actor
from .errors import error_response, reply_on_billing_error

# An id no real row has, to find where an id goes in an endpoint's URL.
_ID_MARK = 987654321


def id_url(endpoint: str, argument: str, **values) -> Callable[[int], str]:
    """Return a function giving ``endpoint``'s URL for an id (and ``values``, e.g. ``next``),
    calling ``url_for`` once.

    A list page links fifty rows to their records; building each link with ``url_for`` cost
    more than printing the row.
    """
    # The id sits in the path, before any query value that might hold the same digits.
    head, _mark, tail = url_for(endpoint, **{argument: _ID_MARK}, **values).partition(
        str(_ID_MARK))
    return lambda row_id: f"{head}{int(row_id)}{tail}"


# URLs of endpoints without a variable part, per script root: the header links a dozen pages
# on every page, and they are the same for every request at that root.
_fixed_urls: dict[tuple, str] = {}


def fixed_url(endpoint: str, **values: str) -> str:
    """Return ``url_for(endpoint, **values)`` for values written in a template (never a
    request's), built once per script root."""
    key = (request.script_root, endpoint, *sorted(values.items()))
    url = _fixed_urls.get(key)
    if url is None:
        url = _fixed_urls[key] = url_for(endpoint, **values)
    return url


def query_string_without(*names: str, **replace) -> dict:
    """Return the current query arguments minus ``names``, plus ``replace`` (empty values go)."""
    args = {key: value for key, value in request.args.items() if key not in names and value}
    args.update({key: value for key, value in replace.items() if value})
    return args


def next_page_url(endpoint: str, after: str | None, **values) -> str | None:
    """Return the URL of the next page of the current list, keeping its filters."""
    if not after:
        return None
    return url_for(endpoint, **values, **query_string_without("after", after=after))


def export_url(endpoint: str) -> str:
    """Return the CSV export URL for the current list's filters (every page)."""
    return url_for(endpoint, **query_string_without("after"))


def row_id_arg(value: str | None) -> int | None:
    """Return a filter's row id, or None when it is not one (``²``, huge numbers, text)."""
    value = value or ""
    if value.isascii() and value.isdigit() and int(value) <= MAX_ROW_ID:
        return int(value)
    return None


def or_404(value):
    """Return ``value``, or answer 404 when it is ``None``."""
    if value is None:
        abort(404)
    return value


# CSV column titles, in the page's language; iamport's own field names stay as they are. The
# times' titles name the display zone they are written in.
CSV_COLUMNS = {
    "customer_name": _l("Customer name"),
    "subscription_id": _l("Subscription"),
    "period": _l("Period"),
    "attempt": _l("Attempt"),
    "origin": _l("Origin"),
    "name": _l("Order name"),
    "amount": _l("Amount"),
    "cancel_amount": _l("Refunded amount"),
    "status": _l("Status"),
    "card_name": _l("Card"),
    "card_number": _l("Card number"),
    "fail_reason": _l("Failure reason"),
    "created_at": _l("Requested at (%(zone)s)"),
    "paid_at": _l("Paid at (%(zone)s)"),
    "failed_at": _l("Failed at (%(zone)s)"),
    "cancelled_at": _l("Refunded at (%(zone)s)"),
    "receipt_url": _l("Receipt"),
    "email": _l("Email"),
    "phone": _l("Phone"),
    "billing_key_status": _l("Billing key"),
    "subscriptions": _l("Subscriptions"),
    "schedule_at": _l("Charge time (%(zone)s)"),
    "schedule_status": _l("Schedule status"),
    "payment_status": _l("Charge result"),
    "executed_at": _l("Executed at (%(zone)s)"),
    "revoked_at": _l("Revoked at (%(zone)s)"),
    "refunded_at": _l("Refunded at (%(zone)s)"),
    "payment_amount": _l("Payment amount"),
    "refund_amount": _l("Refund amount"),
    "reason": _l("Reason"),
    "refund_status": _l("Refund status"),
}


def csv_header(columns: list[str]) -> list[str]:
    """Return the CSV header for ``columns`` in the page's language."""
    zone = {"zone": zone_label(display_zone())}
    return [str(CSV_COLUMNS[column]) % zone if column in CSV_COLUMNS else column
            for column in columns]


# Rows written per chunk of the streamed response.
CSV_CHUNK_ROWS = 500


def stream_csv(filename: str, header: list[str], rows: Iterable[list]) -> Response:
    """Stream a CSV file in UTF-8 with a BOM (Excel reads Korean correctly), in chunks of rows.

    Every export goes through here: cells never become formulas, at most
    ``MAX_CONCURRENT_EXPORTS`` run at once per staff member, and each one is audited with
    its filters and row count.
    """
    actor = current_actor()
    kind = filename.rsplit(".", 1)[0]
    filters = {key: value[:200] for key, value in request.args.items() if value}
    try:
        run_id = exports.start_export(kind, filters, actor=actor)
    except exports.TooManyExports as refused:
        return error_response(429, _("Too many exports"), _(
            "You already have %(limit)s exports running. Wait for one to finish.",
            limit=refused.limit))

    def generate() -> Iterator[str]:
        count, complete = 0, False
        try:
            buffer = io.StringIO()
            buffer.write("\ufeff")
            csv.writer(buffer).writerow(header)
            yield buffer.getvalue()
            chunk = []
            for row in rows:
                chunk.append(exports.csv_cells(row))
                if len(chunk) == CSV_CHUNK_ROWS:
                    yield written(chunk)
                    count += len(chunk)
                    chunk = []
            if chunk:
                yield written(chunk)
                count += len(chunk)
            complete = True
        finally:
            exports.finish_export(run_id, kind, filters, count, complete=complete, actor=actor)

    def written(chunk: list[list]) -> str:
        buffer = io.StringIO()
        csv.writer(buffer).writerows(chunk)
        return buffer.getvalue()

    response = Response(stream_with_context(generate()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    response.charset = "utf-8"
    return response


def next_url(form, default: str) -> str:
    """Return where to go after an action: the form's ``next`` if local, else ``default``."""
    return safe_next(form.next.data or request.args.get("next"), default)


def render_action(fragment: str, *, title: str, back_url: str, status: int = 200, **context):
    """Render an action's form or confirmation: alone for htmx, inside a page otherwise."""
    return render_page_or_fragment(
        "action.html", fragment, status=status,
        fragment=fragment, title=title, back_url=back_url, **context,
    )


def on_refusal(render: Callable[..., object], **context) -> None:
    """Re-render the action with the refusal message when the billing call says no."""

    def reply(message: str, detail: str):
        response = render(error=message, error_detail=detail, **context)
        return response.get_data(as_text=True)

    reply_on_billing_error(reply)


def when(moment) -> str:
    """Format a time for flash messages."""
    return local_time(moment)
