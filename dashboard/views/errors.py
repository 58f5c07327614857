"""Error pages, and the one place billing errors become a message and a 422."""
from __future__ import annotations

from collections.abc import Callable

from flask import Flask, g, jsonify, make_response, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from ..billing import errors as billing_errors
from ..extensions import db
from ..formatting import won
from ..htmx import MESSAGES_TARGET, is_htmx
from ..messages import billing_detail


def describe_billing_error(error: billing_errors.BillingError) -> str:
    """Return a translated sentence telling staff why the billing action was refused."""
    if isinstance(error, billing_errors.NotRefundable):
        return _(
            "This refund is not possible: at most %(refundable)s can still be refunded.",
            refundable=won(error.refundable),
        )
    if isinstance(error, billing_errors.ScheduleInPast):
        return _("The charge time must be in the future.")
    if isinstance(error, billing_errors.ChargeInProgress):
        return _(
            "An earlier charge for this subscription has an unknown outcome. "
            "Run a sync to resolve it before charging again."
        )
    if isinstance(error, billing_errors.AnswerLost):
        return _(
            "iamport did not answer in time. The outcome is unknown and the record stays "
            "pending until a sync asks iamport; do not repeat the action."
        )
    if isinstance(error, billing_errors.IamportRefused):
        return _("iamport refused the request; nothing was changed there.")
    if isinstance(error, billing_errors.IamportUnreachable):
        return _("iamport could not be reached; nothing was changed. Try again shortly.")
    if isinstance(error, billing_errors.RecordNotFound):
        return _("The record no longer exists.")
    if isinstance(error, billing_errors.InvalidInput):
        return _("A value breaks a billing rule.")
    if isinstance(error, billing_errors.InvalidState):
        return _("This action does not apply to the record in its current state.")
    return _("The action could not be carried out.")


def reply_on_billing_error(render: Callable[[str, str], str]) -> None:
    """Say how to re-render the current form if the billing call raises a ``BillingError``.

    ``render(message, detail)`` returns the HTML; the handler sends it with status 422.
    """
    g.billing_error_reply = render


def handle_billing_error(error: billing_errors.BillingError):
    """Answer a refused billing action with 422, the form again and a clear message."""
    # The billing function owns its transaction; make sure nothing half-done lingers here.
    db.session.rollback()
    message = describe_billing_error(error)
    detail = billing_detail(error.message)
    render = g.get("billing_error_reply")
    if render is None:
        return error_response(422, _("Not done"), message, detail)
    response = make_response(render(message, detail), 422)
    response.vary.add("HX-Request")
    return response


API_ERROR_CODES = {400: "invalid_request", 403: "forbidden", 404: "not_found",
                   405: "method_not_allowed"}


def error_response(status: int, title: str, message: str, detail: str | None = None):
    """Answer with an error page, or for htmx a message shown in the page's message area.

    Requests to the JSON API get the API's error shape instead of a page.
    """
    if request.path.startswith("/api/"):
        code = API_ERROR_CODES.get(status, "error")
        return jsonify(error={"code": code, "message": message}), status
    context = {"title": title, "message": message, "detail": detail}
    if is_htmx():
        response = make_response(render_template("errors/_error.html", **context), status)
        response.headers["HX-Retarget"] = MESSAGES_TARGET
        response.headers["HX-Reswap"] = "innerHTML"
    else:
        response = make_response(render_template("errors/error.html", **context), status)
    response.vary.add("HX-Request")
    return response


def register_error_handlers(app: Flask) -> None:
    """Attach the console's error pages to the app."""
    app.register_error_handler(billing_errors.BillingError, handle_billing_error)

    @app.errorhandler(403)
    def forbidden(error):
        return error_response(403, _("Not allowed"), _("Your role does not allow this action."))

    @app.errorhandler(404)
    def not_found(error):
        return error_response(404, _("Not found"), _("There is nothing at this address."))

    @app.errorhandler(405)
    def method_not_allowed(error):
        return error_response(405, _("Not allowed"), _("This address does not take that method."))

    @app.errorhandler(CSRFError)
    def csrf_failed(error):
        return error_response(
            400,
            _("Form expired"),
            _("The form was too old or came from elsewhere. Reload the page and try again."),
        )

    del forbidden, not_found, method_not_allowed, csrf_failed
