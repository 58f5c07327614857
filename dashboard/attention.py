"""Why a subscription needs staff attention: the one place that decides it.

A subscription that is supposed to be billed but will not be (its billing key is gone, nothing
is scheduled, or a charge's outcome is unknown) must never look healthy. The API asks
``subscription_attention``; the subscription page reads the same ``attention_columns`` with
its subscription. The overview reads ``attention_item``: a row for each subscription that
needs attention, kept current by session hooks in the transaction of every change that can
move it (so it lists and counts them without reading every subscription), and checked
against the rules by ``repair`` at each ``sync``.

It reads the models only, so both the write side and the read side can ask it.
"""
from __future__ import annotations

import logging
from itertools import chain

from sqlalchemy import Select, and_, bindparam, delete, event, exists, inspect, not_, or_, select
from sqlalchemy.orm import Session

from .config import billing_mode
from .extensions import db
from .models import AttentionItem, Customer, Payment, Schedule, Subscription

logger = logging.getLogger(__name__)

#: In the order they are listed.
ATTENTION_CODES = ("billing_key_missing", "not_scheduled", "charge_outcome_unknown")


def _expects_charges():
    return and_(Subscription.status.in_(("active", "past_due", "paused")),
                Subscription.cancel_at_period_end.is_(False))


def _key_missing():
    return exists(select(Customer.id).where(Customer.id == Subscription.customer_id,
                                            Customer.billing_key_status != "active"))


def _charge_pending(one: bool = False):
    if one:
        # One subscription: its own payments, by its index. The list of every pending payment
        # grows with the charges whose outcome is unknown, as many as an outage leaves.
        return exists(select(Payment.id).where(Payment.subscription_id == Subscription.id,
                                               Payment.status == "pending"))
    # The few pending payments, read once by their status index: a correlated look-up would
    # read every payment of every subscription (10 s at 5M payments on SQLite, 1.5 s so).
    # No NULLs in the list: ``NOT IN`` a list holding NULL is never true.
    return Subscription.id.in_(select(Payment.subscription_id).where(
        Payment.status == "pending", Payment.subscription_id.is_not(None)))


def _unscheduled(one: bool = False):
    """An active subscription with nothing that will charge it next (``one``: a statement
    about one subscription)."""
    if billing_mode() == "again":
        nothing_next = Subscription.next_attempt_at.is_(None)
    else:
        nothing_next = not_(exists(select(Schedule.id).where(
            Schedule.subscription_id == Subscription.id,
            Schedule.schedule_status == "scheduled")))
    return and_(Subscription.status == "active", Subscription.cancel_at_period_end.is_(False),
                not_(_charge_pending(one)), nothing_next)


def needs_attention():
    """Return the SQL condition for subscriptions with at least one attention code."""
    return or_(and_(_expects_charges(), _key_missing()), _unscheduled(), _charge_pending())


def unscheduled():
    """Return the SQL condition for active subscriptions nothing will charge next."""
    return _unscheduled()


def next_charge_at(subscription: Subscription):
    """Return when the subscription is charged next, as things stand: the time of its waiting
    attempt (moved with its schedule), or None when nothing will charge it (cancelled, ending
    at period end, paused, retries exhausted, or its schedule revoked)."""
    if subscription.status not in ("active", "past_due") or subscription.cancel_at_period_end:
        return None
    return subscription.next_attempt_at


def attention_columns() -> tuple:
    """Return, for a statement that selects one subscription, one true-or-false column per
    code of ``ATTENTION_CODES`` (in the billing mode's terms; ``codes_of`` reads them)."""
    return (and_(_expects_charges(), _key_missing()), _unscheduled(one=True),
            _charge_pending(one=True))


def codes_of(flags) -> list[str]:
    """Return the codes whose ``attention_columns`` value is true."""
    return [code for code, present in zip(ATTENTION_CODES, flags, strict=True) if present]


# The codes of one subscription, per billing mode: built once, as the statement takes longer
# to build than to run.
_codes_of_one: dict[str, Select] = {}


def subscription_attention(subscription: Subscription) -> list[str]:
    """Return the attention codes of one subscription (``[]`` when all is well)."""
    mode = billing_mode()
    query = _codes_of_one.get(mode)
    if query is None:
        query = _codes_of_one[mode] = select(*attention_columns()).where(
            Subscription.id == bindparam("subscription_id"))
    found = db.session.execute(query, {"subscription_id": subscription.id}).one_or_none()
    return [] if found is None else codes_of(found)


# --- the attention_item table ----------------------------------------------------------------

# The columns whose change can move a subscription's attention codes.
WATCHED = {
    Subscription: ("status", "cancel_at_period_end", "next_attempt_at", "customer_id"),
    Payment: ("status", "subscription_id"),
    Schedule: ("schedule_status", "subscription_id"),
    Customer: ("billing_key_status",),
}
# Ids per statement, well under every database's limit on bound parameters.
CHUNK = 500


def codes_query(subscription_ids=None):
    """Return SQL for (id, *codes) of the subscriptions that need attention."""
    query = select(Subscription.id, and_(_expects_charges(), _key_missing()), _unscheduled(),
                   _charge_pending()).where(needs_attention())
    if subscription_ids is not None:
        query = query.where(Subscription.id.in_(subscription_ids))
    return query


def item(row) -> dict:
    return {"subscription_id": row[0], **{code: bool(flag) for code, flag
                                           in zip(ATTENTION_CODES, row[1:], strict=True)}}


def refresh(session: Session, subscription_ids) -> None:
    """Bring the attention rows of these subscriptions in line with the rules."""
    connection = session.connection()
    table = AttentionItem.__table__
    ordered = sorted(subscription_ids)
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start:start + CHUNK]
        needing = [item(row) for row in connection.execute(codes_query(chunk))]
        connection.execute(delete(table).where(
            table.c.subscription_id.in_(set(chunk) - {row["subscription_id"] for row in needing})))
        if needing:
            connection.execute(upsert(session, table, needing))


def upsert(session: Session, table, rows: list[dict]):
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(table).values(rows)
    return statement.on_conflict_do_update(
        index_elements=[table.c.subscription_id],
        set_={code: getattr(statement.excluded, code) for code in ATTENTION_CODES},
    )


def recount() -> dict[int, dict]:
    """Return the attention row every subscription should have, by subscription id."""
    return {row[0]: item(row) for row in db.session.execute(codes_query())}


def stored() -> dict[int, dict]:
    """Return the attention rows the table holds, by subscription id."""
    return {row.subscription_id: dict(row._mapping)
            for row in db.session.execute(select(AttentionItem.__table__))}


def repair() -> int:
    """Check every subscription against the rules and fix the rows that differ; commit.

    Changes made around the ORM (a bulk load, a switch of ``IAMPORT_BILLING_MODE``) reach
    the table here. Returns how many rows were fixed.
    """
    wanted, have = recount(), stored()
    wrong = {sid for sid in wanted.keys() | have.keys() if wanted.get(sid) != have.get(sid)}
    if wrong:
        refresh(db.session, wrong)
        logger.info("attention list: %d subscriptions corrected", len(wrong))
    db.session.commit()
    return len(wrong)


# --- the session hooks -----------------------------------------------------------------------


def touched(session: Session) -> dict[str, set[int]]:
    return session.info.setdefault("attention_touched", {"subscriptions": set(),
                                                         "customers": set()})


def after_flush(session: Session, flush_context) -> None:
    """Note the subscriptions (and customers) whose attention this flush may have moved."""
    subscriptions, customers = None, None
    for obj in chain(session.new, session.dirty, session.deleted):
        columns = WATCHED.get(type(obj))
        if columns is None:
            continue
        state = inspect(obj)
        if obj not in session.new and not any(state.attrs[name].history.has_changes()
                                               for name in columns):
            continue
        if subscriptions is None:
            noted = touched(session)
            subscriptions, customers = noted["subscriptions"], noted["customers"]
        if isinstance(obj, Customer):
            customers.add(obj.id)
        elif isinstance(obj, Subscription):
            subscriptions.add(obj.id)
        else:  # a payment or schedule: its subscription, before and after the change
            values = {*chain(*state.attrs.subscription_id.history),
                      state.dict.get("subscription_id")}
            subscriptions.update(value for value in values if value is not None)


def before_commit(session: Session) -> None:
    session.flush()
    noted = session.info.pop("attention_touched", None)
    if not noted:
        return
    ids = set(noted["subscriptions"])
    if noted["customers"]:
        ids.update(session.connection().scalars(select(Subscription.id).where(
            Subscription.customer_id.in_(noted["customers"]))))
    if ids:
        refresh(session, ids)


def forget(session: Session, *args) -> None:
    session.info.pop("attention_touched", None)


def install() -> None:
    """Keep ``attention_item`` current in every session (idempotent)."""
    for name, hook in (("after_flush", after_flush), ("before_commit", before_commit),
                       ("after_begin", forget), ("after_rollback", forget)):
        if not event.contains(Session, name, hook):
            event.listen(Session, name, hook)
