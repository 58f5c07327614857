"""The read side: list pages with filters and keyset paging, detail pages, the overview.

Rules that keep pages fast at millions of rows:
- lists page by key (``created_at, id`` or the list's own time column), never by OFFSET, and
  never count a large table;
- ``customer_uid``, ``merchant_uid`` and ``imp_uid`` are exact, indexed matches; name, email
  and phone are prefix matches written as ranges so their indexes apply (exact for byte-order
  collations: SQLite's default, PostgreSQL's C / C.UTF-8), and never touch ``payment``;
- related rows load in one extra query per relation (``selectinload``), never row by row.
"""
from __future__ import annotations

import calendar
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Generic, TypeVar

from flask import current_app
from sqlalchemy import and_, case, exists, func, or_, select, tuple_
from sqlalchemy.orm import joinedload, selectinload

from . import formatting
from .billing import now as billing_now
from .extensions import db
from .models import (
    AuditEntry,
    Customer,
    Payment,
    Plan,
    Refund,
    Schedule,
    Subscription,
    WebhookEvent,
    credit_balance,
)

T = TypeVar("T")

PAGE_SIZE = 50
EXPORT_BATCH = 500
TIMELINE_LIMIT = 200


# --- keyset paging -----------------------------------------------------------------------


@dataclass
class Page(Generic[T]):
    """One page of a list and the cursor of the next page (``None`` on the last page)."""

    rows: list[T]
    next_after: str | None


class BadCursor(ValueError):
    """The ``after`` value is not a cursor this console issued."""


def encode_cursor(moment: datetime, row_id: int) -> str:
    """Return the ``after`` value that continues a list after the row (``moment``, ``row_id``)."""
    moment = moment.astimezone(UTC)
    return f"{moment.strftime('%Y%m%dT%H%M%S%f')}.{row_id}"


def decode_cursor(after: str) -> tuple[datetime, int]:
    """Read an ``after`` value back into (aware UTC time, id)."""
    match = re.fullmatch(r"(\d{8}T\d{12})\.(\d+)", after or "")
    if not match:
        raise BadCursor(after)
    moment = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)
    return moment, int(match.group(2))


def keyset_page(query, time_column, id_column, *, after: str | None, descending: bool = True,
                limit: int = PAGE_SIZE, time_of=None) -> Page:
    """Run ``query`` for one page after the cursor, ordered by (time, id)."""
    if after:
        try:
            moment, row_id = decode_cursor(after)
        except BadCursor:
            moment = None
        if moment is not None:
            key = tuple_(time_column, id_column)
            bound = tuple_(_bind_time(time_column, moment), row_id)
            query = query.where(key < bound if descending else key > bound)
    if descending:
        query = query.order_by(time_column.desc(), id_column.desc())
    else:
        query = query.order_by(time_column.asc(), id_column.asc())
    rows = list(db.session.scalars(query.limit(limit + 1)).unique())
    next_after = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        moment = time_of(last) if time_of else getattr(last, time_column.key)
        next_after = encode_cursor(moment, last.id)
    return Page(rows, next_after)


def _bind_time(column, moment: datetime):
    from sqlalchemy import literal

    return literal(moment, type_=column.type)


def iterate_all(query, time_column, id_column, *, descending: bool = True,
                batch: int = EXPORT_BATCH) -> Iterator:
    """Yield every row of ``query`` page by page (exports: no cap, bounded memory)."""
    after = None
    while True:
        page = keyset_page(query, time_column, id_column, after=after,
                           descending=descending, limit=batch)
        yield from page.rows
        db.session.expunge_all()
        if page.next_after is None:
            return
        after = page.next_after


# --- search helpers ----------------------------------------------------------------------


def prefix_range(column, prefix: str):
    """Match values starting with ``prefix`` as a range the column's index can serve."""
    upper = prefix[:-1] + chr(min(ord(prefix[-1]) + 1, 0x10FFFF))  # U+10FFFF: no 500
    return and_(column >= prefix, column < upper)


def digits_of(text: str) -> str:
    """Return the digits of a phone number as typed (``010-1234-5678`` → ``01012345678``)."""
    return re.sub(r"\D", "", text)


def looks_like_phone(text: str) -> bool:
    return bool(re.fullmatch(r"[\d\s\-+().]+", text)) and len(digits_of(text)) >= 3


def exact_customer_ids(q: str) -> set[int]:
    """Return customers whose customer_uid, or a payment's merchant_uid / imp_uid, is ``q``."""
    ids: set[int] = set()
    lookups = [
        select(Customer.id).where(Customer.customer_uid == q),
        select(Payment.customer_id).where(Payment.merchant_uid == q),
        select(Payment.customer_id).where(Payment.imp_uid == q),
        select(Schedule.customer_id).where(Schedule.merchant_uid == q),
    ]
    for lookup in lookups:
        ids.update(value for value in db.session.scalars(lookup) if value is not None)
    return ids


def customer_search_condition(q: str):
    """Return the WHERE condition for the customer search box."""
    conditions = []
    exact_ids = exact_customer_ids(q)
    if exact_ids:
        conditions.append(Customer.id.in_(exact_ids))
    conditions.append(prefix_range(Customer.name, q))
    conditions.append(prefix_range(Customer.email, q.lower()))  # emails are stored lowercased
    if looks_like_phone(q):
        conditions.append(prefix_range(Customer.phone, digits_of(q)))
    return or_(*conditions)


def customer_id_for(reference: str) -> int | None:
    """Resolve a customer filter value: an exact customer_uid, or ``#id``."""
    reference = (reference or "").strip()
    if not reference:
        return None
    if reference.startswith("#") and reference[1:].isdigit():
        return int(reference[1:])
    found = db.session.scalar(select(Customer.id).where(Customer.customer_uid == reference))
    return found if found is not None else -1


# --- customers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerFilters:
    q: str = ""
    status: str = ""
    plan_id: int | None = None


def customers_query(filters: CustomerFilters):
    """Return the SELECT for the customer list with the filters applied."""
    query = select(Customer).options(
        selectinload(Customer.subscriptions).selectinload(Subscription.plan)
    )
    if filters.q:
        query = query.where(customer_search_condition(filters.q))
    if filters.status or filters.plan_id:
        subscription = select(Subscription.id).where(Subscription.customer_id == Customer.id)
        if filters.status:
            subscription = subscription.where(Subscription.status == filters.status)
        if filters.plan_id:
            subscription = subscription.where(Subscription.plan_id == filters.plan_id)
        query = query.where(exists(subscription))
    return query


def customers_page(filters: CustomerFilters, after: str | None = None,
                   limit: int = PAGE_SIZE) -> Page[Customer]:
    """Return one page of customers, newest first."""
    return keyset_page(customers_query(filters), Customer.created_at, Customer.id,
                       after=after, limit=limit)


def iterate_customers(filters: CustomerFilters) -> Iterator[Customer]:
    """Yield every customer matching the filters (for CSV export)."""
    return iterate_all(customers_query(filters), Customer.created_at, Customer.id)


@dataclass
class TimelineItem:
    """One thing that happened to a customer, for the merged timeline."""

    at: datetime
    kind: str  # payment, refund, schedule, webhook, audit
    title: str
    detail: str = ""
    status: str | None = None
    amount: int | None = None
    link: str | None = None
    actor: str | None = None
    # Which label set names ``status`` (see ``formatting.LABELS``).
    status_kind: str = "payment"


@dataclass
class CustomerDetail:
    customer: Customer
    subscriptions: list[Subscription]
    credit_balance: int
    upcoming_schedules: list[Schedule]
    recent_schedules: list[Schedule]
    payments: list[Payment]
    audit_entries: list[AuditEntry]
    webhook_events: list[WebhookEvent]
    plans: list[Plan] = field(default_factory=list)


def customer_or_none(customer_id: int) -> Customer | None:
    return db.session.get(Customer, customer_id)


def customer_subscriptions(customer_id: int) -> list[Subscription]:
    """Return a customer's subscriptions with their plans, newest first."""
    return list(db.session.scalars(
        select(Subscription)
        .options(joinedload(Subscription.plan), joinedload(Subscription.next_plan))
        .where(Subscription.customer_id == customer_id)
        .order_by(Subscription.created_at.desc(), Subscription.id.desc())
    ))


def upcoming_schedules(customer_id: int, limit: int = 20) -> list[Schedule]:
    """Return a customer's waiting schedules, soonest first."""
    return list(db.session.scalars(
        select(Schedule)
        .where(Schedule.customer_id == customer_id, Schedule.schedule_status == "scheduled")
        .order_by(Schedule.schedule_at.asc(), Schedule.id.asc())
        .limit(limit)
    ))


def customer_detail(customer_id: int) -> CustomerDetail | None:
    """Return everything the customer page shows, in a fixed number of queries."""
    customer = db.session.get(Customer, customer_id)
    if customer is None:
        return None
    subscriptions = customer_subscriptions(customer_id)
    payments = list(db.session.scalars(
        select(Payment)
        .options(selectinload(Payment.refunds))
        .where(Payment.customer_id == customer_id)
        .order_by(Payment.created_at.desc(), Payment.id.desc())
        .limit(100)
    ))
    upcoming = upcoming_schedules(customer_id)
    recent_schedules = list(db.session.scalars(
        select(Schedule)
        .where(Schedule.customer_id == customer_id)
        .order_by(Schedule.schedule_at.desc(), Schedule.id.desc())
        .limit(100)
    ))
    audit_entries = list(db.session.scalars(
        select(AuditEntry)
        .where(AuditEntry.customer_id == customer_id)
        .order_by(AuditEntry.id.desc())
        .limit(100)
    ))
    imp_uids = {p.imp_uid for p in payments if p.imp_uid}
    merchant_uids = {p.merchant_uid for p in payments} | {s.merchant_uid for s in recent_schedules}
    webhook_events: list[WebhookEvent] = []
    if imp_uids or merchant_uids:
        webhook_events = list(db.session.scalars(
            select(WebhookEvent)
            .where(or_(WebhookEvent.imp_uid.in_(imp_uids),
                       WebhookEvent.merchant_uid.in_(merchant_uids)))
            .order_by(WebhookEvent.received_at.desc(), WebhookEvent.id.desc())
            .limit(100)
        ))
    return CustomerDetail(
        customer=customer,
        subscriptions=subscriptions,
        credit_balance=credit_balance(customer_id),
        upcoming_schedules=upcoming,
        recent_schedules=recent_schedules,
        payments=payments,
        audit_entries=audit_entries,
        webhook_events=webhook_events,
        plans=active_plans(),
    )


def customer_timeline(detail: CustomerDetail) -> list[TimelineItem]:
    """Merge charges, refunds, schedule changes, webhooks and staff actions, newest first."""
    from flask import url_for
    from flask_babel import gettext as _

    items: list[TimelineItem] = []
    for payment in detail.payments:
        link = url_for("payments.detail", payment_id=payment.id)
        origin = formatting.label("origin", payment.origin)
        items.append(TimelineItem(
            at=payment.created_at, kind="payment", status=None, amount=payment.amount,
            title=_("Charge requested (%(origin)s, attempt %(attempt)s)", origin=origin,
                    attempt=payment.attempt),
            detail=payment.merchant_uid, link=link,
        ))
        if payment.paid_at:
            items.append(TimelineItem(at=payment.paid_at, kind="payment", status="paid",
                                      amount=payment.amount, title=_("Charge paid"),
                                      detail=payment.imp_uid or "", link=link))
        if payment.failed_at:
            items.append(TimelineItem(at=payment.failed_at, kind="payment", status="failed",
                                      amount=payment.amount, title=_("Charge failed"),
                                      detail=payment.fail_reason or "", link=link))
        for refund in payment.refunds:
            items.append(TimelineItem(
                at=refund.cancelled_at or refund.created_at, kind="refund",
                status=refund.status, status_kind="refund", amount=refund.amount,
                title=_("Refund"), detail=refund.reason or "", link=link,
            ))
    for schedule in detail.recent_schedules:
        items.append(TimelineItem(
            at=schedule.created_at, kind="schedule", status=None, amount=schedule.amount,
            title=_("Charge scheduled for %(time)s",
                    time=formatting.local_time(schedule.schedule_at)),
            detail=schedule.merchant_uid,
        ))
        if schedule.executed_at:
            items.append(TimelineItem(
                at=schedule.executed_at, kind="schedule", status=schedule.payment_status,
                status_kind="schedule_payment", amount=schedule.amount,
                title=_("Scheduled charge executed"),
                detail=schedule.fail_reason or schedule.merchant_uid,
            ))
        if schedule.revoked_at:
            items.append(TimelineItem(at=schedule.revoked_at, kind="schedule", status=None,
                                      amount=schedule.amount, title=_("Schedule revoked"),
                                      detail=schedule.merchant_uid))
    for event in detail.webhook_events:
        items.append(TimelineItem(
            at=event.received_at, kind="webhook", status=event.state, status_kind="webhook",
            title=_("Webhook: %(status)s", status=event.status or "?"),
            detail=event.error or (event.imp_uid or event.merchant_uid or ""),
        ))
    for entry in detail.audit_entries:
        items.append(TimelineItem(
            at=entry.created_at, kind="audit", status=entry.outcome, status_kind="outcome",
            title=formatting.label("action", entry.action), detail=entry.reason or "",
            actor=entry.actor_label,
        ))
    items.sort(key=lambda item: item.at, reverse=True)
    return items[:TIMELINE_LIMIT]


def active_plans() -> list[Plan]:
    """Return the plans staff can choose from, by name."""
    return list(db.session.scalars(select(Plan).where(Plan.active.is_(True)).order_by(Plan.name)))


def all_plans() -> list[Plan]:
    """Return every plan, for filters."""
    return list(db.session.scalars(select(Plan).order_by(Plan.name)))


# --- subscriptions -----------------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionFilters:
    status: str = ""
    plan_id: int | None = None
    customer_id: int | None = None


def subscriptions_query(filters: SubscriptionFilters):
    query = select(Subscription).options(
        joinedload(Subscription.customer), joinedload(Subscription.plan)
    )
    if filters.status:
        query = query.where(Subscription.status == filters.status)
    if filters.plan_id:
        query = query.where(Subscription.plan_id == filters.plan_id)
    if filters.customer_id:
        query = query.where(Subscription.customer_id == filters.customer_id)
    return query


def subscriptions_page(filters: SubscriptionFilters, after: str | None = None,
                       limit: int = PAGE_SIZE) -> Page[Subscription]:
    """Return one page of subscriptions, newest first."""
    return keyset_page(subscriptions_query(filters), Subscription.created_at, Subscription.id,
                       after=after, limit=limit)


@dataclass
class SubscriptionDetail:
    subscription: Subscription
    schedules: list[Schedule]
    payments: list[Payment]
    plans: list[Plan]
    audit_entries: list[AuditEntry]


def subscription_detail(subscription_id: int) -> SubscriptionDetail | None:
    """Return a subscription with its schedules, payments and staff actions."""
    subscription = db.session.scalar(
        select(Subscription)
        .options(joinedload(Subscription.customer), joinedload(Subscription.plan),
                 joinedload(Subscription.next_plan))
        .where(Subscription.id == subscription_id)
    )
    if subscription is None:
        return None
    schedules = list(db.session.scalars(
        select(Schedule).where(Schedule.subscription_id == subscription_id)
        .order_by(Schedule.schedule_at.desc(), Schedule.id.desc()).limit(50)
    ))
    payments = list(db.session.scalars(
        select(Payment).options(selectinload(Payment.refunds))
        .where(Payment.subscription_id == subscription_id)
        .order_by(Payment.created_at.desc(), Payment.id.desc()).limit(50)
    ))
    audit_entries = list(db.session.scalars(
        select(AuditEntry)
        .where(AuditEntry.target_type == "subscription",
               AuditEntry.target_id == str(subscription_id))
        .order_by(AuditEntry.id.desc()).limit(50)
    ))
    return SubscriptionDetail(subscription, schedules, payments, active_plans(), audit_entries)


# --- schedules ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleFilters:
    status: str = ""  # scheduled, paid, failed, revoked
    date_from: date | None = None
    date_to: date | None = None
    customer_id: int | None = None

    @property
    def ascending(self) -> bool:
        # What is still to come reads soonest first; history reads newest first.
        return self.status == "scheduled"


def schedules_query(filters: ScheduleFilters):
    query = select(Schedule).options(joinedload(Schedule.customer))
    if filters.status == "scheduled":
        query = query.where(Schedule.schedule_status == "scheduled")
    elif filters.status == "revoked":
        query = query.where(Schedule.schedule_status == "revoked")
    elif filters.status in ("paid", "failed"):
        query = query.where(Schedule.schedule_status == "executed",
                            Schedule.payment_status == filters.status)
    if filters.date_from:
        query = query.where(Schedule.schedule_at >= formatting.day_start(filters.date_from))
    if filters.date_to:
        query = query.where(Schedule.schedule_at < formatting.day_end(filters.date_to))
    if filters.customer_id:
        query = query.where(Schedule.customer_id == filters.customer_id)
    return query


def schedules_page(filters: ScheduleFilters, after: str | None = None,
                   limit: int = PAGE_SIZE) -> Page[Schedule]:
    """Return one page of schedules (upcoming soonest first, the rest newest first)."""
    return keyset_page(schedules_query(filters), Schedule.schedule_at, Schedule.id, after=after,
                       descending=not filters.ascending, limit=limit)


def iterate_schedules(filters: ScheduleFilters) -> Iterator[Schedule]:
    return iterate_all(schedules_query(filters), Schedule.schedule_at, Schedule.id,
                       descending=not filters.ascending)


def schedule_or_none(schedule_id: int) -> Schedule | None:
    return db.session.scalar(
        select(Schedule)
        .options(joinedload(Schedule.customer), joinedload(Schedule.subscription))
        .where(Schedule.id == schedule_id)
    )


# --- payments ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentFilters:
    status: str = ""
    origin: str = ""
    date_from: date | None = None
    date_to: date | None = None
    min_amount: int | None = None
    max_amount: int | None = None
    customer_id: int | None = None


def payments_query(filters: PaymentFilters):
    query = select(Payment).options(joinedload(Payment.customer))
    if filters.status:
        query = query.where(Payment.status == filters.status)
    if filters.origin:
        query = query.where(Payment.origin == filters.origin)
    if filters.date_from:
        query = query.where(Payment.created_at >= formatting.day_start(filters.date_from))
    if filters.date_to:
        query = query.where(Payment.created_at < formatting.day_end(filters.date_to))
    if filters.min_amount is not None:
        query = query.where(Payment.amount >= filters.min_amount)
    if filters.max_amount is not None:
        query = query.where(Payment.amount <= filters.max_amount)
    if filters.customer_id:
        query = query.where(Payment.customer_id == filters.customer_id)
    return query


def payments_page(filters: PaymentFilters, after: str | None = None,
                  limit: int = PAGE_SIZE) -> Page[Payment]:
    """Return one page of payments, newest first."""
    return keyset_page(payments_query(filters), Payment.created_at, Payment.id,
                       after=after, limit=limit)


def iterate_payments(filters: PaymentFilters) -> Iterator[Payment]:
    return iterate_all(payments_query(filters), Payment.created_at, Payment.id)


@dataclass
class PaymentDetail:
    payment: Payment
    webhook_events: list[WebhookEvent]
    audit_entries: list[AuditEntry]


def payment_or_none(payment_id: int) -> Payment | None:
    return db.session.scalar(
        select(Payment)
        .options(joinedload(Payment.customer), joinedload(Payment.subscription),
                 selectinload(Payment.refunds))
        .where(Payment.id == payment_id)
    )


def payment_detail(payment_id: int) -> PaymentDetail | None:
    """Return a payment with its refunds, webhooks and staff actions."""
    payment = payment_or_none(payment_id)
    if payment is None:
        return None
    keys = [WebhookEvent.merchant_uid == payment.merchant_uid]
    if payment.imp_uid:
        keys.append(WebhookEvent.imp_uid == payment.imp_uid)
    events = list(db.session.scalars(
        select(WebhookEvent).where(or_(*keys))
        .order_by(WebhookEvent.received_at.desc(), WebhookEvent.id.desc()).limit(50)
    ))
    audit_entries = list(db.session.scalars(
        select(AuditEntry)
        .where(AuditEntry.target_type == "payment",
               AuditEntry.target_id.in_([payment.merchant_uid, str(payment_id)]))
        .order_by(AuditEntry.id.desc()).limit(50)
    ))
    return PaymentDetail(payment, events, audit_entries)


def unresolved_refund_total(payment: Payment) -> int:
    """Return the sum of refunds asked for whose outcome is not known yet."""
    return sum(refund.amount for refund in payment.refunds if refund.status == "pending")


# --- webhook events ----------------------------------------------------------------------


@dataclass(frozen=True)
class EventFilters:
    state: str = ""


def events_query(filters: EventFilters):
    query = select(WebhookEvent)
    if filters.state:
        query = query.where(WebhookEvent.state == filters.state)
    return query


def events_page(filters: EventFilters, after: str | None = None,
                limit: int = PAGE_SIZE) -> Page[WebhookEvent]:
    """Return one page of received webhooks, newest first."""
    return keyset_page(events_query(filters), WebhookEvent.received_at, WebhookEvent.id,
                       after=after, limit=limit)


# --- overview ----------------------------------------------------------------------------


def local_day_expression(column):
    """Return SQL for the display-zone calendar day (``YYYY-MM-DD``) of a UTC column."""
    if db.engine.dialect.name == "postgresql":
        zone = current_app.config.get("DISPLAY_TIMEZONE") or "Asia/Seoul"
        return func.to_char(func.timezone(zone, column), "YYYY-MM-DD")
    return func.date(column, formatting.utc_offset_modifier())


@dataclass
class Tally:
    count: int = 0
    amount: int = 0


@dataclass
class DayBar:
    day: date
    amount: int
    count: int


@dataclass
class CalendarDay:
    day: date
    in_month: bool
    scheduled: Tally = field(default_factory=Tally)
    paid: Tally = field(default_factory=Tally)
    failed: Tally = field(default_factory=Tally)
    is_today: bool = False


@dataclass
class Overview:
    today: date
    scheduled_today: Tally
    paid_today: Tally
    failed_today: Tally
    upcoming_week: Tally
    active_subscriptions: int
    mrr: int
    first_attempt_rate: float | None
    first_attempt_total: int
    recovery_rate: float | None
    recovery_total: int
    past_due: list[Subscription]
    past_due_count: int
    pending_payments: list[Payment]
    pending_payment_count: int
    pending_refunds: list[Refund]
    pending_refund_count: int
    failed_webhooks: list[WebhookEvent]
    failed_webhook_count: int
    revenue: list[DayBar]


def billing_mode() -> str:
    return current_app.config.get("BILLING_MODE", "schedule")


def upcoming_tally(since: datetime, until: datetime) -> Tally:
    """Count and sum the charges waiting to run in [since, until).

    Schedule mode: iamport's registered schedules. Again mode: subscriptions whose next
    attempt falls in the window, at their (next) plan's price.
    """
    if billing_mode() == "again":
        return _tally(
            select(func.count(Subscription.id), func.sum(Plan.amount))
            .select_from(Subscription)
            .join(Plan, Plan.id == func.coalesce(Subscription.next_plan_id, Subscription.plan_id))
            .where(Subscription.status.in_(("active", "past_due")),
                   Subscription.next_attempt_at >= since, Subscription.next_attempt_at < until)
        )
    return _tally(
        select(func.count(Schedule.id), func.sum(Schedule.amount))
        .where(Schedule.schedule_status == "scheduled",
               Schedule.schedule_at >= since, Schedule.schedule_at < until)
    )


def _tally(query) -> Tally:
    count, amount = db.session.execute(query).one()
    return Tally(int(count or 0), int(amount or 0))


def _count(query) -> int:
    return int(db.session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def overview() -> Overview:
    """Return the numbers and lists of the overview page."""
    now = billing_now()
    today = now.astimezone(formatting.display_zone()).date()
    start, end = formatting.day_start(today), formatting.day_end(today)
    scheduled_today = upcoming_tally(start, end)
    upcoming_week = upcoming_tally(now, now + timedelta(days=7))
    paid_today = _tally(
        select(func.count(Payment.id), func.sum(Payment.amount))
        .where(Payment.paid_at >= start, Payment.paid_at < end)
    )
    failed_today = _tally(
        select(func.count(Payment.id), func.sum(Payment.amount))
        .where(Payment.status == "failed", Payment.created_at >= start, Payment.created_at < end)
    )
    active_count, mrr = subscription_totals()
    first_rate, first_total, recovery, recovery_total = success_rates(now - timedelta(days=30),
                                                                      now)
    attention = 10
    past_due_query = select(Subscription).where(Subscription.status == "past_due")
    pending_payments_query = select(Payment).where(Payment.status == "pending")
    pending_refunds_query = select(Refund).where(Refund.status == "pending")
    failed_webhooks_query = select(WebhookEvent).where(WebhookEvent.state == "failed")
    return Overview(
        today=today,
        scheduled_today=scheduled_today,
        paid_today=paid_today,
        failed_today=failed_today,
        upcoming_week=upcoming_week,
        active_subscriptions=active_count,
        mrr=mrr,
        first_attempt_rate=first_rate,
        first_attempt_total=first_total,
        recovery_rate=recovery,
        recovery_total=recovery_total,
        past_due=list(db.session.scalars(
            past_due_query.options(joinedload(Subscription.customer),
                                   joinedload(Subscription.plan))
            .order_by(Subscription.next_charge_at.asc()).limit(attention))),
        past_due_count=_count(past_due_query),
        pending_payments=list(db.session.scalars(
            pending_payments_query.options(joinedload(Payment.customer))
            .order_by(Payment.created_at.asc()).limit(attention))),
        pending_payment_count=_count(pending_payments_query),
        pending_refunds=list(db.session.scalars(
            pending_refunds_query.options(joinedload(Refund.payment))
            .order_by(Refund.created_at.asc()).limit(attention))),
        pending_refund_count=_count(pending_refunds_query),
        failed_webhooks=list(db.session.scalars(
            failed_webhooks_query.order_by(WebhookEvent.received_at.desc()).limit(attention))),
        failed_webhook_count=_count(failed_webhooks_query),
        revenue=revenue_by_day(today - timedelta(days=29), today),
    )


def subscription_totals() -> tuple[int, int]:
    """Return (active subscriptions, monthly recurring revenue in KRW) from active ones."""
    rows = db.session.execute(
        select(Plan.amount, Plan.interval_unit, Plan.interval_count, func.count(Subscription.id))
        .join(Plan, Plan.id == Subscription.plan_id)
        .where(Subscription.status == "active")
        .group_by(Plan.id, Plan.amount, Plan.interval_unit, Plan.interval_count)
    ).all()
    count = 0
    mrr = 0.0
    for amount, unit, every, subscriptions in rows:
        count += subscriptions
        per_month = amount / every if unit == "month" else amount * (365 / 12) / every
        mrr += per_month * subscriptions
    return count, round(mrr)


def success_rates(since: datetime, until: datetime):
    """Return first-attempt success and recovery rates of automatic charges in the window.

    First attempt: share of first tries (attempt 1) that were paid. Recovery: share of
    periods whose first try failed that a later try paid.
    """
    settled = ("paid", "failed", "cancelled")
    succeeded = ("paid", "cancelled")
    first = select(
        func.count(Payment.id),
        func.sum(case((Payment.status.in_(succeeded), 1), else_=0)),
    ).where(
        Payment.created_at >= since, Payment.created_at < until,
        Payment.attempt == 1, Payment.origin != "manual", Payment.status.in_(settled),
    )
    total, paid = db.session.execute(first).one()
    total, paid = int(total or 0), int(paid or 0)
    later = Payment.__table__.alias("later")
    recovered = exists(
        select(later.c.id).where(
            later.c.subscription_id == Payment.subscription_id,
            later.c.period == Payment.period,
            later.c.attempt > 1,
            later.c.status.in_(succeeded),
        )
    )
    failed_total, recovered_count = db.session.execute(
        select(func.count(Payment.id), func.sum(case((recovered, 1), else_=0))).where(
            Payment.created_at >= since, Payment.created_at < until,
            Payment.attempt == 1, Payment.origin != "manual", Payment.status == "failed",
            Payment.subscription_id.is_not(None),
        )
    ).one()
    failed_total, recovered_count = int(failed_total or 0), int(recovered_count or 0)
    first_rate = paid / total if total else None
    recovery_rate = recovered_count / failed_total if failed_total else None
    return first_rate, total, recovery_rate, failed_total


def revenue_by_day(first: date, last: date) -> list[DayBar]:
    """Return paid amounts net of refunds per display-zone day, including empty days."""
    day = local_day_expression(Payment.paid_at)
    rows = db.session.execute(
        select(day, func.count(Payment.id), func.sum(Payment.amount - Payment.cancel_amount))
        # A paid_at means paid (and perhaps refunded since): no status test, so the
        # covering paid_at index answers alone.
        .where(Payment.paid_at >= formatting.day_start(first),
               Payment.paid_at < formatting.day_end(last))
        .group_by(day)
    ).all()
    by_day = {date.fromisoformat(str(key)): (int(count), int(amount or 0))
              for key, count, amount in rows}
    bars = []
    current = first
    while current <= last:
        count, amount = by_day.get(current, (0, 0))
        bars.append(DayBar(current, amount, count))
        current += timedelta(days=1)
    return bars


def charge_calendar(year: int, month: int) -> list[list[CalendarDay]]:
    """Return a month of weeks (Monday first): charges waiting, paid and failed per day.

    Waiting charges come from schedules (schedule mode) or subscriptions' next attempts
    (again mode); paid and failed come from payments, whatever started them.
    """
    weeks = calendar.Calendar(firstweekday=0).monthdatescalendar(year, month)
    since, until = formatting.day_start(weeks[0][0]), formatting.day_end(weeks[-1][-1])
    tallies: dict[date, dict[str, Tally]] = defaultdict(dict)

    def collect(kind: str, query) -> None:
        for key, count, amount in db.session.execute(query).all():
            tallies[date.fromisoformat(str(key))][kind] = Tally(int(count), int(amount or 0))

    if billing_mode() == "again":
        day = local_day_expression(Subscription.next_attempt_at)
        collect("scheduled", select(day, func.count(Subscription.id), func.sum(Plan.amount))
                .select_from(Subscription)
                .join(Plan, Plan.id == func.coalesce(Subscription.next_plan_id,
                                                     Subscription.plan_id))
                .where(Subscription.status.in_(("active", "past_due")),
                       Subscription.next_attempt_at >= since,
                       Subscription.next_attempt_at < until)
                .group_by(day))
    else:
        day = local_day_expression(Schedule.schedule_at)
        collect("scheduled", select(day, func.count(Schedule.id), func.sum(Schedule.amount))
                .where(Schedule.schedule_status == "scheduled",
                       Schedule.schedule_at >= since, Schedule.schedule_at < until)
                .group_by(day))
    paid_day = local_day_expression(Payment.paid_at)
    collect("paid", select(paid_day, func.count(Payment.id), func.sum(Payment.amount))
            .where(Payment.paid_at >= since, Payment.paid_at < until)
            .group_by(paid_day))
    failed_day = local_day_expression(Payment.created_at)
    collect("failed", select(failed_day, func.count(Payment.id), func.sum(Payment.amount))
            .where(Payment.status == "failed",
                   Payment.created_at >= since, Payment.created_at < until)
            .group_by(failed_day))
    today = billing_now().astimezone(formatting.display_zone()).date()
    return [
        [
            CalendarDay(
                day=d, in_month=d.month == month, is_today=d == today,
                scheduled=tallies[d].get("scheduled", Tally()),
                paid=tallies[d].get("paid", Tally()),
                failed=tallies[d].get("failed", Tally()),
            )
            for d in week
        ]
        for week in weeks
    ]
