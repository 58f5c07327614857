"""Detail pages: a customer, a subscription, a payment (a customer's timeline: ``timeline``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Row, Select, bindparam, literal, or_, select, union_all
from sqlalchemy.orm import joinedload, selectinload

from ..actions import allowed_actions, payment_actions
from ..attention import attention_columns, codes_of
from ..config import billing_mode
from ..extensions import db
from ..models import (
    CREDIT_BALANCE,
    AuditEntry,
    Customer,
    CustomerNote,
    Payment,
    Refund,
    Schedule,
    Subscription,
    WebhookEvent,
    refundable_amount,
)
from .lists import SCHEDULE_ROW_COLUMNS, ScheduleFilters, ScheduleRow, schedule_row, schedules_query

UPCOMING_LIMIT = 20
# The customer page shows the latest 20 payments, and its schedules table and notes are read
# from the latest 50 (its timeline is ``timeline.customer_timeline``'s first page).
HISTORY_ON_PAGE = 50
PAYMENTS_ON_PAGE = 20


# The detail pages' statements, built once with their ids as parameters: a customer page runs
# a dozen, and building each took about as long as running it.
SUBSCRIPTIONS_OF_CUSTOMER = (
    select(Subscription)
    .options(joinedload(Subscription.plan), joinedload(Subscription.next_plan))
    .where(Subscription.customer_id == bindparam("customer_id"))
    .order_by(Subscription.created_at.desc(), Subscription.id.desc())
)
# A customer's schedules are the schedules list's rows (the same buttons, by the same rule).
UPCOMING_SCHEDULES_OF_CUSTOMER = (
    schedules_query(ScheduleFilters(status="scheduled"), SCHEDULE_ROW_COLUMNS)
    .where(Schedule.customer_id == bindparam("customer_id"))
    .order_by(Schedule.schedule_at.asc(), Schedule.id.asc())
    .limit(UPCOMING_LIMIT)
)
PAYMENTS_OF_CUSTOMER = (
    select(Payment.id, Payment.created_at, Payment.paid_at, Payment.failed_at,
           Payment.merchant_uid, Payment.imp_uid, Payment.name, Payment.amount,
           Payment.cancel_amount, Payment.status, Payment.origin, Payment.attempt,
           Payment.fail_reason)
    .where(Payment.customer_id == bindparam("customer_id"))
    .order_by(Payment.created_at.desc(), Payment.id.desc())
    .limit(bindparam("history"))
)
# The customer page's statements join what it shows together: on PostgreSQL each statement is
# a round trip and a plan, and by the profile they took about half of the page's time.
CUSTOMER_WITH_CREDIT = (
    select(Customer, CREDIT_BALANCE.scalar_subquery())
    .where(Customer.id == bindparam("customer_id"))
)
LATEST_PAYMENTS = PAYMENTS_OF_CUSTOMER.subquery("latest")
PAYMENTS_WITH_REFUNDS = (
    select(LATEST_PAYMENTS, Refund.id, Refund.amount, Refund.status, Refund.reason,
           Refund.cancelled_at, Refund.created_at)
    .outerjoin(Refund, Refund.payment_id == LATEST_PAYMENTS.c.id)
    .order_by(LATEST_PAYMENTS.c.created_at.desc(), LATEST_PAYMENTS.c.id.desc(), Refund.id)
)
PAYMENT_FIELDS = len(PAYMENTS_OF_CUSTOMER.selected_columns)
# The times a customer's timeline prints of a schedule (``CustomerSchedule``'s own fields).
TIMELINE_TIMES = (Schedule.created_at, Schedule.executed_at, Schedule.revoked_at)
SCHEDULES_OF_CUSTOMER = (
    schedules_query(ScheduleFilters(), SCHEDULE_ROW_COLUMNS)
    .add_columns(*TIMELINE_TIMES)
    .where(Schedule.customer_id == bindparam("customer_id"))
    .order_by(Schedule.schedule_at.desc(), Schedule.id.desc())
    .limit(bindparam("history"))
)
# The waiting schedules (soonest first) and the latest ``history`` (latest first), in one
# statement: ``upcoming`` tells the two parts apart, and each part is put back in its order
# in Python.
UPCOMING_AND_RECENT_SCHEDULES = union_all(
    select(UPCOMING_SCHEDULES_OF_CUSTOMER
           .add_columns(*TIMELINE_TIMES, literal(True).label("upcoming")).subquery()),
    select(SCHEDULES_OF_CUSTOMER.add_columns(literal(False).label("upcoming")).subquery()),
)
# What the pages print of staff actions, webhooks and notes: plain rows, no ORM objects.
AUDIT_COLUMNS = (AuditEntry.created_at, AuditEntry.actor_label, AuditEntry.action,
                 AuditEntry.reason, AuditEntry.outcome)
WEBHOOK_COLUMNS = (WebhookEvent.received_at, WebhookEvent.status, WebhookEvent.state,
                   WebhookEvent.error, WebhookEvent.imp_uid, WebhookEvent.merchant_uid)
NOTE_COLUMNS = (CustomerNote.created_at, CustomerNote.body, CustomerNote.author_label)

NOTES_OF_CUSTOMER = (
    select(*NOTE_COLUMNS).where(CustomerNote.customer_id == bindparam("customer_id"))
    .order_by(CustomerNote.id.desc()).limit(bindparam("history"))
)
SUBSCRIPTION_WITH_PARTIES = (
    select(Subscription)
    .options(joinedload(Subscription.customer), joinedload(Subscription.plan),
             joinedload(Subscription.next_plan))
    .where(Subscription.id == bindparam("subscription_id"))
)
SCHEDULES_OF_SUBSCRIPTION = (
    schedules_query(ScheduleFilters(), SCHEDULE_ROW_COLUMNS)
    .where(Schedule.subscription_id == bindparam("subscription_id"))
    .order_by(Schedule.schedule_at.desc(), Schedule.id.desc()).limit(50)
)
PAYMENTS_OF_SUBSCRIPTION = (
    select(Payment.id, Payment.created_at, Payment.period, Payment.attempt, Payment.merchant_uid,
           Payment.amount, Payment.cancel_amount, Payment.status)
    .where(Payment.subscription_id == bindparam("subscription_id"))
    .order_by(Payment.created_at.desc(), Payment.id.desc()).limit(50)
)
AUDIT_OF_SUBSCRIPTION = (
    select(*AUDIT_COLUMNS)
    .where(AuditEntry.target_type == "subscription",
           AuditEntry.target_id == bindparam("target_id"))
    .order_by(AuditEntry.id.desc()).limit(50)
)
PAYMENT_WITH_PARTIES = (
    select(Payment)
    .options(joinedload(Payment.customer), joinedload(Payment.subscription),
             selectinload(Payment.refunds))
    .where(Payment.id == bindparam("payment_id"))
)
WEBHOOKS_OF_PAYMENT = (
    select(*WEBHOOK_COLUMNS)
    .where(or_(WebhookEvent.merchant_uid == bindparam("merchant_uid"),
               WebhookEvent.imp_uid == bindparam("imp_uid")))
    .order_by(WebhookEvent.received_at.desc(), WebhookEvent.id.desc()).limit(50)
)
AUDIT_OF_PAYMENT = (
    select(*AUDIT_COLUMNS)
    .where(AuditEntry.target_type == "payment",
           AuditEntry.target_id.in_([bindparam("merchant_uid"), bindparam("payment_id")]))
    .order_by(AuditEntry.id.desc()).limit(50)
)


@dataclass(slots=True)
class RefundRef:
    """A refund as a customer's page shows it."""

    amount: int
    status: str
    reason: str
    cancelled_at: datetime | None
    created_at: datetime


@dataclass(slots=True)
class CustomerPayment:
    """A payment as a customer's page shows it: its row, its refunds and its timeline items."""

    id: int
    created_at: datetime
    paid_at: datetime | None
    failed_at: datetime | None
    merchant_uid: str
    imp_uid: str | None
    name: str
    amount: int
    cancel_amount: int
    status: str
    origin: str
    attempt: int
    fail_reason: str | None
    refunds: list[RefundRef] = field(default_factory=list)

    @property
    def refundable_amount(self) -> int:
        return refundable_amount(self.status, self.amount, self.cancel_amount)


allowed_actions.register(CustomerPayment, payment_actions)


@dataclass(slots=True)
class CustomerSchedule(ScheduleRow):
    """A scheduled payment as a customer's page shows it: the schedules list's row, with the
    times its timeline prints."""

    created_at: datetime
    executed_at: datetime | None
    revoked_at: datetime | None


def customer_schedule(row) -> CustomerSchedule:
    *listed, created_at, executed_at, revoked_at = row
    return schedule_row(listed, CustomerSchedule, created_at=created_at,
                        executed_at=executed_at, revoked_at=revoked_at)


@dataclass
class CustomerDetail:
    """What the customer page shows besides its timeline: the customer, their subscriptions,
    credit balance, schedules, latest payments and notes."""

    customer: Customer
    subscriptions: list[Subscription]
    credit_balance: int
    upcoming_schedules: list[CustomerSchedule]
    recent_schedules: list[CustomerSchedule]
    payments: list[CustomerPayment]
    notes: list[Row]  # of NOTE_COLUMNS

    @property
    def done_schedules(self) -> list[CustomerSchedule]:
        """The recent schedules no longer waiting (run, or revoked), latest first."""
        return [s for s in self.recent_schedules if s.schedule_status != "scheduled"]


def customer_or_none(customer_id: int) -> Customer | None:
    return db.session.get(Customer, customer_id)


def customer_subscriptions(customer_id: int) -> list[Subscription]:
    """Return a customer's subscriptions with their plans, newest first."""
    return list(db.session.scalars(SUBSCRIPTIONS_OF_CUSTOMER, {"customer_id": customer_id}))


def upcoming_schedules(customer_id: int) -> list[ScheduleRow]:
    """Return a customer's waiting schedules (the first ``UPCOMING_LIMIT``), soonest first."""
    rows = db.session.connection().execute(UPCOMING_SCHEDULES_OF_CUSTOMER,
                                           {"customer_id": customer_id})
    return [schedule_row(row) for row in rows]


def customer_payments(customer_id: int, history: int) -> list[CustomerPayment]:
    """Return a customer's last ``history`` payments, newest first, each with its refunds, as
    plain rows: the page only prints them, and loading them as ORM objects (their refunds in
    a second load) was the page's costliest statement."""
    payments: list[CustomerPayment] = []
    for row in db.session.connection().execute(
            PAYMENTS_WITH_REFUNDS, {"customer_id": customer_id, "history": history}):
        # One row per refund (or one row with no refund), a payment's rows together.
        if not payments or payments[-1].id != row[0]:
            payments.append(CustomerPayment(*row[:PAYMENT_FIELDS]))
        refund_id, *refund = row[PAYMENT_FIELDS:]
        if refund_id is not None:
            payments[-1].refunds.append(RefundRef(*refund))
    return payments


def upcoming_and_recent_schedules(
        customer_id: int, history: int) -> tuple[list[CustomerSchedule], list[CustomerSchedule]]:
    """Return a customer's waiting schedules (the first ``UPCOMING_LIMIT``, soonest first)
    and its last ``history`` schedules (latest charge time first)."""
    upcoming: list[CustomerSchedule] = []
    recent: list[CustomerSchedule] = []
    for *row, is_upcoming in db.session.connection().execute(
            UPCOMING_AND_RECENT_SCHEDULES, {"customer_id": customer_id, "history": history}):
        (upcoming if is_upcoming else recent).append(customer_schedule(row))
    upcoming.sort(key=lambda schedule: (schedule.schedule_at, schedule.id))
    recent.sort(key=lambda schedule: (schedule.schedule_at, schedule.id), reverse=True)
    return upcoming, recent


def customer_detail(customer_id: int) -> CustomerDetail | None:
    """Return what the customer page shows besides its timeline, in a fixed number of
    queries: the latest ``PAYMENTS_ON_PAGE`` payments (and one more, to tell whether there
    are more) and ``HISTORY_ON_PAGE`` schedules and notes."""
    found = db.session.execute(CUSTOMER_WITH_CREDIT, {"customer_id": customer_id}).one_or_none()
    if found is None:
        return None
    customer, credit = found
    upcoming, recent_schedules = upcoming_and_recent_schedules(customer_id, HISTORY_ON_PAGE)
    notes = db.session.connection().execute(
        NOTES_OF_CUSTOMER, {"customer_id": customer_id, "history": HISTORY_ON_PAGE}).all()
    return CustomerDetail(
        customer=customer,
        subscriptions=customer_subscriptions(customer_id),
        credit_balance=int(credit),
        upcoming_schedules=upcoming,
        recent_schedules=recent_schedules,
        payments=customer_payments(customer_id, PAYMENTS_ON_PAGE + 1),
        notes=notes,
    )


@dataclass
class SubscriptionDetail:
    subscription: Subscription
    schedules: list[ScheduleRow]
    payments: list[Row]  # of PAYMENTS_OF_SUBSCRIPTION: the page only prints them
    audit_entries: list[Row]  # of AUDIT_COLUMNS
    actions: frozenset[str] = frozenset()
    attention: list[str] = field(default_factory=list)


def subscription_or_none(subscription_id: int) -> Subscription | None:
    """Return a subscription with its customer and plans (what its forms print)."""
    return db.session.scalar(SUBSCRIPTION_WITH_PARTIES, {"subscription_id": subscription_id})


# The subscription page's subscription with its attention codes, per billing mode: one
# statement, built once.
_subscription_pages: dict[str, Select] = {}


def subscription_detail(subscription_id: int) -> SubscriptionDetail | None:
    """Return a subscription with its schedules, payments and staff actions."""
    by_subscription = {"subscription_id": subscription_id}
    mode = billing_mode()
    query = _subscription_pages.get(mode)
    if query is None:
        query = _subscription_pages[mode] = SUBSCRIPTION_WITH_PARTIES.add_columns(
            *attention_columns())
    found = db.session.execute(query, by_subscription).one_or_none()
    if found is None:
        return None
    subscription, *attention_flags = found
    connection = db.session.connection()
    schedules = [schedule_row(row)
                 for row in connection.execute(SCHEDULES_OF_SUBSCRIPTION, by_subscription)]
    payments = connection.execute(PAYMENTS_OF_SUBSCRIPTION, by_subscription).all()
    audit_entries = connection.execute(AUDIT_OF_SUBSCRIPTION,
                                       {"target_id": str(subscription_id)}).all()
    return SubscriptionDetail(subscription, schedules, payments, audit_entries,
                              allowed_actions(subscription), codes_of(attention_flags))


def schedule_or_none(schedule_id: int) -> Schedule | None:
    return db.session.scalar(
        select(Schedule)
        .options(joinedload(Schedule.customer), joinedload(Schedule.subscription))
        .where(Schedule.id == schedule_id)
    )


@dataclass
class PaymentDetail:
    payment: Payment
    webhook_events: list[Row]  # of WEBHOOK_COLUMNS
    audit_entries: list[Row]  # of AUDIT_COLUMNS
    actions: frozenset[str] = frozenset()


def payment_or_none(payment_id: int) -> Payment | None:
    return db.session.scalar(PAYMENT_WITH_PARTIES, {"payment_id": payment_id})


def payment_detail(payment_id: int) -> PaymentDetail | None:
    """Return a payment with its refunds, webhooks and staff actions."""
    payment = payment_or_none(payment_id)
    if payment is None:
        return None
    # A payment without an imp_uid matches on its merchant_uid alone (NULL equals nothing).
    connection = db.session.connection()
    events = connection.execute(WEBHOOKS_OF_PAYMENT, {
        "merchant_uid": payment.merchant_uid, "imp_uid": payment.imp_uid}).all()
    audit_entries = connection.execute(AUDIT_OF_PAYMENT, {
        "merchant_uid": payment.merchant_uid, "payment_id": str(payment_id)}).all()
    return PaymentDetail(payment, events, audit_entries, allowed_actions(payment))


def unresolved_refund_total(payment: Payment) -> int:
    """Return the sum of refunds asked for whose outcome is not known yet."""
    return sum(refund.amount for refund in payment.refunds if refund.status == "pending")
