"""The overview: today's numbers, what needs attention, rates, the chart and the calendar."""
from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import case, exists, func, select
from sqlalchemy.orm import joinedload

from .. import formatting
from ..attention import needs_attention, subscription_attention
from ..clock import now as clock_now
from ..config import billing_mode
from ..extensions import db
from ..models import (
    Payment,
    Plan,
    Refund,
    Schedule,
    Subscription,
    WebhookEvent,
)


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
    # Subscriptions that will not be charged as they should, each with its attention codes.
    stalled: list[tuple[Subscription, list[str]]] = field(default_factory=list)
    stalled_count: int = 0


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
    now = clock_now()
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
    stalled_query = select(Subscription).where(needs_attention())
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
        stalled=[(subscription, subscription_attention(subscription))
                 for subscription in db.session.scalars(
                     stalled_query.options(joinedload(Subscription.customer),
                                           joinedload(Subscription.plan))
                     .order_by(Subscription.id.asc()).limit(attention))],
        stalled_count=_count(stalled_query),
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
    today = clock_now().astimezone(formatting.display_zone()).date()
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
