"""Rollups: the overview's daily and per-plan figures, kept current as rows change.

Every flush that changes a payment, subscription, schedule or refund in a way the overview counts
reads the rows it touches before and after (the *before* read locks them, so two workers never
both count the same change), and keeps the difference; just before the transaction commits,
the differences are added to ``day_rollup`` and ``plan_rollup`` with atomic increments
(``INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n``), in key order so concurrent
committers never deadlock. A change is therefore counted in the same transaction as the change
itself, once, and only if the row's figures really moved: a result applied twice adds nothing
the second time. A rolled-back transaction drops what it counted.

What each figure means, per display-zone day (and ``recount`` says the same in SQL):

- paid: payments with a ``paid_at`` that day (count and amount), and what has been refunded
  of them since (``refunded_amount``, ``refunded_count``);
- failed: payments requested that day whose status is ``failed``;
- first attempts: automatic (not manual) first attempts requested that day that have an
  outcome, and how many of them were paid;
- first failures: those first attempts of a subscription that failed, and how many of them a
  later attempt of the same period paid (recovered);
- scheduled: waiting (``scheduled``) schedules due that day;
- refunds on the day: refunds that went through (``succeeded``) that day (count and amount).

Per plan: active and past-due subscriptions. Per customer: how many of its subscriptions are
in each state, on each plan, and both (what the customers list filters by). Rows written around
the ORM (a bulk load) need ``flask --app dashboard rebuild-rollups``, which recounts everything
from the raw rows.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date

from flask import current_app
from sqlalchemy import (
    Row,
    bindparam,
    case,
    delete,
    event,
    exists,
    func,
    inspect,
    or_,
    select,
    tuple_,
)
from sqlalchemy.orm import Session

from . import formatting
from .extensions import db
from .models import Customer, DayRollup, Payment, PlanRollup, Refund, Schedule, Subscription
from .models.rollups import ANY_PLAN, ANY_STATUS, CustomerSubscriptionRollup

DAY_COLUMNS = (
    "paid_count", "paid_amount", "refunded_amount", "refunded_count", "failed_count",
    "failed_amount", "first_attempts", "first_attempts_paid", "first_failures", "recovered",
    "scheduled_count", "scheduled_amount", "refunds_on_day_count", "refunds_on_day_amount",
)
PLAN_COLUMNS = ("active_count", "past_due_count")
SETTLED = ("paid", "failed", "cancelled")
SUCCEEDED = ("paid", "cancelled")

# The columns whose change can move a figure; a flush that changes none of them is ignored.
WATCHED = {
    Payment: ("paid_at", "amount", "cancel_amount", "status", "created_at", "attempt", "origin",
              "subscription_id", "period"),
    Subscription: ("status", "plan_id", "customer_id"),
    Schedule: ("schedule_status", "schedule_at", "amount"),
    Refund: ("status", "cancelled_at", "amount"),
}
PAYMENT_COLUMNS = (Payment.id, Payment.paid_at, Payment.amount, Payment.cancel_amount,
                   Payment.status, Payment.created_at, Payment.attempt, Payment.origin,
                   Payment.subscription_id, Payment.period)

# (table, key, column): a day's figure is ("day", date, column); a plan's is ("plan", id, ...);
# a customer's is ("customer", (customer id, status, plan id, customer's created_at), ...).
Figures = Counter


def local_day(moment) -> date:
    return formatting.to_local(moment).date()


# --- what one state of some rows contributes ------------------------------------------------


def payment_figures(rows: Iterable) -> Figures:
    """Return what these payment rows add to the figures (groups must be complete)."""
    figures: Figures = Counter()
    rows = list(rows)
    periods_paid_later = {
        (row.subscription_id, row.period) for row in rows
        if row.subscription_id is not None and row.period is not None and row.attempt > 1
        and row.status in SUCCEEDED
    }
    for row in rows:
        if row.paid_at is not None:
            day = local_day(row.paid_at)
            figures["day", day, "paid_count"] += 1
            figures["day", day, "paid_amount"] += row.amount
            figures["day", day, "refunded_amount"] += row.cancel_amount
            figures["day", day, "refunded_count"] += 1 if row.cancel_amount > 0 else 0
        requested = local_day(row.created_at)
        if row.status == "failed":
            figures["day", requested, "failed_count"] += 1
            figures["day", requested, "failed_amount"] += row.amount
        if row.attempt == 1 and row.origin != "manual" and row.status in SETTLED:
            figures["day", requested, "first_attempts"] += 1
            figures["day", requested, "first_attempts_paid"] += row.status in SUCCEEDED
            if row.status == "failed" and row.subscription_id is not None:
                figures["day", requested, "first_failures"] += 1
                figures["day", requested, "recovered"] += (
                    (row.subscription_id, row.period) in periods_paid_later
                )
    return figures


def subscription_figures(rows: Iterable) -> Figures:
    figures: Figures = Counter()
    for row in rows:
        if row.status in ("active", "past_due"):
            figures["plan", row.plan_id, f"{row.status}_count"] += 1
        for key in customer_keys(row.customer_id, row.status, row.plan_id,
                                 row.customer_created_at):
            figures["customer", key, "subscriptions"] += 1
    return figures


def customer_keys(customer_id: int, status: str, plan_id: int, customer_created_at) -> list:
    """Return the keys a customer's subscription counts under: its state on its plan, its
    state on any plan, any state on its plan."""
    return [(customer_id, counted_status, counted_plan, customer_created_at)
            for counted_status, counted_plan in ((status, plan_id), (status, ANY_PLAN),
                                                 (ANY_STATUS, plan_id))]


def schedule_figures(rows: Iterable) -> Figures:
    figures: Figures = Counter()
    for row in rows:
        if row.schedule_status == "scheduled":
            day = local_day(row.schedule_at)
            figures["day", day, "scheduled_count"] += 1
            figures["day", day, "scheduled_amount"] += row.amount
    return figures


def refund_figures(rows: Iterable) -> Figures:
    figures: Figures = Counter()
    for row in rows:
        if row.status == "succeeded" and row.cancelled_at is not None:
            day = local_day(row.cancelled_at)
            figures["day", day, "refunds_on_day_count"] += 1
            figures["day", day, "refunds_on_day_amount"] += row.amount
    return figures


# --- reading the rows a flush touches ------------------------------------------------------


class Touched:
    """The rows of one flush whose figures may move: ids per model, payment groups."""

    def __init__(self):
        self.ids: dict[type, set[int]] = defaultdict(set)
        self.groups: set[tuple[int, int]] = set()
        self.new: list = []

    def __bool__(self):
        return bool(self.ids or self.groups or self.new)


def changes_figures(obj) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in WATCHED[type(obj)])


def touched_by(session: Session) -> Touched:
    touched = Touched()
    for obj in list(session.new) + list(session.dirty) + list(session.deleted):
        model = type(obj)
        if model not in WATCHED:
            continue
        if obj in session.new:
            touched.new.append(obj)
        elif obj in session.deleted or changes_figures(obj):
            touched.ids[model].add(obj.id)
        else:
            continue
        if model is Payment and obj.subscription_id is not None and obj.period is not None:
            touched.groups.add((obj.subscription_id, obj.period))
    return touched


def read_state(session: Session, touched: Touched, *, lock: bool) -> Figures:
    """Return the figures of every touched row (and payment group) as the database has them."""
    connection = session.connection()
    figures: Figures = Counter()
    payment_ids = touched.ids.get(Payment, set())
    if payment_ids:
        for row in connection.execute(select(Payment.subscription_id, Payment.period)
                                      .where(Payment.id.in_(payment_ids))):
            if row.subscription_id is not None and row.period is not None:
                touched.groups.add((row.subscription_id, row.period))
    conditions = []
    if payment_ids:
        conditions.append(Payment.id.in_(payment_ids))
    if touched.groups:
        conditions.append(tuple_(Payment.subscription_id, Payment.period).in_(
            sorted(touched.groups)))
    if conditions:
        query = select(*PAYMENT_COLUMNS).where(or_(*conditions)).order_by(Payment.id)
        figures += payment_figures(connection.execute(locked(query, lock)))
    for model, columns, count in (
        (Subscription, SUBSCRIPTION_COLUMNS, subscription_figures),
        (Schedule, (Schedule.schedule_status, Schedule.schedule_at, Schedule.amount),
         schedule_figures),
        (Refund, (Refund.status, Refund.cancelled_at, Refund.amount), refund_figures),
    ):
        ids = touched.ids.get(model)
        if ids:
            query = select(model.id, *columns).where(model.id.in_(ids)).order_by(model.id)
            figures += count(connection.execute(locked(query, lock)))
    return figures


# A subscription's figures name its customer's created_at: the customers list's order.
SUBSCRIPTION_COLUMNS = (
    Subscription.status, Subscription.plan_id, Subscription.customer_id,
    select(Customer.created_at).where(Customer.id == Subscription.customer_id)
    .scalar_subquery().label("customer_created_at"),
)


def locked(query, lock: bool):
    return query.with_for_update() if lock else query


def difference(after: Figures, before: Figures) -> Figures:
    keys = set(after) | set(before)
    return Counter({key: after[key] - before[key] for key in keys
                    if after[key] != before[key]})


# --- the session hooks -----------------------------------------------------------------------


def pending(session: Session) -> Figures:
    return session.info.setdefault("rollup_pending", Counter())


def before_flush(session: Session, flush_context, instances) -> None:
    touched = touched_by(session)
    if not touched:
        return
    before = read_state(session, touched, lock=True)
    session.info["rollup_touched"] = touched
    session.info["rollup_before"] = before


def after_flush(session: Session, flush_context) -> None:
    touched = session.info.pop("rollup_touched", None)
    before = session.info.pop("rollup_before", None)
    if touched is None:
        return
    for obj in touched.new:
        touched.ids[type(obj)].add(obj.id)
    after = read_state(session, touched, lock=False)
    change = difference(after, before)
    if change:
        total = pending(session)
        for key, value in change.items():
            total[key] += value


def before_commit(session: Session) -> None:
    session.flush()
    change = session.info.pop("rollup_pending", None)
    if change:
        apply(session, change)


def forget(session: Session, *args) -> None:
    for key in ("rollup_pending", "rollup_touched", "rollup_before"):
        session.info.pop(key, None)


def install() -> None:
    """Keep the rollups current in every session (idempotent)."""
    for name, hook in (("before_flush", before_flush), ("after_flush", after_flush),
                       ("before_commit", before_commit), ("after_begin", forget),
                       ("after_rollback", forget)):
        if not event.contains(Session, name, hook):
            event.listen(Session, name, hook)


# --- writing ----------------------------------------------------------------------------


def upsert(session: Session, table, key: dict, counts: dict[str, int]) -> None:
    """Add ``counts`` to the rollup row of ``key`` (its primary key's columns, and what the
    row carries besides), creating it if missing, in one atomic statement."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(table).values(**key, **counts)
    statement = statement.on_conflict_do_update(
        index_elements=list(table.primary_key.columns),
        set_={name: getattr(table.c, name) + getattr(statement.excluded, name)
              for name in counts},
    )
    session.connection().execute(statement)


def apply(session: Session, change: Figures) -> None:
    """Add a difference to the rollup tables, row by row in key order."""
    rows: dict[tuple[str, object], dict[str, int]] = defaultdict(dict)
    for (kind, key, column), value in change.items():
        if value:
            rows[kind, key][column] = value
    for (kind, key), counts in sorted(rows.items(), key=lambda item: (item[0][0], item[0][1])):
        if kind == "day":
            upsert(session, DayRollup.__table__, {"day": key}, counts)
        elif kind == "plan":
            upsert(session, PlanRollup.__table__, {"plan_id": key}, counts)
        else:
            upsert(session, CustomerSubscriptionRollup.__table__, customer_key(key), counts)


def customer_key(key: tuple) -> dict:
    """Return a customer figure's key as the columns of its rollup row."""
    customer_id, status, plan_id, customer_created_at = key
    return {"customer_id": customer_id, "status": status, "plan_id": plan_id,
            "customer_created_at": customer_created_at}


# --- recounting ---------------------------------------------------------------------------


def local_day_expression(column):
    """Return SQL for the display-zone calendar day (``YYYY-MM-DD``) of a UTC column."""
    if db.engine.dialect.name == "postgresql":
        zone = current_app.config.get("DISPLAY_TIMEZONE") or "Asia/Seoul"
        return func.to_char(func.timezone(zone, column), "YYYY-MM-DD")
    return func.date(column, formatting.utc_offset_modifier())


def recount() -> Figures:
    """Return every figure counted again from the raw rows."""
    figures: Figures = Counter()

    def collect(query, columns):
        for row in db.session.execute(query):
            key = date.fromisoformat(str(row[0]))
            for column, value in zip(columns, row[1:], strict=True):
                if value:
                    figures["day", key, column] += int(value)

    paid_day = local_day_expression(Payment.paid_at)
    collect(select(paid_day, func.count(), func.sum(Payment.amount),
                   func.sum(Payment.cancel_amount),
                   func.sum(case((Payment.cancel_amount > 0, 1), else_=0)))
            .where(Payment.paid_at.is_not(None)).group_by(paid_day),
            ("paid_count", "paid_amount", "refunded_amount", "refunded_count"))
    requested = local_day_expression(Payment.created_at)
    collect(select(requested, func.count(), func.sum(Payment.amount))
            .where(Payment.status == "failed").group_by(requested),
            ("failed_count", "failed_amount"))
    collect(select(requested, func.count(),
                   func.sum(case((Payment.status.in_(SUCCEEDED), 1), else_=0)))
            .where(Payment.attempt == 1, Payment.origin != "manual",
                   Payment.status.in_(SETTLED)).group_by(requested),
            ("first_attempts", "first_attempts_paid"))
    later = Payment.__table__.alias("later")
    recovered = exists(select(later.c.id).where(
        later.c.subscription_id == Payment.subscription_id, later.c.period == Payment.period,
        later.c.attempt > 1, later.c.status.in_(SUCCEEDED),
    ))
    collect(select(requested, func.count(), func.sum(case((recovered, 1), else_=0)))
            .where(Payment.attempt == 1, Payment.origin != "manual", Payment.status == "failed",
                   Payment.subscription_id.is_not(None)).group_by(requested),
            ("first_failures", "recovered"))
    due = local_day_expression(Schedule.schedule_at)
    collect(select(due, func.count(), func.sum(Schedule.amount))
            .where(Schedule.schedule_status == "scheduled").group_by(due),
            ("scheduled_count", "scheduled_amount"))
    refund_day = local_day_expression(Refund.cancelled_at)
    collect(select(refund_day, func.count(), func.sum(Refund.amount))
            .where(Refund.status == "succeeded", Refund.cancelled_at.is_not(None))
            .group_by(refund_day),
            ("refunds_on_day_count", "refunds_on_day_amount"))
    for plan_id, status, count in db.session.execute(
        select(Subscription.plan_id, Subscription.status, func.count())
        .where(Subscription.status.in_(("active", "past_due")))
        .group_by(Subscription.plan_id, Subscription.status)
    ):
        figures["plan", plan_id, f"{status}_count"] += count
    for customer_id, created_at, status, plan_id, count in db.session.execute(
        select(Subscription.customer_id, Customer.created_at, Subscription.status,
               Subscription.plan_id, func.count())
        .join(Customer, Customer.id == Subscription.customer_id)
        .group_by(Subscription.customer_id, Customer.created_at, Subscription.status,
                  Subscription.plan_id)
    ):
        for key in customer_keys(customer_id, status, plan_id, created_at):
            figures["customer", key, "subscriptions"] += count
    return figures


def stored() -> Figures:
    """Return the figures the rollup tables hold now (zeros left out)."""
    figures: Figures = Counter()
    for row in db.session.execute(select(DayRollup)).scalars():
        for column in DAY_COLUMNS:
            if getattr(row, column):
                figures["day", row.day, column] += getattr(row, column)
    for row in db.session.execute(select(PlanRollup)).scalars():
        for column in PLAN_COLUMNS:
            if getattr(row, column):
                figures["plan", row.plan_id, column] += getattr(row, column)
    customers = CustomerSubscriptionRollup.__table__
    for row in db.session.execute(select(customers).where(customers.c.subscriptions != 0)):
        key = (row.customer_id, row.status, row.plan_id, row.customer_created_at)
        figures["customer", key, "subscriptions"] += row.subscriptions
    return figures


def rebuild() -> Figures:
    """Replace the rollups with a recount of the raw rows; commits.

    On PostgreSQL the rollup tables are locked first: a transaction counting a change at the
    same time waits, then adds its change on top of the recount (which did not see it).
    """
    if db.engine.dialect.name == "postgresql":
        db.session.execute(db.text("LOCK TABLE day_rollup, plan_rollup, "
                                   "customer_subscription_rollup IN EXCLUSIVE MODE"))
    figures = recount()
    db.session.execute(delete(DayRollup))
    db.session.execute(delete(PlanRollup))
    db.session.execute(delete(CustomerSubscriptionRollup))
    days: dict[date, dict[str, int]] = defaultdict(dict)
    for (kind, key, column), value in figures.items():
        if kind == "day":
            days[key][column] = value
    if days:
        db.session.execute(DayRollup.__table__.insert(), [
            {"day": day, **dict.fromkeys(DAY_COLUMNS, 0), **values}
            for day, values in sorted(days.items())
        ])
    plans: dict[int, dict[str, int]] = defaultdict(dict)
    for (kind, key, column), value in figures.items():
        if kind == "plan":
            plans[key][column] = value
    if plans:
        db.session.execute(PlanRollup.__table__.insert(), [
            {"plan_id": plan_id, **dict.fromkeys(PLAN_COLUMNS, 0), **values}
            for plan_id, values in sorted(plans.items())
        ])
    customers = [{**customer_key(key), "subscriptions": value}
                 for (kind, key, _column), value in figures.items() if kind == "customer"]
    if customers:
        db.session.execute(CustomerSubscriptionRollup.__table__.insert(), customers)
    db.session.info.pop("rollup_pending", None)
    db.session.commit()
    return figures


# Built once: the overview reads a range of days on every request.
DAY_RANGE = select(DayRollup.__table__).where(
    DayRollup.__table__.c.day >= bindparam("first"),
    DayRollup.__table__.c.day <= bindparam("last"))


def day_range(first: date, last: date) -> dict[date, Row]:
    """Return the stored day rows from ``first`` to ``last`` (missing days are absent), as
    plain rows with the columns of ``DayRollup`` (read-only, so no ORM objects)."""
    rows = db.session.connection().execute(DAY_RANGE, {"first": first, "last": last})
    return {row.day: row for row in rows}
