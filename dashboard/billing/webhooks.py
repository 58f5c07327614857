"""iamport's notifications: store first, then verify by re-fetching, then apply (money rule 4).

The body is only a hint that something happened to ``imp_uid``: what is applied is what the
API says about that payment. Every request is committed to the inbox before anything else,
so nothing is lost even if checking or processing fails, and a failed event can be
processed again later (by iamport's resend, ``sync`` or a staff member).
"""
from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from urllib.parse import parse_qs

from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import db
from ..iamport import IamportError, NotFound
from ..models import Customer, WebhookEvent
from . import audit, errors, now, owns_transaction, provider, require_action
from .customers import refresh_billing_key
from .results import apply_payment_result

MAX_STORED_BODY = 64 * 1024
KNOWN_STATUSES = {"paid", "failed", "cancelled", "ready"}


@dataclass(frozen=True)
class WebhookAnswer:
    """What to answer the sender: HTTP status and a short message."""

    event_id: int
    status: int
    message: str


def receive_webhook(
    *, body: bytes, content_type: str | None, remote_addr: str | None, token: str | None
) -> WebhookAnswer:
    """Store one webhook request, check it, and process it; return what to answer."""
    event = WebhookEvent(
        raw_body=body[:MAX_STORED_BODY],
        content_type=printable(content_type, 200),
        remote_addr=printable(remote_addr, 64),
        received_at=now(),
        state="received",
    )
    db.session.add(event)
    db.session.commit()

    refusal = check_sender(token, remote_addr)
    if refusal:
        return finish(event, "ignored", 403, refusal)
    if len(body) > MAX_STORED_BODY:
        return finish(event, "ignored", 413, "body too large")
    fields = parse_body(body, content_type)
    problem = describe_invalid(fields)
    if problem:
        return finish(event, "ignored", 400, problem)
    event.imp_uid = fields["imp_uid"]
    event.merchant_uid = fields.get("merchant_uid") or None
    event.status = fields.get("status") or None
    event.cancellation_id = fields.get("cancellation_id") or None
    db.session.commit()
    return process_event(event.id)


def check_sender(token: str | None, remote_addr: str | None) -> str | None:
    """Return why the sender is refused, or None when the configured checks pass."""
    expected = current_app.config.get("IAMPORT_WEBHOOK_TOKEN") or ""
    if expected and not hmac.compare_digest((token or "").encode(), expected.encode()):
        return "wrong or missing token"
    allowed = current_app.config.get("IAMPORT_WEBHOOK_ALLOWED_IPS") or []
    if allowed and remote_addr not in allowed:
        return f"sender address {remote_addr} is not allowed"
    return None


def parse_body(body: bytes, content_type: str | None) -> dict | None:
    """Return the body's fields as strings, from JSON or form encoding; None if unreadable."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "json" in (content_type or "") or text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than we parse
            return None
        if not isinstance(data, dict):
            return None
        return {str(k): v for k, v in data.items() if isinstance(v, str)}
    return {key: values[-1] for key, values in parse_qs(text).items()}


# The fields a webhook may carry and the longest value each column holds.
FIELD_LIMITS = {"imp_uid": 32, "merchant_uid": 40, "cancellation_id": 64}


def describe_invalid(fields: dict | None) -> str | None:
    """Return what is wrong with a webhook's fields, or None when they are usable."""
    if fields is None:
        return "body is not JSON or form data"
    if not fields.get("imp_uid"):
        return "imp_uid is missing"
    for name, limit in FIELD_LIMITS.items():
        value = fields.get(name)
        # isprintable() refuses NUL, control characters and lone surrogates, none of which
        # an id can hold and some of which a database refuses to store.
        if value and (len(value) > limit or not value.isprintable()):
            return f"{name} is invalid"
    status = fields.get("status")
    if status and status not in KNOWN_STATUSES:
        return "unknown status"
    return None


def printable(value: str | None, limit: int) -> str:
    """Return a header value fit to store: printable characters only, at most ``limit``."""
    return "".join(ch for ch in (value or "") if ch.isprintable())[:limit]


def finish(event: WebhookEvent, state: str, status: int, message: str) -> WebhookAnswer:
    event.state = state
    event.error = None if state == "processed" else message
    event.processed_at = now() if state in ("processed", "ignored") else None
    db.session.commit()
    return WebhookAnswer(event.id, status, message)


def process_event(event_id: int) -> WebhookAnswer:
    """Verify one stored event against the API and apply the payment it points at."""
    event = db.session.get(WebhookEvent, event_id)
    event.attempts += 1
    db.session.commit()
    try:
        result = provider().get_payment(event.imp_uid)
    except NotFound:
        return finish(event, "ignored", 200, "iamport has no such payment")
    except IamportError as error:
        # iamport resends on a 5xx; sync processes failed events too.
        return finish(event, "failed", 503, f"iamport unavailable: {error}")
    if event.merchant_uid and event.merchant_uid != result.merchant_uid:
        return finish(event, "ignored", 200, "merchant_uid does not match the payment")
    try:
        payment = apply_payment_result(result, source="webhook")
        sync_new_customer(payment.customer_id)
    except (IamportError, errors.BillingError, SQLAlchemyError) as error:
        # Stored and marked failed: iamport's resend or sync applies it later.
        db.session.rollback()
        event = db.session.get(WebhookEvent, event_id)
        return finish(event, "failed", 503, f"could not apply: {type(error).__name__}")
    return finish(event, "processed", 200, "ok")


def sync_new_customer(customer_id: int | None) -> None:
    """Fetch the billing key of a customer first met through a webhook."""
    customer = db.session.get(Customer, customer_id) if customer_id else None
    if customer is None or customer.billing_key_synced_at is not None:
        return
    try:
        refresh_billing_key(customer)
    except IamportError:
        db.session.rollback()
        return
    db.session.commit()


@owns_transaction
def reprocess_event(event_id: int, *, actor: audit.Actor) -> WebhookAnswer:
    """Process a stored event again (after an outage), recording who asked."""
    event = db.session.get(WebhookEvent, event_id)
    if event is None:
        raise errors.RecordNotFound("No such webhook event.")
    require_action(event, "reprocess")
    answer = process_event(event_id)
    audit.record(
        "webhook.reprocess",
        "webhook_event",
        event_id,
        actor=actor,
        details={"imp_uid": event.imp_uid, "result": answer.message},
        outcome="ok" if answer.status == 200 else "failed",
    )
    db.session.commit()
    return answer


def process_failed_events(limit: int = 500) -> tuple[int, int]:
    """Process failed events again; return (processed, still failing)."""
    ids = db.session.scalars(
        db.select(WebhookEvent.id)
        .where(WebhookEvent.state.in_(("failed", "received")), WebhookEvent.imp_uid.is_not(None))
        .order_by(WebhookEvent.id)
        .limit(limit)
    ).all()
    done = failing = 0
    for event_id in ids:
        answer = process_event(event_id)
        if answer.status == 200:
            done += 1
        else:
            failing += 1
    return done, failing
