"""Helpers the console's views share: list pages, CSV streams and action forms."""
from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator

from flask import Response, abort, request, stream_with_context, url_for

from ..formatting import local_time
from ..htmx import render_page_or_fragment, safe_next
from ..models import MAX_ROW_ID
from .errors import reply_on_billing_error


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


# A cell starting with one of these is a formula to a spreadsheet; a leading ' keeps it text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Rows written per chunk of the streamed response.
CSV_CHUNK_ROWS = 500


def csv_cell(value) -> object:
    """Return what the CSV holds for one value: empty for None, text never read as a formula."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def stream_csv(filename: str, header: list[str], rows: Iterable[list]) -> Response:
    """Stream a CSV file in UTF-8 with a BOM (Excel reads Korean correctly), in chunks of
    rows."""

    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        buffer.write("\ufeff")
        writer.writerow(header)
        yield buffer.getvalue()
        chunk = []
        for row in rows:
            chunk.append([csv_cell(value) for value in row])
            if len(chunk) == CSV_CHUNK_ROWS:
                yield written(chunk)
                chunk = []
        if chunk:
            yield written(chunk)

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
