"""The ``/_sandbox`` control API: clock, runner, behaviours, webhooks, faults. No auth.

Endpoints (checks outside the project rely on these exactly):

- ``POST /_sandbox/reset``
- ``GET|POST /_sandbox/clock`` with ``{"advance": seconds}`` or ``{"now": unix}`` -> ``{"now"}``
  (also ``{"frozen": true|false}``: stop time so it moves only when set, or let it flow)
- ``POST /_sandbox/run-due`` -> ``{"executed": [merchant_uid, ...]}`` once webhooks are sent
- ``PUT /_sandbox/customers/<customer_uid>/behavior`` with ``{"outcome", "fail_reason"}``
- ``GET|PUT /_sandbox/webhook`` with ``{"url", "content_type", "resends"}`` (``resends``: resend
  a failed webhook five times a minute apart, as PortOne does on request; off by default)
- ``GET /_sandbox/webhooks`` -> list of delivery attempts
- ``GET|PUT|DELETE /_sandbox/faults`` with ``{"path", "status", "delay", "count",
  "after_commit", "method"}`` (or a list of such objects; PUT replaces the armed faults).
  The next ``count`` (default 1) API requests whose path matches the regex (``re.search``) and
  method, if given, are held ``delay`` seconds and/or answered with ``status`` (502/503/504 as
  an nginx page, others as a JSON envelope) instead of being performed. With ``after_commit``
  the operation is performed first, then held and failed: a lost response. A delay alone
  performs the operation after the wait, like a slow server.
- ``POST /_sandbox/console-refund`` with ``{"imp_uid", "amount"?, "reason"?}``: refund as staff
  do in PortOne's console (all, or ``amount``), which sends the ``cancelled`` webhook
  -> the payment; 409 ``{"error"}`` when iamport would refuse it
- ``GET|PUT /_sandbox/channels`` with ``{"channels": ["kcp", "kcp_billing", "kcp.*"]}``: the
  account's PG channels (``kcp.*``: any site code); a ``pg`` naming none is refused
- ``GET /_sandbox/state`` (counts) and ``GET /_sandbox/requests`` (API calls, names only)
"""

from __future__ import annotations

import re

from flask import Blueprint, current_app, jsonify, request

from .core import Fault
from .errors import ApiError

control = Blueprint("sandbox_control", __name__, url_prefix="/_sandbox")


class ControlError(ValueError):
    """A control request that cannot be applied."""


def _state():
    return current_app.extensions["iamport_sandbox"]


def _payload():
    data = request.get_json(silent=True) if request.is_json else request.form.to_dict()
    if data is None:
        raise ControlError("the body must be JSON or a form")
    return data


def _number(data: dict, name: str, kind=int, *, minimum=None):
    value = data.get(name)
    if value is None or value == "":
        return None
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ControlError(f"{name} must be a number") from None
    if minimum is not None and number < minimum:
        raise ControlError(f"{name} must be at least {minimum}")
    return number


def _flag(value) -> bool:
    return value is True or str(value).lower() in ("true", "1", "yes")


def _fault(spec: dict) -> Fault:
    if not isinstance(spec, dict):
        raise ControlError("a fault is an object")
    try:
        path = re.compile(spec.get("path") or "")
    except re.error as error:
        raise ControlError(f"path is not a regular expression: {error}") from None
    status = _number(spec, "status", minimum=100)
    delay = _number(spec, "delay", float, minimum=0) or 0.0
    if status is None and not delay:
        raise ControlError("a fault needs a status or a delay")
    method = spec.get("method")
    return Fault(
        path=path,
        status=status,
        delay=delay,
        count=_number(spec, "count", minimum=1) or 1,
        after_commit=_flag(spec.get("after_commit", False)),
        method=method.upper() if method else None,
    )


@control.errorhandler(ValueError)
def control_error(error: ValueError):
    """Answer a control request that cannot be applied."""
    return jsonify(error=str(error)), 400


@control.post("/reset")
def reset():
    """Forget everything the sandbox holds."""
    _state().reset()
    return jsonify(reset=True, now=_state().now())


@control.route("/clock", methods=["GET", "POST"])
def clock():
    """Read, set (``now``), move (``advance``) or freeze (``frozen``) the sandbox clock."""
    state = _state()
    if request.method == "POST":
        data = _payload()
        if data.get("frozen") is not None:
            state.freeze_clock(_flag(data["frozen"]))
        if _number(data, "now") is not None:
            state.set_now(_number(data, "now"))
        elif _number(data, "advance", float) is not None:
            state.advance(_number(data, "advance", float))
        elif data.get("frozen") is None:
            raise ControlError("give now (unix seconds), advance (seconds) or frozen (bool)")
    return jsonify(now=state.now())


@control.post("/run-due")
def run_due():
    """Execute due schedules and send due webhooks before answering."""
    return jsonify(executed=_state().run_due())


@control.put("/customers/<customer_uid>/behavior")
def behavior(customer_uid):
    """Make charges on a billing key approve or decline."""
    data = _payload()
    return jsonify(_state().set_behavior(customer_uid, data.get("outcome"),
                                         data.get("fail_reason") or None))


@control.route("/webhook", methods=["GET", "PUT"])
def webhook():
    """Read or set the webhook URL and content type."""
    state = _state()
    if request.method == "PUT":
        data = _payload()
        resends = data.get("resends")
        return jsonify(state.configure_webhook(
            data.get("url"), data.get("content_type") or "application/json",
            None if resends is None else _flag(resends)))
    return jsonify(state.webhook_config())


@control.post("/console-refund")
def console_refund():
    """Refund a payment as PortOne's console does, sending the ``cancelled`` webhook."""
    data = _payload()
    imp_uid = data.get("imp_uid")
    if not imp_uid:
        raise ControlError("give the imp_uid of the payment to refund")
    state = _state()
    try:
        payment = state.console_refund(str(imp_uid), _number(data, "amount", minimum=1),
                                       data.get("reason") or None)
    except ApiError as refused:
        return jsonify(error=refused.message), 409
    state.deliver_webhooks()
    return jsonify(payment)


@control.route("/channels", methods=["GET", "PUT"])
def channels():
    """Read or replace the account's PG channels."""
    state = _state()
    if request.method == "PUT":
        return jsonify(channels=state.configure_channels(_payload().get("channels")))
    return jsonify(channels=state.channel_names())


@control.get("/webhooks")
def deliveries():
    """List every webhook delivery attempt (sending what is due first)."""
    return jsonify(_state().webhook_deliveries())


@control.route("/faults", methods=["GET", "PUT", "DELETE"])
def faults():
    """Read, replace or clear the injected faults."""
    state = _state()
    if request.method == "PUT":
        data = request.get_json(silent=True)
        if data is None:
            data = _payload()
        specs = data if isinstance(data, list) else [data]
        return jsonify(faults=state.set_faults([_fault(spec) for spec in specs]))
    if request.method == "DELETE":
        return jsonify(faults=state.set_faults([]))
    return jsonify(faults=state.faults())


@control.get("/state")
def summary():
    """Count what the sandbox holds."""
    return jsonify(_state().summary())


@control.get("/requests")
def requests_log():
    """List the API calls received: method, path, parameter names and status; no values."""
    return jsonify(_state().request_log())
