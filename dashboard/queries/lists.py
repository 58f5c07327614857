"""List pages: one filter dataclass, one query, one keyset page and one export per list."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from sqlalchemy import exists, select
from sqlalchemy.orm import joinedload, selectinload

from .. import formatting
from ..extensions import db
from ..models import (
    Customer,
    Payment,
    Plan,
    Schedule,
    Subscription,
    WebhookEvent,
)
from .paging import PAGE_SIZE, Page, customer_search_condition, iterate_all, keyset_page


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


def active_plans() -> list[Plan]:
    """Return the plans staff can choose from, by name."""
    return list(db.session.scalars(select(Plan).where(Plan.active.is_(True)).order_by(Plan.name)))


def all_plans() -> list[Plan]:
    """Return every plan, for filters."""
    return list(db.session.scalars(select(Plan).order_by(Plan.name)))


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
    query = select(Schedule).options(joinedload(Schedule.customer),
                                     selectinload(Schedule.payment))
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
