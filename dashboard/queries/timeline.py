"""A customer's timeline: charges, refunds, schedule changes, webhooks, staff actions and
notes, newest first, a page at a time.

The events come from six tables and some rows make several (a payment is requested, then paid
or declined). One statement reads them: a branch per kind of event, each reading the
customer's rows of that kind after the cursor by the customer's index, the branches united,
ordered and cut at a page. So a page is exactly the next events in time order, however the
kinds are mixed, and an old event is as reachable as a new one; what a page reads grows with
the customer's own history, never with the tables.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    and_,
    bindparam,
    cast,
    func,
    literal_column,
    null,
    or_,
    select,
    true,
    union,
    union_all,
)

from .. import formatting
from ..extensions import db
from ..messages import webhook_error
from ..models import (
    AuditEntry,
    CustomerNote,
    Payment,
    Refund,
    Schedule,
    UTCDateTime,
    WebhookEvent,
)
from .lists import charge_of_schedule
from .paging import BadCursor, decode_cursor, encode_cursor

TIMELINE_PAGE = 50

# The kinds of event, in the order events of the same moment are listed.
EVENTS = ("requested", "paid", "failed", "refund", "scheduled", "executed", "revoked",
          "webhook", "audit", "note")
RANK = {event: rank for rank, event in enumerate(EVENTS)}
EVENT_RANKS = {str(rank) for rank in RANK.values()}


@dataclass(slots=True)
class TimelineItem:
    """One thing that happened to a customer, as the timeline prints it."""

    at: datetime
    kind: str  # payment, refund, schedule, webhook, audit, note
    title: str
    detail: str = ""
    status: str | None = None
    amount: int | None = None
    link: str | None = None
    actor: str | None = None
    # Which label set names ``status`` (see ``formatting.LABELS``).
    status_kind: str = "payment"


@dataclass
class TimelinePage:
    items: list[TimelineItem]
    next_after: str | None  # the cursor of the older events, None on the last page


# Every branch selects the same columns; what each holds depends on the event (see
# ``timeline_item``). A column a branch leaves empty is a typed NULL: PostgreSQL cannot unite
# an untyped NULL with an integer.
def _text(value=None):
    return cast(null(), String) if value is None else value


def _number(value=None):
    return cast(null(), Integer) if value is None else value


def _branch(with_cursor: bool, event: str, at, row_id, condition, *, payment_id=None,
            amount=None, status=None, code=None, text=None, other=None, number=None,
            number2=None, moment=None, join=None):
    """Return the customer's events of one kind (after the cursor ``with_cursor``)."""
    rank = literal_column(str(RANK[event]), Integer)
    query = select(
        at.label("at"), rank.label("rank"), row_id.label("row_id"),
        _number(payment_id).label("payment_id"), _number(amount).label("amount"),
        _text(status).label("status"), _text(code).label("code"), _text(text).label("text"),
        _text(other).label("other"), _number(number).label("number"),
        _number(number2).label("number2"),
        (cast(null(), UTCDateTime) if moment is None else moment).label("moment"),
    )
    if join is not None:
        query = query.select_from(join)
    query = query.where(condition, at.is_not(None))
    if with_cursor:
        # After (at, rank, id) in the timeline's order: earlier, or at the same moment a later
        # kind, or the same kind and a lower id.
        after_time = bindparam("after_time", type_=UTCDateTime)
        after_rank = bindparam("after_rank", type_=Integer)
        after_id = bindparam("after_id", type_=BigInteger)  # a forged id may pass 32 bits
        query = query.where(or_(
            at < after_time,
            and_(at == after_time,
                 or_(rank > after_rank, and_(rank == after_rank, row_id < after_id)))))
    return query


def _statement(with_cursor: bool):
    """Build the timeline's statement: parameters ``customer_id`` and ``limit``, and the
    cursor's ``after_time``, ``after_rank`` and ``after_id``."""
    customer = bindparam("customer_id")
    own_payment = Payment.customer_id == customer
    own_schedule = Schedule.customer_id == customer
    refund_time = func.coalesce(Refund.cancelled_at, Refund.created_at, type_=UTCDateTime)
    # A customer's webhooks are those naming one of their payments or schedules: a lookup per
    # uid index, united (a webhook naming two of them is one row). Joined to the payments and
    # filtered by webhook id, PostgreSQL took longer to plan the statement.
    webhook_columns = (WebhookEvent.id, WebhookEvent.received_at, WebhookEvent.state,
                       WebhookEvent.status, WebhookEvent.error, WebhookEvent.imp_uid,
                       WebhookEvent.merchant_uid)
    webhooks = union(
        select(*webhook_columns)
        .where(WebhookEvent.imp_uid.in_(select(Payment.imp_uid).where(own_payment))),
        select(*webhook_columns)
        .where(WebhookEvent.merchant_uid.in_(union_all(
            select(Payment.merchant_uid).where(own_payment),
            select(Schedule.merchant_uid).where(own_schedule)))),
    ).subquery("webhooks")
    branch = partial(_branch, with_cursor)
    branches = [
        branch("requested", Payment.created_at, Payment.id, own_payment, payment_id=Payment.id,
               amount=Payment.amount, code=Payment.origin, text=Payment.merchant_uid,
               number=Payment.attempt),
        branch("paid", Payment.paid_at, Payment.id, own_payment, payment_id=Payment.id,
               amount=Payment.amount, text=Payment.imp_uid),
        branch("failed", Payment.failed_at, Payment.id, own_payment, payment_id=Payment.id,
               amount=Payment.amount, text=Payment.fail_reason),
        branch("refund", refund_time, Refund.id, own_payment,
               join=Refund.__table__.join(Payment.__table__, Refund.payment_id == Payment.id),
               payment_id=Refund.payment_id, amount=Refund.amount, status=Refund.status,
               text=Refund.reason, number=Payment.amount),
        branch("scheduled", Schedule.created_at, Schedule.id, own_schedule,
               amount=Schedule.amount, text=Schedule.merchant_uid, moment=Schedule.schedule_at),
        branch("executed", Schedule.executed_at, Schedule.id, own_schedule,
               amount=Schedule.amount, status=Schedule.payment_status,
               text=Schedule.fail_reason, other=Schedule.merchant_uid,
               number=charge_of_schedule(Payment.amount),
               number2=charge_of_schedule(Payment.cancel_amount)),
        branch("revoked", Schedule.revoked_at, Schedule.id, own_schedule,
               amount=Schedule.amount, text=Schedule.merchant_uid),
        branch("webhook", webhooks.c.received_at, webhooks.c.id, true(),
               status=webhooks.c.state, code=webhooks.c.status, text=webhooks.c.error,
               other=func.coalesce(func.nullif(webhooks.c.imp_uid, ""),
                                   webhooks.c.merchant_uid)),
        branch("audit", AuditEntry.created_at, AuditEntry.id,
               AuditEntry.customer_id == customer, status=AuditEntry.outcome,
               code=AuditEntry.action, text=AuditEntry.reason, other=AuditEntry.actor_label),
        branch("note", CustomerNote.created_at, CustomerNote.id,
               CustomerNote.customer_id == customer, text=CustomerNote.body,
               other=CustomerNote.author_label),
    ]
    events = union_all(*branches).subquery("events")
    return (select(events)
            .order_by(events.c.at.desc(), events.c.rank.asc(), events.c.row_id.desc())
            .limit(bindparam("limit", type_=Integer)))


TIMELINE = {with_cursor: _statement(with_cursor) for with_cursor in (False, True)}


def encode_timeline_cursor(at: datetime, rank: int, row_id: int) -> str:
    """Return the ``after`` value that continues a timeline after the event (at, rank, id):
    a list's cursor (``encode_cursor``) and the event's kind."""
    return f"{encode_cursor(at, row_id)}.{rank}"


def decode_timeline_cursor(after: str) -> tuple[datetime, int, int]:
    """Read an ``after`` value back into (aware UTC time, kind, id); ``BadCursor`` when it is
    not one ``encode_timeline_cursor`` could have written."""
    cursor, _, rank = (after or "").rpartition(".")
    if rank not in EVENT_RANKS:
        raise BadCursor(after)
    moment, row_id = decode_cursor(cursor)
    return moment, int(rank), row_id


def customer_timeline(customer_id: int, payment_url: Callable[[int], str], *,
                      after: str | None = None, limit: int = TIMELINE_PAGE) -> TimelinePage:
    """Return the customer's ``limit`` events after the cursor (the newest without one),
    newest first; charges and refunds link to ``payment_url(payment id)``."""
    try:
        cursor = decode_timeline_cursor(after) if after else None
    except BadCursor:  # a cursor this console did not issue reads the first page
        cursor = None
    parameters = {"customer_id": customer_id, "limit": limit + 1}
    if cursor is not None:
        parameters.update(zip(("after_time", "after_rank", "after_id"), cursor, strict=True))
    rows = db.session.connection().execute(TIMELINE[cursor is not None], parameters).all()
    next_after = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_after = encode_timeline_cursor(rows[-1].at, rows[-1].rank, rows[-1].row_id)
    return TimelinePage([timeline_item(row, payment_url) for row in rows], next_after)


def timeline_item(row, payment_url: Callable[[int], str]) -> TimelineItem:
    """Return one row of the timeline's statement as the item the page prints."""
    _ = formatting.page_gettext  # a timeline holds a hundred texts: one catalogue per page
    event = EVENTS[row.rank]
    link = payment_url(row.payment_id) if row.payment_id is not None else None
    if event == "requested":
        return TimelineItem(
            at=row.at, kind="payment", amount=row.amount, link=link, detail=row.text,
            title=_("Charge requested (%(origin)s, attempt %(attempt)s)",
                    origin=formatting.label("origin", row.code), attempt=row.number))
    if event == "paid":
        return TimelineItem(at=row.at, kind="payment", status="paid", amount=row.amount,
                            title=_("Charge paid"), detail=row.text or "", link=link)
    if event == "failed":
        return TimelineItem(at=row.at, kind="payment", status="failed", amount=row.amount,
                            title=_("Charge failed"), detail=row.text or "", link=link)
    if event == "refund":
        in_part = row.status == "succeeded" and row.amount < row.number
        return TimelineItem(at=row.at, kind="refund", amount=row.amount, link=link,
                            status="partially_refunded" if in_part else row.status,
                            status_kind="refund", title=_("Refund"), detail=row.text or "")
    if event == "scheduled":
        return TimelineItem(at=row.at, kind="schedule", amount=row.amount, detail=row.text,
                            title=_("Charge scheduled for %(time)s",
                                    time=formatting.local_time(row.moment)))
    if event == "executed":
        status = row.status if row.number is None else formatting.refund_aware_status(
            row.status, row.number, row.number2)
        return TimelineItem(at=row.at, kind="schedule", status=status,
                            status_kind="schedule_payment", amount=row.amount,
                            title=_("Scheduled charge executed"),
                            detail=row.text or row.other)
    if event == "revoked":
        return TimelineItem(at=row.at, kind="schedule", amount=row.amount,
                            title=_("Schedule revoked"), detail=row.text)
    if event == "webhook":
        return TimelineItem(
            at=row.at, kind="webhook", status=row.status, status_kind="webhook",
            title=_("Webhook: %(status)s",
                    status=formatting.label("webhook_status", row.code) or "?"),
            detail=webhook_error(row.text) or row.other or "")
    if event == "audit":
        return TimelineItem(at=row.at, kind="audit", status=row.status, status_kind="outcome",
                            title=formatting.label("action", row.code), detail=row.text or "",
                            actor=row.other)
    return TimelineItem(at=row.at, kind="note", title=_("Note"), detail=row.text,
                        actor=row.other)
