"""The customers list: its filters, its page (a search, a subscription filter) and its export."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Customer, Plan, Subscription
from ..models.rollups import ANY_PLAN, ANY_STATUS, COUNTS_SUBSCRIPTIONS, CustomerSubscriptionRollup
from .paging import (
    PAGE_SIZE,
    AnyMatch,
    Page,
    SearchShape,
    customer_search,
    customer_search_condition,
    customer_search_conditions,
    iterate_all,
    keyset_page,
)


@dataclass(frozen=True)
class CustomerFilters:
    q: str = ""
    status: str = ""
    plan_id: int | None = None


def customers_query(filters: CustomerFilters, search: SearchShape | None = None):
    """Return the SELECT for the customer list with the filters applied; a search box's text
    (``filters.q``) is matched as ``search`` (its values are ``customer_search``'s
    parameters). ``customer_order(filters)`` names the columns it pages by."""
    query = select(Customer).options(
        selectinload(Customer.subscriptions).selectinload(Subscription.plan)
    )
    if search is not None:
        query = query.where(customer_search_condition(search))
    if filters.status or filters.plan_id:
        # Customers with such a subscription: their counts, read in the list's order.
        counts = CustomerSubscriptionRollup
        query = query.join(counts, counts.customer_id == Customer.id).where(
            counts.status == (filters.status or ANY_STATUS),
            counts.plan_id == (filters.plan_id or ANY_PLAN),
            COUNTS_SUBSCRIPTIONS)
    return query


def customers_statement(filters: CustomerFilters, search: SearchShape | None):
    """Return the statement of the customers list's page: a search alone is read one indexed
    column at a time (``AnyMatch``); with a subscription filter, the filter's customers are
    read in the list's order and each is checked against the search.

    A search that named a uid reads a handful of rows either way, and one ``OR`` on one table
    is planned faster on PostgreSQL."""
    if search is not None and not search.exact and not (filters.status or filters.plan_id):
        return AnyMatch(CUSTOMER_ROW_COLUMNS, customer_search_conditions(search))
    return customers_query(filters, search).with_only_columns(*CUSTOMER_ROW_COLUMNS)


def customer_order(filters: CustomerFilters):
    """Return the (time, id) columns the customer list pages by: the customer's own, or, when
    filtered by its subscriptions, the same values as their counts' index holds them."""
    if filters.status or filters.plan_id:
        counts = CustomerSubscriptionRollup
        return counts.customer_created_at, counts.customer_id
    return Customer.created_at, Customer.id


def created_at_of(customer) -> datetime:
    return customer.created_at


@dataclass(slots=True)
class PlanRef:
    name: str


@dataclass(slots=True)
class SubscriptionRef:
    """A customer's subscription as the customer list prints it."""

    status: str
    plan: PlanRef


@dataclass(slots=True)
class CustomerRow:
    """A customer as the customer list prints it, with its subscriptions' plans and states."""

    id: int
    name: str
    email: str
    phone: str
    customer_uid: str
    card_name: str | None
    card_number: str | None
    billing_key_status: str
    created_at: datetime
    subscriptions: list[SubscriptionRef]


CUSTOMER_ROW_COLUMNS = (
    Customer.id, Customer.name, Customer.email, Customer.phone, Customer.customer_uid,
    Customer.card_name, Customer.card_number, Customer.billing_key_status, Customer.created_at,
)


def customer_row(row) -> CustomerRow:
    return CustomerRow(*row, subscriptions=[])


# Built once: every customers page reads its customers' subscriptions.
SUBSCRIPTIONS_OF_CUSTOMERS = (
    select(Subscription.customer_id, Subscription.status, Plan.id, Plan.name)
    .join(Plan, Plan.id == Subscription.plan_id)
    .where(Subscription.customer_id.in_(bindparam("customer_ids", expanding=True)))
    .order_by(Subscription.id))


def customers_page(filters: CustomerFilters, after: str | None = None,
                   limit: int = PAGE_SIZE) -> Page[CustomerRow]:
    """Return one page of customers, newest first, with their subscriptions."""
    search, parameters = customer_search(filters.q) if filters.q else (None, {})
    # One statement per search shape and other filters: the typed text is only parameters.
    page = keyset_page(
        lambda: customers_statement(filters, search), *customer_order(filters),
        after=after, limit=limit, rows_of=customer_row,
        time_of=created_at_of, reuse_as=("customers", search, replace(filters, q="")),
        parameters=parameters)
    by_id = {row.id: row for row in page.rows}
    if by_id:
        plan_names: dict[int, PlanRef] = {}
        for customer_id, status, plan_id, plan_name in db.session.connection().execute(
            SUBSCRIPTIONS_OF_CUSTOMERS, {"customer_ids": list(by_id)}
        ):
            plan = plan_names.setdefault(plan_id, PlanRef(plan_name))
            by_id[customer_id].subscriptions.append(SubscriptionRef(status, plan))
    return page


def iterate_customers(filters: CustomerFilters) -> Iterator[Customer]:
    """Yield every customer matching the filters (for CSV export)."""
    search, parameters = customer_search(filters.q) if filters.q else (None, {})
    return iterate_all(customers_query(filters, search), *customer_order(filters),
                       time_of=created_at_of, parameters=parameters)
