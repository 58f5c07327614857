"""iamport's notifications: check the sender, store, queue, answer; then verify and apply.

The request only stores: a sender that passes the checks gets its body committed to the inbox
together with a queue job, and is answered at once. The queue (``tasks``) processes the event
later: the body is only a hint that something happened to ``imp_uid``, so processing re-fetches
the payment from the API and applies what the API says (money rule 4). A failed event is
retried by the queue, then by ``sync`` or a staff member.
"""
from __future__ import annotations

import hmac
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qs

from flask import current_app
from sqlalchemy import Text, bindparam, cast, func, literal, or_
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import db
from ..iamport import IamportError, NotFound
from ..models import Customer, Payment, Schedule, Subscription, WebhookEvent, WebhookRefusal
from . import audit, errors, now, owns_transaction, provider, require_action
from .customers import refresh_billing_key
from .results import apply_payment_result

logger = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
KNOWN_STATUSES = {"paid", "failed", "cancelled", "ready"}
# Failed events are tried again after 15 s, 45 s, 105 s ... up to this many attempts.
MAX_ATTEMPTS = 6
RETRY_BASE_SECONDS = 15

# What a sender is told: nothing about which check refused it or what iamport said.
OK, REFUSED = "ok", "refused"


@dataclass(frozen=True)
class WebhookAnswer:
    """What became of one event: HTTP status and a short message (for staff and logs)."""

    event_id: int | None
    status: int
    message: str


def sender_refusal(token: str | None, remote_addr: str | None) -> str | None:
    """Return the reason code a sender is refused for (``token``, ``address``), or None."""
    expected = current_app.config.get("IAMPORT_WEBHOOK_TOKEN") or ""
    if expected and not hmac.compare_digest((token or "").encode(), expected.encode()):
        return "token"
    allowed = current_app.config.get("IAMPORT_WEBHOOK_ALLOWED_IPS") or []
    if allowed and remote_addr not in allowed:
        return "address"
    return None


def record_refusal(reason: str, remote_addr: str | None) -> None:
    """Count one refused request (never its body) and log it."""
    logger.warning("webhook refused (%s) from %s", reason, printable(remote_addr, 64))
    table = WebhookRefusal.__table__
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stamp = now()
    statement = insert(table).values(reason=reason, refusals=1, last_refused_at=stamp)
    db.session.execute(statement.on_conflict_do_update(
        index_elements=[table.c.reason],
        set_={"refusals": table.c.refusals + 1, "last_refused_at": stamp},
    ))
    db.session.commit()


def receive_webhook(
    *, body: bytes, content_type: str | None, remote_addr: str | None
) -> WebhookAnswer:
    """Store one webhook from an accepted sender and hand it to the queue; return the answer.

    No call to iamport happens here: the queue processes the event.
    """
    values = {
        "raw_body": body[:MAX_BODY],
        "content_type": printable(content_type, 200),
        "remote_addr": printable(remote_addr, 64),
        "received_at": now(),
        "state": "received",
    }
    fields = parse_body(body, content_type)
    problem = describe_invalid(fields)
    if problem:
        event = WebhookEvent(**values)
        db.session.add(event)
        return finish(event, "ignored", 400, problem)
    values.update(
        imp_uid=fields["imp_uid"],
        merchant_uid=fields.get("merchant_uid") or None,
        status=fields.get("status") or None,
        cancellation_id=fields.get("cancellation_id") or None,
    )
    queue = current_app.extensions["webhook_queue"]
    try:
        # On PostgreSQL one statement stores the event and writes its job: event and job
        # commit together, in as many round trips as a bare insert.
        event_id = queue.store(values)
        db.session.commit()
    except Exception:  # the queue's database call failed: keep the event, the sweep queues it
        logger.exception("webhook event could not be queued; the sweep will process it")
        db.session.rollback()
        event = WebhookEvent(**values)
        db.session.add(event)
        db.session.commit()
        return WebhookAnswer(event.id, 200, OK)
    queue.notify()
    return WebhookAnswer(event_id, 200, OK)


def store_event(values: dict) -> int:
    """Store one event (nothing else); return its id."""
    return db.session.execute(
        db.insert(WebhookEvent).values(values).returning(WebhookEvent.id)).scalar_one()


def customer_of(imp_uid, merchant_uid):
    """Return SQL for the id of the customer a payment belongs to, when we know it already.

    The uids are bound parameters (``bindparam``), so the statement is the same for every
    event; a missing ``merchant_uid`` is NULL and matches nothing.
    """
    known_payment = (
        db.select(Payment.customer_id)
        .where(or_(Payment.imp_uid == imp_uid, Payment.merchant_uid == merchant_uid),
               Payment.customer_id.is_not(None)).limit(1).scalar_subquery()
    )
    scheduled = (
        db.select(Subscription.customer_id)
        .join(Schedule, Schedule.subscription_id == Subscription.id)
        .where(Schedule.merchant_uid == merchant_uid).limit(1).scalar_subquery()
    )
    return func.coalesce(known_payment, scheduled)


def lock_key(imp_uid, merchant_uid):
    """Return SQL for the key that serialises processing: the customer when we know it
    already (``customer-<id>``), else the payment itself (``payment-<imp_uid>``).

    Events for one customer are applied one at a time (the row locks make any order safe;
    this spares them the waiting). The uids are bound parameters, as for ``customer_of``.
    """
    return func.coalesce(literal("customer-") + cast(customer_of(imp_uid, merchant_uid), Text),
                         literal("payment-") + imp_uid)


def serialisation_key(imp_uid: str, merchant_uid: str | None) -> str:
    """Return the lock key of a stored event (see ``lock_key``)."""
    return db.session.scalar(db.select(lock_key(
        bindparam("imp_uid", imp_uid), bindparam("merchant_uid", merchant_uid))))


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
    """Verify one stored event against the API and apply the payment it points at.

    Safe to run twice, or in two workers at once: the payment is applied once (money rule 4).
    """
    event = db.session.get(WebhookEvent, event_id)
    if event is None or event.imp_uid is None:
        return WebhookAnswer(event_id, 200, "nothing to process")
    event.attempts += 1
    db.session.commit()
    try:
        result = provider().get_payment(event.imp_uid)
    except NotFound:
        return finish(event, "ignored", 200, "iamport has no such payment")
    except IamportError as error:
        return finish(event, "failed", 503, f"iamport unavailable: {error}")
    if event.merchant_uid and event.merchant_uid != result.merchant_uid:
        return finish(event, "ignored", 200, "merchant_uid does not match the payment")
    try:
        payment = apply_payment_result(result, source="webhook")
        sync_new_customer(payment.customer_id)
    except (IamportError, errors.BillingError, SQLAlchemyError) as error:
        # Stored and marked failed: the queue's retry, sync or staff apply it later.
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


def retry_due(event: WebhookEvent, at) -> bool:
    """Whether a failed event's next try has come (back-off from its arrival)."""
    if event.attempts >= MAX_ATTEMPTS:
        return False
    wait = RETRY_BASE_SECONDS * (2 ** event.attempts - 1)
    return event.received_at + timedelta(seconds=wait) <= at


def waiting_event_ids(
    *, received_before=None, include_failed: bool = True, limit: int = 500
) -> list[int]:
    """Return ids of events waiting to be processed, oldest first.

    Waiting: stored but not processed yet, or failed with a retry due. ``received_before``
    keeps only events older than that (the sweep leaves fresh ones to their jobs).
    """
    received = db.select(WebhookEvent.id).where(
        WebhookEvent.state == "received", WebhookEvent.imp_uid.is_not(None),
        WebhookEvent.attempts < MAX_ATTEMPTS,
    )
    if received_before is not None:
        received = received.where(WebhookEvent.received_at < received_before)
    ids = list(db.session.scalars(received.order_by(WebhookEvent.id).limit(limit)))
    if not include_failed:
        db.session.commit()
        return ids
    at = now()
    failed = db.session.scalars(
        db.select(WebhookEvent).where(
            WebhookEvent.state == "failed", WebhookEvent.imp_uid.is_not(None),
            WebhookEvent.attempts < MAX_ATTEMPTS,
        ).order_by(WebhookEvent.id).limit(limit)
    )
    ids += [event.id for event in failed if retry_due(event, at)]
    db.session.commit()  # end the read: processing opens its own transactions
    return sorted(ids)[:limit]


def process_waiting_events(limit: int = 500) -> int:
    """Process waiting events in the order they arrived; return how many were tried.

    The in-process queue of a SQLite deployment, and what tests run to empty the queue.
    """
    ids = waiting_event_ids(limit=limit)
    for event_id in ids:
        process_event(event_id)
    return len(ids)
