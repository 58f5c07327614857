"""The top bar's search: one box for payments and customers.

An exact ``imp_uid`` or ``merchant_uid`` names a payment; an exact ``customer_uid``, e-mail
or phone number names a customer; four digits are the end of phone numbers; anything else is
the start of a name, e-mail or phone number, searched as the customers list searches it
(newest first). Every match is an indexed lookup.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import or_, select

from ..clock import now
from ..extensions import db
from ..models import Customer, Payment, Schedule, Subscription
from ..phones import is_last_digits, looks_like_phone, phone_digits
from .customers import CustomerFilters, CustomerRow, customers_page

RESULT_LIMIT = 20


@dataclass
class SearchResult:
    """What a search found: one payment, one customer for certain, or a list to choose from."""

    q: str
    payment: Payment | None = None
    customers: list[Customer | CustomerRow] = field(default_factory=list)
    # True when the customers matched exactly (uid, e-mail, whole phone number).
    exact: bool = False

    @property
    def single_customer(self) -> Customer | None:
        return self.customers[0] if self.exact and len(self.customers) == 1 else None


def payment_by_uid(uid: str) -> Payment | None:
    """Return the payment whose ``imp_uid`` or ``merchant_uid`` is exactly ``uid``."""
    return db.session.scalar(
        select(Payment).where(or_(Payment.imp_uid == uid, Payment.merchant_uid == uid)).limit(1)
    )


def _customers(condition, limit: int = RESULT_LIMIT) -> list[Customer]:
    query = select(Customer).where(condition).order_by(Customer.name, Customer.id).limit(limit)
    return list(db.session.scalars(query))


def search(q: str) -> SearchResult:
    """Find what the top bar's search box names."""
    q = (q or "").strip()
    result = SearchResult(q=q)
    if not q:
        return result
    result.payment = payment_by_uid(q)
    if result.payment is not None:
        return result
    exact = [Customer.customer_uid == q, Customer.email == q.lower()]
    if looks_like_phone(q) and not is_last_digits(q):
        exact.append(Customer.phone == phone_digits(q))
    result.customers = _customers(or_(*exact))
    if result.customers:
        result.exact = True
        return result
    if is_last_digits(q):
        result.customers = _customers(Customer.phone_tail == q.strip())
        return result
    # The customers list's search reads each field's newest matches from its index: one OR of
    # the prefixes ordered by name read every match (every customer for "010").
    result.customers = customers_page(CustomerFilters(q=q), limit=RESULT_LIMIT).rows
    return result


# A second manual charge like this one within this window is probably a mistake: ask first.
DUPLICATE_CHARGE_WINDOW = timedelta(minutes=10)


def recent_identical_charge(customer_id: int, amount: int, *,
                            other_than: str) -> Payment | None:
    """Return a manual charge of the same amount to the customer in the last ten minutes."""
    return db.session.scalar(
        select(Payment)
        .where(Payment.customer_id == customer_id, Payment.origin == "manual",
               Payment.amount == amount, Payment.merchant_uid != other_than,
               Payment.status.in_(("pending", "paid")),
               Payment.created_at >= now() - DUPLICATE_CHARGE_WINDOW)
        .order_by(Payment.created_at.desc(), Payment.id.desc())
        .limit(1)
    )


def revoked_charges_to_restore(subscription_id: int) -> list[Schedule]:
    """Return the subscription's revoked charges for periods it has not paid
    (reinstate shows them).
    """
    subscription = db.session.get(Subscription, subscription_id)
    if subscription is None:
        return []
    return list(db.session.scalars(
        select(Schedule)
        .where(Schedule.subscription_id == subscription_id,
               Schedule.schedule_status == "revoked",
               Schedule.period > subscription.current_period)
        .order_by(Schedule.schedule_at.asc(), Schedule.id.asc())
        .limit(20)
    ))


def current_period_payment(subscription_id: int) -> Payment | None:
    """Return the paid charge of the subscription's current period
    (what "cancel now" may refund).
    """
    subscription = db.session.get(Subscription, subscription_id)
    if subscription is None or not subscription.current_period:
        return None
    return db.session.scalar(
        select(Payment)
        .where(Payment.subscription_id == subscription_id,
               Payment.period == subscription.current_period,
               Payment.status.in_(("paid", "cancelled")))
        .order_by(Payment.id.desc())
        .limit(1)
    )
