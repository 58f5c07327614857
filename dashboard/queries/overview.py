"""The overview: today's numbers, what needs attention, rates, the chart and the calendar."""
from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import Row, func, select

from .. import formatting, rollups
from ..attention import ATTENTION_CODES
from ..clock import now as clock_now
from ..config import billing_mode, webhook_intake_open
from ..extensions import db
from ..models import (
    AttentionItem,
    Customer,
    Payment,
    Plan,
    PlanRollup,
    Refund,
    Schedule,
    Subscription,
    WebhookEvent,
    WebhookRefusal,
)

# How many rows of each attention queue the overview lists.
ATTENTION_LIST_LENGTH = 10
# A webhook waiting longer than this means no worker is processing them.
STALLED_BACKLOG_SECONDS = 300


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
    refunded: Tally = field(default_factory=Tally)
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
    refunded_today: Tally = field(default_factory=Tally)
    refunded_this_month: Tally = field(default_factory=Tally)
    webhook_backlog: WebhookBacklog | None = None
    webhook_intake_open: bool = False

    # Subscriptions that will not be charged as they should, each with its attention codes.
    stalled: list[tuple[Subscription, list[str]]] = field(default_factory=list)
    stalled_count: int = 0
    # The day rollups read, for the calendar of the same page.
    days: RollupDays | None = None


@dataclass(frozen=True)
class WebhookBacklog:
    """Webhooks stored but not processed yet, and how long the oldest has waited."""

    waiting: int
    oldest_seconds: int | None

    @property
    def stalled(self) -> bool:
        return self.oldest_seconds is not None and self.oldest_seconds > STALLED_BACKLOG_SECONDS


# Built once, as columns: the webhooks list reads both on every request (the health check the
# backlog).
WEBHOOK_BACKLOG = (select(func.count(WebhookEvent.id), func.min(WebhookEvent.received_at))
                   .where(WebhookEvent.state == "received"))
WEBHOOK_REFUSALS = (
    select(WebhookRefusal.reason, WebhookRefusal.refusals, WebhookRefusal.last_refused_at)
    .order_by(WebhookRefusal.refusals.desc(), WebhookRefusal.reason))


def webhook_backlog() -> WebhookBacklog:
    """Return how many webhooks wait for processing and the age of the oldest."""
    count, oldest = db.session.connection().execute(WEBHOOK_BACKLOG).one()
    return backlog_of(count, oldest)


def backlog_of(count: int | None, oldest: datetime | None) -> WebhookBacklog:
    age = None if oldest is None else max(0, int((clock_now() - oldest).total_seconds()))
    return WebhookBacklog(int(count or 0), age)


def webhook_refusals() -> list[Row]:
    """Return the refused-webhook counters, most refused first: rows of (``reason``,
    ``refusals``, ``last_refused_at``)."""
    return db.session.connection().execute(WEBHOOK_REFUSALS).all()


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


@dataclass(frozen=True)
class QueueSizes:
    """How many rows wait in each of the overview's attention queues."""

    pending_payments: int
    pending_refunds: int
    failed_webhooks: int
    waiting_webhooks: int
    oldest_waiting_webhook: datetime | None
    stalled: int


def _count(model, *conditions):
    return select(func.count()).select_from(model).where(*conditions).scalar_subquery()


# The overview's statements are built once (the day range's in ``rollups``, with the days as
# parameters): building a statement and its cache key cost as much as running it here.
QUEUE_SIZES = select(
    _count(Payment, Payment.status == "pending"),
    _count(Refund, Refund.status == "pending"),
    _count(WebhookEvent, WebhookEvent.state == "failed"),
    _count(WebhookEvent, WebhookEvent.state == "received"),
    select(func.min(WebhookEvent.received_at))
    .where(WebhookEvent.state == "received").scalar_subquery(),
    _count(AttentionItem),
)


def queue_sizes() -> QueueSizes:
    """Count every attention queue in one statement: one round trip, each count served by
    its queue's index."""
    return QueueSizes(*db.session.execute(QUEUE_SIZES).one())


def first_rows(query, size: int) -> list:
    """Return the first rows of a queue of ``size`` rows (no query for an empty queue), as
    plain rows read on the session's connection: the overview only prints them."""
    return db.session.connection().execute(query).all() if size else []


_SUBSCRIPTION_NAMES = (Customer.name.label("customer_name"), Customer.customer_uid,
                       Plan.name.label("plan_name"))
# The first rows of each attention queue, oldest (or most recent failure) first.
PAST_DUE_FIRST = (
    select(Subscription.id, *_SUBSCRIPTION_NAMES, Subscription.failed_attempts)
    .join(Customer, Customer.id == Subscription.customer_id)
    .join(Plan, Plan.id == Subscription.plan_id)
    .where(Subscription.status == "past_due")
    .order_by(Subscription.next_charge_at.asc()).limit(ATTENTION_LIST_LENGTH))
PENDING_PAYMENTS_FIRST = (
    select(Payment.id.label("payment_id"), Payment.merchant_uid, Payment.amount,
           Payment.created_at)
    .where(Payment.status == "pending").order_by(Payment.created_at.asc())
    .limit(ATTENTION_LIST_LENGTH))
PENDING_REFUNDS_FIRST = (
    select(Refund.payment_id, Payment.merchant_uid, Refund.amount, Refund.created_at)
    .join(Payment, Payment.id == Refund.payment_id)
    .where(Refund.status == "pending").order_by(Refund.created_at.asc())
    .limit(ATTENTION_LIST_LENGTH))
FAILED_WEBHOOKS_FIRST = (
    select(WebhookEvent.imp_uid, WebhookEvent.merchant_uid, WebhookEvent.received_at)
    .where(WebhookEvent.state == "failed").order_by(WebhookEvent.received_at.desc())
    .limit(ATTENTION_LIST_LENGTH))
STALLED_FIRST = (
    select(Subscription.id, *_SUBSCRIPTION_NAMES,
           *(getattr(AttentionItem, code) for code in ATTENTION_CODES))
    .select_from(AttentionItem)
    .join(Subscription, Subscription.id == AttentionItem.subscription_id)
    .join(Customer, Customer.id == Subscription.customer_id)
    .join(Plan, Plan.id == Subscription.plan_id)
    .order_by(AttentionItem.subscription_id.asc()).limit(ATTENTION_LIST_LENGTH))


@dataclass
class RollupDays:
    """The day rollups of a range of days, read once for the overview and its calendar."""

    first: date
    last: date
    rows: dict[date, Row]  # day_rollup rows

    @classmethod
    def read(cls, first: date, last: date) -> RollupDays:
        return cls(first, last, rollups.day_range(first, last))

    def get(self, day: date) -> Row | None:
        return self.rows.get(day)

    def covers(self, first: date, last: date) -> bool:
        return self.first <= first and last <= self.last

    def total(self, first: date, last: date, kind: str) -> Tally:
        """Add up a kind's count and amount from day ``first`` to ``last``."""
        tallies = [day_tally(row, kind) for day, row in self.rows.items() if first <= day <= last]
        return Tally(sum(t.count for t in tallies), sum(t.amount for t in tallies))


def overview() -> Overview:
    """Return the numbers and lists of the overview page.

    Figures per day and per plan come from the rollups (a few small rows, whatever the
    number of payments); the attention queues are counted in one statement, and only those
    with rows are listed. The days read cover this month's calendar as well
    (``Overview.days``).
    """
    now = clock_now()
    today = now.astimezone(formatting.display_zone()).date()
    # 30 days back for the chart, a week ahead, and this month's calendar weeks either side.
    days = RollupDays.read(today - timedelta(days=36), today + timedelta(days=42))
    past = [days.get(today - timedelta(days=back)) for back in range(29, -1, -1)]
    recent = [row for row in past if row is not None]
    coming = [row for row in (days.get(today + timedelta(days=ahead)) for ahead in range(7))
              if row is not None]
    start, end = formatting.day_start(today), formatting.day_end(today)
    if billing_mode() == "again":
        scheduled_today = upcoming_tally(start, end)
        upcoming_week = upcoming_tally(now, now + timedelta(days=7))
    else:
        scheduled_today = day_tally(days.get(today), "scheduled")
        upcoming_week = Tally(sum(row.scheduled_count for row in coming),
                              sum(row.scheduled_amount for row in coming))
    totals = subscription_totals()
    first_total = sum(row.first_attempts for row in recent)
    first_paid = sum(row.first_attempts_paid for row in recent)
    failed_total = sum(row.first_failures for row in recent)
    recovered = sum(row.recovered for row in recent)
    queues = queue_sizes()
    past_due = first_rows(PAST_DUE_FIRST, totals.past_due)
    pending_payments = first_rows(PENDING_PAYMENTS_FIRST, queues.pending_payments)
    pending_refunds = first_rows(PENDING_REFUNDS_FIRST, queues.pending_refunds)
    failed_webhooks = first_rows(FAILED_WEBHOOKS_FIRST, queues.failed_webhooks)
    stalled = first_rows(STALLED_FIRST, queues.stalled)
    return Overview(
        today=today,
        scheduled_today=scheduled_today,
        paid_today=day_tally(days.get(today), "paid"),
        failed_today=day_tally(days.get(today), "failed"),
        upcoming_week=upcoming_week,
        active_subscriptions=totals.active,
        mrr=totals.mrr,
        first_attempt_rate=first_paid / first_total if first_total else None,
        first_attempt_total=first_total,
        recovery_rate=recovered / failed_total if failed_total else None,
        recovery_total=failed_total,
        past_due=past_due,
        past_due_count=totals.past_due,
        pending_payments=pending_payments,
        pending_payment_count=queues.pending_payments,
        pending_refunds=pending_refunds,
        pending_refund_count=queues.pending_refunds,
        failed_webhooks=failed_webhooks,
        failed_webhook_count=queues.failed_webhooks,
        revenue=[
            DayBar(today - timedelta(days=29 - index),
                   row.paid_amount - row.refunded_amount if row else 0,
                   row.paid_count if row else 0)
            for index, row in enumerate(past)
        ],
        refunded_today=day_tally(days.get(today), "refunds_on_day"),
        refunded_this_month=days.total(today.replace(day=1), today, "refunds_on_day"),
        webhook_backlog=backlog_of(queues.waiting_webhooks, queues.oldest_waiting_webhook),
        webhook_intake_open=(webhook_intake_open(current_app.config)
                             and not current_app.config.get("DEMO")),
        stalled=[(row, [code for code in ATTENTION_CODES if getattr(row, code)])
                 for row in stalled],
        stalled_count=queues.stalled,
        days=days,
    )


def day_tally(row, kind: str) -> Tally:
    """Return one day's count and amount of a kind (paid, failed, scheduled, refunds_on_day)
    from its rollup."""
    if row is None:
        return Tally()
    return Tally(getattr(row, f"{kind}_count"), getattr(row, f"{kind}_amount"))


@dataclass(frozen=True)
class SubscriptionTotals:
    active: int
    past_due: int
    mrr: int


PLAN_TOTALS = (
    select(Plan.amount, Plan.interval_unit, Plan.interval_count, PlanRollup.active_count,
           PlanRollup.past_due_count)
    .join(Plan, Plan.id == PlanRollup.plan_id))


def subscription_totals() -> SubscriptionTotals:
    """Return active and past-due subscriptions and the monthly recurring revenue in KRW,
    from the plan rollups."""
    active = past_due = 0
    mrr = 0.0
    for amount, unit, every, subscriptions, behind in db.session.execute(PLAN_TOTALS):
        active += subscriptions
        past_due += behind
        per_month = amount / every if unit == "month" else amount * (365 / 12) / every
        mrr += per_month * subscriptions
    return SubscriptionTotals(active, past_due, round(mrr))


def charge_calendar(year: int, month: int,
                    days: RollupDays | None = None) -> list[list[CalendarDay]]:
    """Return a month of weeks (Monday first): charges waiting, paid, failed and refunded per
    day.

    Waiting charges come from the schedules' rollups (schedule mode) or subscriptions' next
    attempts (again mode); the rest from the day rollups, read here unless ``days`` (the
    overview's) already covers the weeks.
    """
    weeks = calendar.Calendar(firstweekday=0).monthdatescalendar(year, month)
    since, until = formatting.day_start(weeks[0][0]), formatting.day_end(weeks[-1][-1])
    tallies: dict[date, dict[str, Tally]] = defaultdict(dict)
    local_day_expression = rollups.local_day_expression

    def collect(kind: str, query) -> None:
        for key, count, amount in db.session.execute(query).all():
            tallies[date.fromisoformat(str(key))][kind] = Tally(int(count), int(amount or 0))

    again_mode = billing_mode() == "again"
    if again_mode:
        day = local_day_expression(Subscription.next_attempt_at)
        collect("scheduled", select(day, func.count(Subscription.id), func.sum(Plan.amount))
                .select_from(Subscription)
                .join(Plan, Plan.id == func.coalesce(Subscription.next_plan_id,
                                                     Subscription.plan_id))
                .where(Subscription.status.in_(("active", "past_due")),
                       Subscription.next_attempt_at >= since,
                       Subscription.next_attempt_at < until)
                .group_by(day))
    if days is None or not days.covers(weeks[0][0], weeks[-1][-1]):
        days = RollupDays.read(weeks[0][0], weeks[-1][-1])
    for row in days.rows.values():
        tallies[row.day]["paid"] = day_tally(row, "paid")
        tallies[row.day]["failed"] = day_tally(row, "failed")
        tallies[row.day]["refunded"] = day_tally(row, "refunds_on_day")
        if not again_mode:
            tallies[row.day]["scheduled"] = day_tally(row, "scheduled")
    today = clock_now().astimezone(formatting.display_zone()).date()
    return [
        [
            CalendarDay(
                day=d, in_month=d.month == month, is_today=d == today,
                scheduled=tallies[d].get("scheduled", Tally()),
                paid=tallies[d].get("paid", Tally()),
                failed=tallies[d].get("failed", Tally()),
                refunded=tallies[d].get("refunded", Tally()),
            )
            for d in week
        ]
        for week in weeks
    ]
