"""Rollups: the overview's small tables, kept current in the transaction of each change."""
from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db

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
