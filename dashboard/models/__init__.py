"""The database: staff, plans, customers, subscriptions and the iamport mirrors.

Money is integer KRW. Times are stored in UTC and always come back as aware datetimes.
Constraints here enforce the money rules wherever a database can: unique ``merchant_uid`` and
``imp_uid``, non-negative amounts, ``cancel_amount <= amount``, one live schedule per
subscription period, one credit grant per payment.
"""
from __future__ import annotations

from datetime import datetime

from flask import current_app, has_app_context
from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    bindparam,
    column,
    func,
    literal_column,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates
from werkzeug.security import check_password_hash, generate_password_hash

from ..clock import now, utcnow
from ..extensions import db
from .types import Timestamps, UTCDateTime

# Amount and id columns are 32-bit integers; nothing larger may reach them.
MAX_KRW = 2_000_000_000
MAX_ROW_ID = 2**31 - 1
# The most credits one manual adjustment may add or take away.
MAX_CREDIT_ADJUSTMENT = 10_000_000


def mask_card_number(value: str | None) -> str | None:
    """Return ``value`` with every digit but the first six and the last four masked.

    iamport sends card numbers masked; this keeps them masked whatever arrives, so a full
    number can never be stored (money rule 6). Shorter values keep only their last four.
    """
    if value is None:
        return None
    positions = [i for i, char in enumerate(value) if char.isdigit() or char == "*"]
    keep_head = 6 if len(positions) >= 12 else 0
    kept = set(positions[:keep_head]) | set(positions[-4:])
    return "".join(
        "*" if char.isdigit() and i not in kept else char for i, char in enumerate(value)
    )


def one_of(column: str, values) -> str:
    """Return a CHECK expression limiting ``column`` to ``values``."""
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


def leading(column, length: int):
    """Return ``column``'s first ``length`` characters as an expression with literal
    arguments: a statement uses an index on an expression only where it repeats it."""
    return func.substr(column, literal_column("1"), literal_column(str(length)), type_=String)


# --- staff -------------------------------------------------------------------------------

ROLES = ("viewer", "support", "admin")


def role_at_least(role: str, minimum: str) -> bool:
    """Return whether ``role`` may do what ``minimum`` may (roles grow along ROLES)."""
    return ROLES.index(role) >= ROLES.index(minimum)


class AdminUser(UserMixin, Timestamps, db.Model):
    """A member of staff who signs in to the dashboard."""

    __tablename__ = "admin_user"
    __table_args__ = (CheckConstraint(one_of("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="viewer")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locale: Mapped[str | None] = mapped_column(String(8))

    @property
    def is_active(self) -> bool:
        return self.active

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password, method=password_hash_method())

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def password_needs_rehash(self) -> bool:
        """Return whether the stored hash was made with another method or cost than today's."""
        return not self.password_hash.startswith(password_hash_method() + "$")

    def has_role(self, role: str) -> bool:
        """Return whether this user's role is at least ``role``."""
        return role_at_least(self.role, role)


def password_hash_method() -> str:
    """Return the configured password hash method (scrypt N=2^17 unless configured)."""
    if has_app_context():
        return current_app.config["PASSWORD_HASH_METHOD"]
    return "scrypt:131072:8:1"


# --- catalogue ---------------------------------------------------------------------------

INTERVAL_UNITS = ("month", "day")


class Plan(Timestamps, db.Model):
    """What a subscription costs and how often it is charged."""

    __tablename__ = "plan"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("interval_count > 0", name="interval_positive"),
        CheckConstraint(one_of("interval_unit", INTERVAL_UNITS), name="interval_unit"),
        CheckConstraint("credits_per_period IS NULL OR credits_per_period >= 0", name="credits"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(40))
    amount: Mapped[int] = mapped_column(Integer)
    interval_unit: Mapped[str] = mapped_column(String(8), default="month")
    interval_count: Mapped[int] = mapped_column(Integer, default=1)
    credits_per_period: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


# --- customers and subscriptions ---------------------------------------------------------

BILLING_KEY_STATES = ("active", "deleted", "missing")


class Customer(Timestamps, db.Model):
    """A billing key holder: ``customer_uid`` is the key's id at iamport.

    Only what iamport returns about the card is kept: its name, code and masked number.
    """

    __tablename__ = "customer"
    __table_args__ = (
        CheckConstraint(one_of("billing_key_status", BILLING_KEY_STATES), name="billing_key"),
        # Each search field's index carries the list's order (created_at, id): SQLite places
        # a match in the page's order from the index and reads the table only for the rows
        # that may make the page (a surname matches a fifth of all customers).
        Index("ix_customer_name_created", "name", "created_at", "id"),
        Index("ix_customer_email_created", "email", "created_at", "id"),
        Index("ix_customer_phone_created", "phone", "created_at", "id"),
        Index("ix_customer_phone_tail_created", "phone_tail", "created_at", "id"),
        Index("ix_customer_created", "created_at", "id"),
        # A short prefix (a surname, a live search's first keystrokes, "010") may match a
        # hundredth of all customers or more: these hold its matches in the page's order, and
        # carry the field so that the index alone answers (``queries.paging.PREFIX_HEADS``).
        Index("ix_customer_name_head1", leading(column("name"), 1), "created_at", "id", "name"),
        Index("ix_customer_name_head2", leading(column("name"), 2), "created_at", "id", "name"),
        Index("ix_customer_email_head1", leading(column("email"), 1), "created_at", "id",
              "email"),
        Index("ix_customer_email_head2", leading(column("email"), 2), "created_at", "id",
              "email"),
        Index("ix_customer_phone_head3", leading(column("phone"), 3), "created_at", "id",
              "phone"),
        Index("ix_customer_phone_head4", leading(column("phone"), 4), "created_at", "id",
              "phone"),
        Index("ix_customer_phone_head5", leading(column("phone"), 5), "created_at", "id",
              "phone"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_uid: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    # Digits only, so that "010-1234-5678" and "01012345678" find the same customer.
    phone: Mapped[str] = mapped_column(String(20), default="")
    # The last four digits, kept apart so "5678" is an indexed match, not a table scan.
    phone_tail: Mapped[str] = mapped_column(String(4), default="")
    card_name: Mapped[str | None] = mapped_column(String(40))
    card_code: Mapped[str | None] = mapped_column(String(10))
    card_number: Mapped[str | None] = mapped_column(String(24))
    card_type: Mapped[int | None] = mapped_column(Integer)
    pg_provider: Mapped[str | None] = mapped_column(String(16))
    billing_key_status: Mapped[str] = mapped_column(String(8), default="active")
    billing_key_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    subscriptions: Mapped[list[Subscription]] = relationship(back_populates="customer")

    @validates("email")
    def lowercase_email(self, key: str, value: str | None) -> str:
        # Kept lowercased so the search box finds an address however it is typed.
        return (value or "").strip().lower()

    @validates("card_number")
    def keep_card_number_masked(self, key: str, value: str | None) -> str | None:
        return mask_card_number(value)

    @validates("phone")
    def keep_phone_tail(self, key: str, value: str | None) -> str:
        self.phone_tail = (value or "")[-4:]
        return value or ""


SUBSCRIPTION_STATUSES = ("active", "past_due", "paused", "cancelled")


class Subscription(Timestamps, db.Model):
    """A customer's plan, billed period after period.

    ``current_period`` counts paid periods (0 before the first charge); the charge for
    period N+1 is what ``next_charge_at`` points at.
    """

    __tablename__ = "subscription"
    __table_args__ = (
        CheckConstraint(one_of("status", SUBSCRIPTION_STATUSES), name="status"),
        CheckConstraint("failed_attempts >= 0", name="failed_attempts"),
        CheckConstraint("current_period >= 0", name="current_period"),
        Index("ix_subscription_status_next", "status", "next_charge_at"),
        Index("ix_subscription_due", "next_attempt_at"),
        Index("ix_subscription_customer", "customer_id", "created_at"),
        Index("ix_subscription_plan", "plan_id", "status"),
        # The subscriptions list pages by (created_at, id), filtered by status or not.
        Index("ix_subscription_time", "created_at", "id"),
        Index("ix_subscription_status_time", "status", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id"))
    next_plan_id: Mapped[int | None] = mapped_column(ForeignKey("plan.id"))
    status: Mapped[str] = mapped_column(String(10), default="active")
    current_period: Mapped[int] = mapped_column(Integer, default=0)
    current_period_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the next period is due (nominal, unmoved by retries), and when the next attempt
    # at it is due (the first try, or a dunning retry); None while an attempt is in flight.
    next_charge_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    cancel_reason: Mapped[str | None] = mapped_column(String(256))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resume_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The local date and time (in DISPLAY_TIMEZONE, stored naive on purpose: a wall-clock
    # reading, not an instant) every period end is counted from: 31 January gives 28/29
    # February, then 31 March. Restarting a lapsed subscription moves it.
    billing_anchor: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))

    customer: Mapped[Customer] = relationship(back_populates="subscriptions")
    plan: Mapped[Plan] = relationship(foreign_keys=[plan_id])
    next_plan: Mapped[Plan | None] = relationship(foreign_keys=[next_plan_id])


# --- mirrors of iamport ------------------------------------------------------------------

SCHEDULE_STATUSES = ("scheduled", "executed", "revoked")
SCHEDULE_PAYMENT_STATUSES = ("paid", "failed", "cancelled")


class Schedule(Timestamps, db.Model):
    """Mirror of an iamport scheduled payment (``POST /subscribe/payments/schedule``)."""

    __tablename__ = "schedule"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_non_negative"),
        CheckConstraint(one_of("schedule_status", SCHEDULE_STATUSES), name="schedule_status"),
        CheckConstraint(
            "payment_status IS NULL OR " + one_of("payment_status", SCHEDULE_PAYMENT_STATUSES),
            name="payment_status",
        ),
        # Covers the upcoming-charges calendar (count and sum of waiting schedules per day).
        Index("ix_schedule_status_at", "schedule_status", "schedule_at", "amount"),
        Index("ix_schedule_customer_at", "customer_id", "schedule_at"),
        Index("ix_schedule_at", "schedule_at", "id"),
        Index("ix_schedule_subscription_period", "subscription_id", "period"),
        # Money rule 1: never two live schedules for one subscription period.
        Index(
            "uq_schedule_live_period",
            "subscription_id",
            "period",
            unique=True,
            sqlite_where=text("schedule_status = 'scheduled'"),
            postgresql_where=text("schedule_status = 'scheduled'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_uid: Mapped[str] = mapped_column(String(40), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("subscription.id"))
    period: Mapped[int | None] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    schedule_at: Mapped[datetime] = mapped_column(UTCDateTime)
    amount: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(40), default="")
    schedule_status: Mapped[str] = mapped_column(String(10), default="scheduled")
    payment_status: Mapped[str | None] = mapped_column(String(10))
    imp_uid: Mapped[str | None] = mapped_column(String(32))
    fail_reason: Mapped[str | None] = mapped_column(String(256))
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set once iamport confirmed the registration; a row without it is re-checked by sync.
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    customer: Mapped[Customer] = relationship()
    subscription: Mapped[Subscription | None] = relationship()
    # The charge it made (same merchant_uid): what became of it, e.g. a partial refund.
    payment: Mapped[Payment | None] = relationship(
        primaryjoin="foreign(Schedule.merchant_uid) == Payment.merchant_uid",
        viewonly=True, uselist=False,
    )


PAYMENT_STATUSES = ("pending", "paid", "failed", "cancelled")
PAYMENT_ORIGINS = ("schedule", "again", "manual")


# A payment refunded in part or in full. Written out, not bound: an index with this condition
# serves only statements that state it the same way.
REFUNDED_CONDITION = text("cancel_amount > 0")


class Payment(Timestamps, db.Model):
    """Mirror of an iamport payment, or a charge we asked for whose outcome is not known yet.

    A row is written with status ``pending`` and its ``merchant_uid`` *before* iamport is
    called, so a retry, a double click or a second worker finds it and never charges twice.
    """

    __tablename__ = "payment"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_non_negative"),
        CheckConstraint("cancel_amount >= 0", name="cancel_non_negative"),
        CheckConstraint("cancel_amount <= amount", name="cancel_within_amount"),
        CheckConstraint(one_of("status", PAYMENT_STATUSES), name="status"),
        CheckConstraint(one_of("origin", PAYMENT_ORIGINS), name="origin"),
        # Trailing columns cover the overview's success rates without reading rows.
        Index("ix_payment_status_time", "status", "created_at", "id", "attempt", "origin"),
        Index("ix_payment_customer_time", "customer_id", "created_at", "id"),
        Index("ix_payment_subscription_period", "subscription_id", "period"),
        Index("ix_payment_time", "created_at", "id"),
        Index("ix_payment_origin_time", "origin", "created_at", "id"),
        # The payments list filtered by amount reads each amount's payments newest first.
        Index("ix_payment_amount_time", "amount", "created_at", "id"),
        # Covers revenue per day: a paid_at range read from the index alone.
        Index("ix_payment_paid_at", "paid_at", "amount", "cancel_amount"),
        # The payments refunded in part or in full (about 2%), for the "partially refunded"
        # filter: reading all payments newest first for them reads fifty times as many.
        Index("ix_payment_refunded_time", "created_at", "id",
              sqlite_where=REFUNDED_CONDITION, postgresql_where=REFUNDED_CONDITION),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    imp_uid: Mapped[str | None] = mapped_column(String(32), unique=True)
    merchant_uid: Mapped[str] = mapped_column(String(40), unique=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"))
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("subscription.id"))
    period: Mapped[int | None] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    origin: Mapped[str] = mapped_column(String(10), default="schedule")
    name: Mapped[str] = mapped_column(String(40), default="")
    amount: Mapped[int] = mapped_column(Integer)
    cancel_amount: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    card_name: Mapped[str | None] = mapped_column(String(40))
    card_number: Mapped[str | None] = mapped_column(String(24))
    pg_tid: Mapped[str | None] = mapped_column(String(64))
    apply_num: Mapped[str | None] = mapped_column(String(20))
    receipt_url: Mapped[str | None] = mapped_column(String(500))
    fail_reason: Mapped[str | None] = mapped_column(String(256))
    # Why staff charged by hand, and who: money-moving actions carry a reason.
    reason: Mapped[str | None] = mapped_column(String(256))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("admin_user.id"))
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    customer: Mapped[Customer | None] = relationship()
    subscription: Mapped[Subscription | None] = relationship()
    refunds: Mapped[list[Refund]] = relationship(
        back_populates="payment", order_by="Refund.id"
    )

    @validates("card_number")
    def keep_card_number_masked(self, key: str, value: str | None) -> str | None:
        return mask_card_number(value)

    @property
    def refundable_amount(self) -> int:
        return refundable_amount(self.status, self.amount, self.cancel_amount)


def refundable_amount(status: str, amount: int, cancel_amount: int) -> int:
    """Return what can still be refunded of a payment: what was paid and is not refunded yet."""
    return amount - cancel_amount if status in ("paid", "cancelled") else 0


REFUND_STATUSES = ("pending", "succeeded", "rejected")


class Refund(Timestamps, db.Model):
    """One cancellation of a payment: asked for here, or found in iamport's cancel history.

    ``pending`` means the request was sent and its answer lost; only asking iamport
    resolves it (money rule 2).
    """

    __tablename__ = "refund"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(one_of("status", REFUND_STATUSES), name="status"),
        Index("ix_refund_payment", "payment_id", "id"),
        Index("ix_refund_status_time", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id"))
    amount: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(256), default="")
    status: Mapped[str] = mapped_column(String(10), default="pending")
    # The refundable balance we believed in when asking (sent as ``checksum``).
    checksum: Mapped[int | None] = mapped_column(Integer)
    cancellation_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    pg_tid: Mapped[str | None] = mapped_column(String(64))
    receipt_url: Mapped[str | None] = mapped_column(String(500))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("admin_user.id"))
    # Issued with the staff form, so the same form submitted twice refunds once.
    request_key: Mapped[str | None] = mapped_column(String(40), unique=True)
    error: Mapped[str | None] = mapped_column(String(256))

    payment: Mapped[Payment] = relationship(back_populates="refunds")


# --- ledgers and logs --------------------------------------------------------------------

CREDIT_REASONS = ("period_paid", "refund_reversal", "manual")


class CreditEntry(db.Model):
    """One movement in a customer's credit ledger; the balance is the sum of deltas."""

    __tablename__ = "credit_entry"
    __table_args__ = (
        CheckConstraint(one_of("reason", CREDIT_REASONS), name="reason"),
        CheckConstraint("delta <> 0", name="delta_non_zero"),
        # A payment grants its credits once and reverses them once.
        UniqueConstraint("payment_id", "reason", name="uq_credit_entry_payment_reason"),
        Index("ix_credit_entry_customer", "customer_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    delta: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(20))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("admin_user.id"))
    note: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


WEBHOOK_STATES = ("received", "processed", "failed", "ignored")


class WebhookEvent(db.Model):
    """A notification from iamport exactly as it arrived, and what became of it.

    The raw body is stored and committed before anything else happens (money rule 4).
    """

    __tablename__ = "webhook_event"
    __table_args__ = (
        CheckConstraint(one_of("state", WEBHOOK_STATES), name="state"),
        Index("ix_webhook_event_state_time", "state", "received_at"),
        Index("ix_webhook_event_imp_uid", "imp_uid"),
        Index("ix_webhook_event_merchant_uid", "merchant_uid"),
        Index("ix_webhook_event_time", "received_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    content_type: Mapped[str | None] = mapped_column(String(200))
    raw_body: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    imp_uid: Mapped[str | None] = mapped_column(String(32))
    merchant_uid: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str | None] = mapped_column(String(20))
    cancellation_id: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(10), default="received")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEntry(db.Model):
    """Who did what, to which record, why, and how it ended."""

    __tablename__ = "audit_entry"
    __table_args__ = (
        Index("ix_audit_entry_target", "target_type", "target_id", "id"),
        Index("ix_audit_entry_time", "created_at", "id"),
        # The audit log filtered by action or by actor, newest first.
        Index("ix_audit_entry_action_time", "action", "created_at", "id"),
        Index("ix_audit_entry_actor_time", "actor_label", "created_at", "id"),
        Index("ix_audit_entry_customer", "customer_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("admin_user.id"))
    # "system", "cli", "api:<token name>" or the staff member's email at the time.
    actor_label: Mapped[str] = mapped_column(String(254), default="system")
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(80))
    # The customer the action concerns, so a customer's timeline is one indexed read.
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"))
    reason: Mapped[str | None] = mapped_column(String(256))
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    outcome: Mapped[str] = mapped_column(String(20), default="ok")
    ip_address: Mapped[str | None] = mapped_column(String(64))

    actor: Mapped[AdminUser | None] = relationship()


# Built once: the customer page asks for it on every view.
CREDIT_BALANCE = (
    db.select(func.coalesce(func.sum(CreditEntry.delta), 0))
    .where(CreditEntry.customer_id == bindparam("customer_id"))
)


def credit_balance(customer_id: int) -> int:
    """Return a customer's credit balance: the sum of its ledger."""
    return int(db.session.scalar(CREDIT_BALANCE, {"customer_id": customer_id}))


# Staff sessions, API tokens, sign-in attempts, exports, go-live steps, notes, saved filters
# and refused webhooks: tables of the console's own operation, kept in their own module.
from .operations import (  # noqa: E402
    API_SCOPES,
    ApiToken,
    CustomerNote,
    ExportRun,
    GoLiveStep,
    SavedFilter,
    SignInAttempt,
    StaffSession,
    WebhookRefusal,
)
from .rollups import AttentionItem, DayRollup, PlanRollup  # noqa: E402

__all__ = [
    "API_SCOPES",
    "ApiToken",
    "AttentionItem",
    "CustomerNote",
    "DayRollup",
    "PlanRollup",
    "ExportRun",
    "GoLiveStep",
    "SavedFilter",
    "SignInAttempt",
    "StaffSession",
    "UTCDateTime",
    "WebhookRefusal",
    "utcnow",
]
