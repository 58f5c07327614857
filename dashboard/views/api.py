"""The JSON API for the merchant's own application: start, read and cancel subscriptions.

Authenticated with ``Authorization: Bearer <token>`` (tokens from ``create-api-token``).
Errors are ``{"error": {"code": ..., "message": ...}}`` with the matching HTTP status (unknown
paths and methods too: the app's error handlers answer ``/api/`` requests in this shape).
"""
from __future__ import annotations

from datetime import UTC, datetime
from functools import wraps

from flask import Blueprint, g, jsonify, request

from .. import api_tokens
from ..attention import next_charge_at, subscription_attention
from ..billing import audit, errors, intake, lifecycle
from ..extensions import csrf, db
from ..formatting import anchor_in_zone
from ..models import Subscription

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

STATUS_FOR = {
    errors.InvalidInput: (400, "invalid_request"),
    errors.RecordNotFound: (404, "not_found"),
    errors.InvalidState: (409, "conflict"),
    errors.IamportRefused: (409, "rejected_by_iamport"),
    errors.ChargeInProgress: (409, "charge_in_progress"),
    errors.AnswerLost: (503, "outcome_unknown"),
    errors.IamportUnreachable: (503, "iamport_unavailable"),
}


def error(status: int, code: str, message: str):
    return jsonify(error={"code": code, "message": message}), status


@bp.errorhandler(errors.BillingError)
def billing_error(failure: errors.BillingError):
    for kind in type(failure).__mro__:
        if kind in STATUS_FOR:
            return error(*STATUS_FOR[kind], failure.message)
    return error(400, "invalid_request", failure.message)


def token_required(scope: str):
    """Refuse the view with 401 without a live token, and 403 when the token lacks ``scope``."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
            row = api_tokens.authenticate(token.strip()) if scheme.lower() == "bearer" else None
            if row is None:
                return error(
                    401, "unauthorized",
                    "A valid API token is required (Authorization: Bearer <token>).",
                )
            if scope not in row.scope_list:
                return error(403, "insufficient_scope", f"This token lacks the scope {scope}.")
            g.api_actor = audit.Actor(f"api:{row.name}", ip_address=request.remote_addr)
            return view(*args, **kwargs)

        wrapper.required_scope = scope
        return wrapper

    return decorator


def json_body(*, required: bool = True) -> dict:
    """Return the request's JSON object (``{}`` for an empty optional body)."""
    if not required and not request.get_data(cache=True):
        return {}
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nested deeper than the JSON parser goes
        body = None
    if not isinstance(body, dict):
        raise errors.InvalidInput("The body must be a JSON object.")
    return body


def text_field(body: dict, name: str, *, required: bool = False, limit: int = 200) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise errors.InvalidInput(f"'{name}' is required.")
        return None
    # isprintable() also refuses NUL and lone surrogates, which no column can store.
    if not isinstance(value, str) or len(value) > limit or not value.isprintable():
        raise errors.InvalidInput(
            f"'{name}' must be a string of at most {limit} printable characters."
        )
    return value


def parse_start_at(value) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
        if parsed is not None and parsed.tzinfo is not None:
            parsed.astimezone(UTC)  # refuse times that overflow in UTC
    except (ValueError, OverflowError):
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise errors.InvalidInput(
            "'start_at' must be ISO 8601 with an offset, e.g. 2026-12-01T09:00:00+09:00."
        )
    return parsed


def subscription_json(subscription: Subscription) -> dict:
    def iso(moment):
        return moment.isoformat() if moment else None

    return {
        "id": subscription.id,
        "customer_uid": subscription.customer.customer_uid,
        "plan": subscription.plan.code,
        "next_plan": subscription.next_plan.code if subscription.next_plan else None,
        "status": subscription.status,
        "current_period": subscription.current_period,
        "current_period_start": iso(subscription.current_period_start),
        "current_period_end": iso(subscription.current_period_end),
        # Local date and time every period end is counted from, with its offset.
        "billing_anchor": iso(anchor_in_zone(subscription.billing_anchor)),
        "next_charge_at": iso(next_charge_at(subscription)),
        "failed_attempts": subscription.failed_attempts,
        "cancel_at_period_end": subscription.cancel_at_period_end,
        "cancelled_at": iso(subscription.cancelled_at),
        "created_at": iso(subscription.created_at),
        # Why it needs staff attention (billing_key_missing, not_scheduled,
        # charge_outcome_unknown); [] when all is well.
        "attention": subscription_attention(subscription),
    }


@bp.post("/subscriptions")
@token_required("subscriptions:write")
def create_subscription():
    """Start a subscription on a billing key the merchant's app already issued."""
    body = json_body()
    customer = body.get("customer") or {}
    if not isinstance(customer, dict):
        raise errors.InvalidInput("'customer' must be an object with name, email and phone.")
    subscription = intake.start_subscription(
        text_field(body, "customer_uid", required=True, limit=80),
        plan_code=text_field(body, "plan", required=True, limit=40),
        start_at=parse_start_at(body.get("start_at")),
        customer_info={
            "name": text_field(customer, "name", limit=100),
            "email": text_field(customer, "email", limit=200),
            "phone": text_field(customer, "phone", limit=20),
        },
        actor=g.api_actor,
    )
    return jsonify(subscription_json(subscription)), 201


@bp.get("/subscriptions/<int:subscription_id>")
@token_required("subscriptions:read")
def get_subscription(subscription_id: int):
    """Return one subscription."""
    subscription = db.session.get(Subscription, subscription_id)
    if subscription is None:
        raise errors.RecordNotFound("No such subscription.")
    return jsonify(subscription_json(subscription))


@bp.post("/subscriptions/<int:subscription_id>/cancel")
@token_required("subscriptions:write")
def cancel_subscription(subscription_id: int):
    """Cancel now, or at the end of the paid period with ``{"at_period_end": true}``."""
    body = json_body(required=False)
    if not isinstance(body.get("at_period_end", False), bool):
        raise errors.InvalidInput("'at_period_end' must be true or false.")
    subscription = lifecycle.cancel_subscription(
        subscription_id,
        actor=g.api_actor,
        reason=text_field(body, "reason", limit=256) or "cancelled through the API",
        at_period_end=body.get("at_period_end", False),
    )
    return jsonify(subscription_json(subscription))
