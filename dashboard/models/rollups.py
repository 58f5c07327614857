"""Rollups: the overview's small tables, kept current in the transaction of each change."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import UTCDateTime

# Sums of many payments may pass what a 32-bit column holds.
RollupAmount = BigInteger().with_variant(Integer, "sqlite")


class DayRollup(db.Model):
    """The overview's figures for one display-zone day, kept current by ``rollups``.

    Paid figures count payments by the day they were paid (``refunded_amount`` is what has
    been refunded of them since); failed and first-attempt figures count payments by the day
    they were requested; waiting charges count live schedules by the day they are due;
    ``refunds_on_day_*`` count the refunds that went through that day, whatever day their
    payment was paid.
    """

    __tablename__ = "day_rollup"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    paid_count: Mapped[int] = mapped_column(Integer, default=0)
    paid_amount: Mapped[int] = mapped_column(RollupAmount, default=0)
    refunded_amount: Mapped[int] = mapped_column(RollupAmount, default=0)
    refunded_count: Mapped[int] = mapped_column(Integer, default=0)
    failed_count: Mapped[int] = mapped_column(Integer, default=0)
    failed_amount: Mapped[int] = mapped_column(RollupAmount, default=0)
    # Automatic first attempts that have an outcome, and how many of them were paid.
    first_attempts: Mapped[int] = mapped_column(Integer, default=0)
    first_attempts_paid: Mapped[int] = mapped_column(Integer, default=0)
    # Failed automatic first attempts of a subscription, and how many a later attempt paid.
    first_failures: Mapped[int] = mapped_column(Integer, default=0)
    recovered: Mapped[int] = mapped_column(Integer, default=0)
    scheduled_count: Mapped[int] = mapped_column(Integer, default=0)
    scheduled_amount: Mapped[int] = mapped_column(RollupAmount, default=0)
    refunds_on_day_count: Mapped[int] = mapped_column(Integer, default=0)
    refunds_on_day_amount: Mapped[int] = mapped_column(RollupAmount, default=0)


class PlanRollup(db.Model):
    """How many subscriptions are active (and past due) on each plan, kept current by
    ``rollups``."""

    __tablename__ = "plan_rollup"

    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id"), primary_key=True)
    active_count: Mapped[int] = mapped_column(Integer, default=0)
    past_due_count: Mapped[int] = mapped_column(Integer, default=0)


# A customer rollup row's state or plan that stands for any: the customers list filters by a
# state, by a plan, or by both.
ANY_STATUS = ""
ANY_PLAN = 0

# Rows counting no subscription stay (a later change may count one again) but are left out of
# the filter's index. Written out, not bound: the index serves only statements that state its
# condition the same way.
COUNTS_SUBSCRIPTIONS = text("subscriptions > 0")


class CustomerSubscriptionRollup(db.Model):
    """How many of a customer's subscriptions are in a state, on a plan, or both, kept current
    by ``rollups``.

    Each subscription counts under (its state, its plan), (its state, ``ANY_PLAN``) and
    (``ANY_STATUS``, its plan). The row carries its customer's ``created_at``, so the customers
    list filtered by a state or a plan reads its page, newest customers first, from the index.
    """

    __tablename__ = "customer_subscription_rollup"
    __table_args__ = (
        Index("ix_customer_subscription_rollup_filter",
              "status", "plan_id", "customer_created_at", "customer_id",
              sqlite_where=COUNTS_SUBSCRIPTIONS, postgresql_where=COUNTS_SUBSCRIPTIONS),
    )

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(10), primary_key=True)
    # A plan's id, or ANY_PLAN: no foreign key.
    plan_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    customer_created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    subscriptions: Mapped[int] = mapped_column(Integer, default=0)


class AttentionItem(db.Model):
    """A subscription that needs staff attention, and why, kept current by ``attention``.

    Only such subscriptions have a row, so the overview lists and counts them without
    looking at every subscription.
    """

    __tablename__ = "attention_item"

    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscription.id", ondelete="CASCADE"), primary_key=True)
    billing_key_missing: Mapped[bool] = mapped_column(Boolean, default=False)
    not_scheduled: Mapped[bool] = mapped_column(Boolean, default=False)
    charge_outcome_unknown: Mapped[bool] = mapped_column(Boolean, default=False)

    subscription = relationship("Subscription")
