"""List pages: one filter dataclass, one query, one keyset page and one export per list."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from sqlalchemy import (
    Integer,
    Text,
    bindparam,
    cast,
    exists,
    func,
    literal_column,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import joinedload, selectinload

from .. import formatting
from ..actions import allowed_actions, event_actions, schedule_actions
from ..extensions import db
from ..models import (
    MAX_KRW,
    Customer,
    Payment,
    Plan,
    Refund,
    Schedule,
    Subscription,
    WebhookEvent,
)
from .paging import (
    PAGE_SIZE,
    Page,
    iterate_all,
    keyset_page,
)


def active_plans() -> list[Plan]:
    """Return the plans staff can choose from, by name."""
    return list(db.session.scalars(select(Plan).where(Plan.active.is_(True)).order_by(Plan.name)))


# Built once: the customers and subscriptions lists offer every plan as a filter.
PLAN_CHOICES = select(Plan.id, Plan.name).order_by(Plan.name)


def all_plans() -> list:
    """Return every plan as a row of (``id``, ``name``), for filters."""
    return db.session.connection().execute(PLAN_CHOICES).all()


@dataclass(frozen=True)
class SubscriptionFilters:
    status: str = ""
    plan_id: int | None = None
    customer_id: int | None = None


@dataclass(slots=True)
class PlanPrice:
    """A subscription's plan as the subscriptions list prints it."""

    name: str
    amount: int


@dataclass(slots=True)
class SubscriptionRow:
    """A subscription as the subscriptions list prints it (and ``next_charge_at`` reads)."""

    id: int
    customer_id: int
    status: str
    cancel_at_period_end: bool
    current_period_start: datetime
    current_period_end: datetime
    next_attempt_at: datetime | None
    created_at: datetime
    customer: CustomerRef
    plan: PlanPrice


SUBSCRIPTION_ROW_COLUMNS = (
    Subscription.id, Subscription.customer_id, Subscription.status,
    Subscription.cancel_at_period_end, Subscription.current_period_start,
    Subscription.current_period_end, Subscription.next_attempt_at, Subscription.created_at,
    Customer.name.label("customer_name"), Customer.customer_uid, Plan.name.label("plan_name"),
    Plan.amount,
)


def subscription_row(row) -> SubscriptionRow:
    *subscription, customer_name, customer_uid, plan_name, plan_amount = row
    return SubscriptionRow(*subscription,
                           customer=CustomerRef(row.customer_id, customer_name, customer_uid),
                           plan=PlanPrice(plan_name, plan_amount))


def subscriptions_query(filters: SubscriptionFilters):
    query = (select(*SUBSCRIPTION_ROW_COLUMNS)
             .join(Customer, Customer.id == Subscription.customer_id)
             .join(Plan, Plan.id == Subscription.plan_id))
    if filters.status:
        query = query.where(Subscription.status == filters.status)
    if filters.plan_id:
        query = query.where(Subscription.plan_id == filters.plan_id)
    if filters.customer_id:
        query = query.where(Subscription.customer_id == filters.customer_id)
    return query


def subscriptions_page(filters: SubscriptionFilters, after: str | None = None,
                       limit: int = PAGE_SIZE) -> Page[SubscriptionRow]:
    """Return one page of subscriptions, newest first, as the columns the list prints."""
    return keyset_page(lambda: subscriptions_query(filters), Subscription.created_at,
                       Subscription.id, after=after, limit=limit, rows_of=subscription_row,
                       reuse_as=("subscriptions", filters))


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


@dataclass(slots=True)
class ChargeRef:
    """The charge a scheduled payment made: what its badge needs (a partial refund)."""

    amount: int
    cancel_amount: int


@dataclass(slots=True)
class PeriodRef:
    """The subscription a scheduled payment bills: how many periods it has paid."""

    current_period: int


@dataclass(slots=True)
class ScheduleRow:
    """A scheduled payment as the schedules list prints it, with what ``allowed_actions``
    reads of it (its subscription's paid periods), so the list's buttons come from the same
    rule as the detail pages'."""

    id: int
    schedule_at: datetime
    customer_id: int
    subscription_id: int | None
    merchant_uid: str
    imp_uid: str | None
    amount: int
    period: int | None
    attempt: int
    schedule_status: str
    payment_status: str | None
    fail_reason: str | None
    customer: CustomerRef
    payment: ChargeRef | None
    subscription: PeriodRef | None


def charge_of_schedule(column):
    """``column`` of the payment a schedule made, read for each row."""
    return select(column).where(Payment.merchant_uid == Schedule.merchant_uid).scalar_subquery()


# The charge and the subscription are read per row, not joined: joined, PostgreSQL spent
# longer planning the statement (weighing merge joins on the uid) than running it.
SCHEDULE_ROW_COLUMNS = (
    Schedule.id, Schedule.schedule_at, Schedule.customer_id, Schedule.subscription_id,
    Schedule.merchant_uid, Schedule.imp_uid, Schedule.amount, Schedule.period, Schedule.attempt,
    Schedule.schedule_status, Schedule.payment_status, Schedule.fail_reason,
    Customer.name, Customer.customer_uid,
    charge_of_schedule(Payment.amount).label("payment_amount"),
    charge_of_schedule(Payment.cancel_amount).label("cancel_amount"),
    select(Subscription.current_period).where(Subscription.id == Schedule.subscription_id)
    .scalar_subquery().label("current_period"),
)


# The list's buttons follow the rule of the detail pages and the POST handlers.
allowed_actions.register(ScheduleRow, schedule_actions)


def schedule_row(row, row_type: type[ScheduleRow] = ScheduleRow, **more) -> ScheduleRow:
    """Return a row of ``SCHEDULE_ROW_COLUMNS`` as a ``row_type`` (``more``: its own fields)."""
    (*fields, customer_name, customer_uid, payment_amount, cancel_amount, paid_periods) = row
    customer_id = fields[2]  # SCHEDULE_ROW_COLUMNS' third
    return row_type(
        *fields,
        customer=CustomerRef(customer_id, customer_name, customer_uid),
        payment=ChargeRef(payment_amount, cancel_amount) if payment_amount is not None else None,
        subscription=PeriodRef(paid_periods) if paid_periods is not None else None,
        **more,
    )


def schedules_query(filters: ScheduleFilters, columns=None):
    """Return the SELECT of schedules (ORM objects, or ``columns`` joined to their
    customer)."""
    if columns is None:
        query = select(Schedule).options(joinedload(Schedule.customer),
                                         selectinload(Schedule.payment))
    else:
        query = select(*columns).join(Customer, Customer.id == Schedule.customer_id)
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
                   limit: int = PAGE_SIZE) -> Page[ScheduleRow]:
    """Return one page of schedules (upcoming soonest first, the rest newest first)."""
    return keyset_page(lambda: schedules_query(filters, SCHEDULE_ROW_COLUMNS),
                       Schedule.schedule_at, Schedule.id, after=after,
                       descending=not filters.ascending, limit=limit, rows_of=schedule_row,
                       reuse_as=("schedules", filters))


def iterate_schedules(filters: ScheduleFilters) -> Iterator[Schedule]:
    return iterate_all(schedules_query(filters), Schedule.schedule_at, Schedule.id,
                       descending=not filters.ascending)


@dataclass(frozen=True)
class PaymentFilters:
    status: str = ""
    origin: str = ""
    date_from: date | None = None
    date_to: date | None = None
    min_amount: int | None = None
    max_amount: int | None = None
    customer_id: int | None = None
    uid: str = ""  # an exact imp_uid or merchant_uid
    refunded_from: date | None = None
    refunded_to: date | None = None

    @property
    def by_refund_date(self) -> bool:
        return bool(self.refunded_from or self.refunded_to)


PARTIALLY_REFUNDED = "partially_refunded"
# ``ix_payment_refunded_time``'s condition, with its zero written into the statement as the
# index's is: a bound zero would not let the planner use the index.
REFUNDED_PAYMENT = Payment.cancel_amount > literal_column("0")


def refunds_in_range(filters: PaymentFilters):
    """Return the condition "a refund of this payment succeeded on those days"."""
    query = select(Refund.id).where(Refund.payment_id == Payment.id,
                                    Refund.status == "succeeded")
    if filters.refunded_from:
        query = query.where(Refund.cancelled_at >= formatting.day_start(filters.refunded_from))
    if filters.refunded_to:
        query = query.where(Refund.cancelled_at < formatting.day_end(filters.refunded_to))
    return exists(query)


@dataclass(slots=True)
class CustomerRef:
    """The customer a listed row belongs to: what a list prints of it."""

    id: int
    name: str
    customer_uid: str


@dataclass(slots=True)
class PaymentRow:
    """A payment as the payments list prints it."""

    id: int
    created_at: datetime
    customer_id: int | None
    name: str
    merchant_uid: str
    imp_uid: str | None
    amount: int
    cancel_amount: int
    status: str
    origin: str
    attempt: int
    customer: CustomerRef | None


PAYMENT_ROW_COLUMNS = (
    Payment.id, Payment.created_at, Payment.customer_id, Payment.name, Payment.merchant_uid,
    Payment.imp_uid, Payment.amount, Payment.cancel_amount, Payment.status, Payment.origin,
    Payment.attempt, Customer.name.label("customer_name"), Customer.customer_uid,
)


def payment_export_columns() -> tuple:
    """What the CSV export reads of each payment, in its column order: its columns and its
    customer's, its times as the CSV writes them (``local_minutes``), then the keyset's (its
    time as UTC text, ``utc_text``)."""
    return (
        Payment.imp_uid, Payment.merchant_uid, Customer.customer_uid, Customer.name,
        Payment.subscription_id, Payment.period, Payment.attempt, Payment.origin, Payment.name,
        Payment.amount, Payment.cancel_amount, Payment.status, Payment.card_name,
        Payment.card_number, Payment.fail_reason,
        local_minutes(Payment.created_at), local_minutes(Payment.paid_at),
        local_minutes(Payment.failed_at), local_minutes(Payment.cancelled_at),
        Payment.receipt_url, utc_text(Payment.created_at), Payment.id,
    )


def local_minutes(column):
    """Return SQL for a UTC time as the CSV writes it, with ``export_minutes()`` to finish it.

    PostgreSQL writes ``2026-11-27 13:05`` in the display zone itself: building the driver's
    aware datetimes cost more than the rest of the row. SQLite knows no zones; its stored
    text is read as it is, without the ORM type's conversion.
    """
    if db.engine.dialect.name == "postgresql":
        zone = formatting.display_zone().key
        text = func.to_char(func.timezone(zone, column), "YYYY-MM-DD HH24:MI")
    else:
        text = type_coerce(column, Text)
    # Named apart from the column itself, which the keyset reads.
    return text.label(f"{column.key}_minutes")


def utc_text(column):
    """Return SQL for a UTC time as text, ``2026-11-27 04:05:09.123456``: the keyset needs only
    the last row's time, and building every row's datetime cost a quarter of the fetch."""
    if db.engine.dialect.name == "postgresql":
        text = cast(func.timezone("UTC", column), Text)
    else:
        text = type_coerce(column, Text)
    return text.label(f"{column.key}_utc")


def export_minutes():
    """Return what turns a ``local_minutes`` value into its CSV cell."""
    if db.engine.dialect.name == "postgresql":
        return as_is
    return formatting.csv_minutes_of_stored(formatting.display_zone())


def payment_row(row) -> PaymentRow:
    (payment_id, created_at, customer_id, name, merchant_uid, imp_uid, amount, cancel_amount,
     status, origin, attempt, customer_name, customer_uid) = row
    customer = (CustomerRef(customer_id, customer_name, customer_uid)
                if customer_uid is not None else None)
    return PaymentRow(payment_id, created_at, customer_id, name, merchant_uid, imp_uid, amount,
                      cancel_amount, status, origin, attempt, customer)


def payments_query(filters: PaymentFilters, columns=None):
    """Return the SELECT of payments (ORM objects, or ``columns`` joined to their customer)."""
    if columns is None:
        query = select(Payment).options(joinedload(Payment.customer))
    else:
        query = select(*columns).outerjoin(Customer, Customer.id == Payment.customer_id)
    if filters.status == PARTIALLY_REFUNDED:
        # iamport calls a payment "cancelled" after any refund; part refunded is in between.
        query = query.where(REFUNDED_PAYMENT, Payment.cancel_amount < Payment.amount)
    elif filters.status:
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
    if filters.uid:
        query = query.where(or_(Payment.imp_uid == filters.uid,
                                Payment.merchant_uid == filters.uid))
    if filters.by_refund_date:
        query = query.where(refunds_in_range(filters))
    return query


def payments_page(filters: PaymentFilters, after: str | None = None,
                  limit: int = PAGE_SIZE) -> Page[PaymentRow]:
    """Return one page of payments, newest first."""
    amounts = amounts_read_one_by_one(filters)
    if amounts == ():
        return Page([], None)  # no payment of that amount
    if amounts is not None:
        # One branch per amount, each read newest first from ``ix_payment_amount_time``.
        def one_per_amount():
            every_amount = payments_query(replace(filters, min_amount=None, max_amount=None),
                                          PAYMENT_ROW_COLUMNS)
            return [every_amount.where(Payment.amount == amount) for amount in amounts]
        return keyset_page(one_per_amount, Payment.created_at, Payment.id, after=after,
                           limit=limit, rows_of=payment_row,
                           reuse_as=("payments", filters, amounts))
    return keyset_page(lambda: payments_query(filters, PAYMENT_ROW_COLUMNS), Payment.created_at,
                       Payment.id, after=after, limit=limit, rows_of=payment_row,
                       reuse_as=None if filters.uid else ("payments", filters))


# A list filtered by amount alone (or with dates) reads the amounts of its range one by one
# when there are at most this many: a billing history holds few amounts (its plans' prices),
# and a range of them read newest first through the time index reads every payment newer than
# the page, however few match.
AMOUNTS_READ_ONE_BY_ONE = 20
_FIRST_AMOUNT = (select(func.min(Payment.amount).label("amount"))
                 .where(Payment.amount >= bindparam("low"), Payment.amount <= bindparam("high"))
                 .cte("amounts", recursive=True))
# Each amount of the range is one seek of the amount index for the next larger one.
AMOUNTS_IN_RANGE = select(_FIRST_AMOUNT.union_all(
    select(select(func.min(Payment.amount))
           .where(Payment.amount > _FIRST_AMOUNT.c.amount, Payment.amount <= bindparam("high"))
           .scalar_subquery())
    .where(_FIRST_AMOUNT.c.amount.is_not(None))).c.amount).limit(bindparam("most", type_=Integer))


def amounts_read_one_by_one(filters: PaymentFilters) -> tuple[int, ...] | None:
    """Return the amounts stored within the filters' amount range when the list is filtered
    by amount and dates alone and they are few; ``None`` otherwise."""
    if (filters.min_amount is None and filters.max_amount is None) or (
            filters.status or filters.origin or filters.customer_id or filters.uid
            or filters.by_refund_date):
        return None
    low = filters.min_amount if filters.min_amount is not None else 0
    high = filters.max_amount if filters.max_amount is not None else MAX_KRW
    amounts = db.session.connection().execute(AMOUNTS_IN_RANGE, {
        "low": low, "high": high, "most": AMOUNTS_READ_ONE_BY_ONE + 1}).scalars().all()
    amounts = tuple(amount for amount in amounts if amount is not None)
    return amounts if len(amounts) <= AMOUNTS_READ_ONE_BY_ONE else None


def iterate_payments(filters: PaymentFilters) -> Iterator:
    """Yield every matching payment as a row of ``payment_export_columns()`` (CSV export)."""
    return iterate_all(payments_query(filters, payment_export_columns()), Payment.created_at,
                       Payment.id, rows_of=as_is, time_of=created_at_of_export_row)


def created_at_of_export_row(row) -> datetime:
    """Return an export row's keyset time (``utc_text``) as an aware datetime."""
    return datetime.fromisoformat(row.created_at_utc).replace(tzinfo=UTC)


def as_is(row):
    return row


def iterate_refunds(filters: PaymentFilters) -> Iterator[Refund]:
    """Yield the refunds of the payments matching the filters, newest first (refunds CSV).

    With a refund-date filter only the refunds made on those days are listed.
    """
    payments = payments_query(filters).with_only_columns(Payment.id)
    query = (select(Refund)
             .options(joinedload(Refund.payment).joinedload(Payment.customer))
             .where(Refund.payment_id.in_(payments)))
    if filters.refunded_from:
        query = query.where(Refund.cancelled_at >= formatting.day_start(filters.refunded_from))
    if filters.refunded_to:
        query = query.where(Refund.cancelled_at < formatting.day_end(filters.refunded_to))
    return iterate_all(query, Refund.created_at, Refund.id)


@dataclass(frozen=True)
class EventFilters:
    state: str = ""


@dataclass(slots=True)
class EventRow:
    """A received webhook as the webhook list prints it (never its body, up to 64 KiB)."""

    id: int
    received_at: datetime
    remote_addr: str | None
    imp_uid: str | None
    merchant_uid: str | None
    status: str | None
    state: str
    attempts: int
    error: str | None


allowed_actions.register(EventRow, event_actions)

EVENT_ROW_COLUMNS = (
    WebhookEvent.id, WebhookEvent.received_at, WebhookEvent.remote_addr, WebhookEvent.imp_uid,
    WebhookEvent.merchant_uid, WebhookEvent.status, WebhookEvent.state, WebhookEvent.attempts,
    WebhookEvent.error,
)


def event_row(row) -> EventRow:
    return EventRow(*row)


def events_query(filters: EventFilters):
    query = select(*EVENT_ROW_COLUMNS)
    if filters.state:
        query = query.where(WebhookEvent.state == filters.state)
    return query


def events_page(filters: EventFilters, after: str | None = None,
                limit: int = PAGE_SIZE) -> Page[EventRow]:
    """Return one page of received webhooks, newest first, as the columns the list prints."""
    return keyset_page(lambda: events_query(filters), WebhookEvent.received_at,
                       WebhookEvent.id, after=after, limit=limit, rows_of=event_row,
                       reuse_as=("events", filters))
