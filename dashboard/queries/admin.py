"""Read-side queries of the admin pages: staff, sessions, API tokens, the audit log, setup."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Row, bindparam, func

from .. import formatting, sessions
from ..clock import utcnow
from ..extensions import db
from ..formatting import ACTION_LABELS
from ..models import AdminUser, ApiToken, AuditEntry, GoLiveStep, StaffSession, WebhookEvent
from .paging import Page, iterate_all, keyset_page


def live_session_condition():
    """Sessions not ended, not idle past the limit and not older than the absolute lifetime."""
    now = utcnow()
    return (
        StaffSession.revoked_at.is_(None),
        StaffSession.last_seen_at > now - sessions.idle_limit(),
        StaffSession.created_at > now - sessions.lifetime_limit(),
    )


def staff_with_session_counts() -> list[tuple[AdminUser, int]]:
    """Return every staff account, active first, with its number of live sessions."""
    live = (
        db.select(StaffSession.user_id, func.count(StaffSession.id).label("live"))
        .where(*live_session_condition())
        .group_by(StaffSession.user_id)
        .subquery()
    )
    rows = db.session.execute(
        db.select(AdminUser, func.coalesce(live.c.live, 0))
        .outerjoin(live, live.c.user_id == AdminUser.id)
        .order_by(AdminUser.active.desc(), AdminUser.email)
    ).all()
    return [(user, int(count)) for user, count in rows]


def staff_member(user_id: int) -> AdminUser | None:
    return db.session.get(AdminUser, user_id)


def live_sessions(user_id: int) -> list[StaffSession]:
    """Return a staff member's live sessions, most recently used first."""
    return list(db.session.scalars(
        db.select(StaffSession)
        .where(StaffSession.user_id == user_id, *live_session_condition())
        .order_by(StaffSession.last_seen_at.desc())
    ))


def api_tokens() -> list[ApiToken]:
    """Return every API token, live ones first, newest first."""
    return list(db.session.scalars(
        db.select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.id.desc())
    ))


def api_token(token_id: int) -> ApiToken | None:
    return db.session.get(ApiToken, token_id)


@dataclass(frozen=True)
class AuditFilters:
    """The audit log's filters: actor (email or system name), action, target, dates."""

    actor: str = ""
    action: str = ""
    target: str = ""
    date_from: date | None = None
    date_to: date | None = None

    def as_dict(self) -> dict:
        return {key: str(value) for key, value in self.__dict__.items() if value}


def actions_named(typed: str) -> list[str]:
    """Return the actions an action filter names: the typed one and every action the console
    records under it ("staff" names staff.sign_in, staff.create…), in order."""
    typed = typed.strip()
    return sorted({typed} | {action for action in ACTION_LABELS if action.startswith(typed + ".")})


# What the audit log and its CSV read of an entry, as plain rows: they only print them.
AUDIT_ROW_COLUMNS = (
    AuditEntry.id, AuditEntry.created_at, AuditEntry.actor_label, AuditEntry.ip_address,
    AuditEntry.action, AuditEntry.target_type, AuditEntry.target_id, AuditEntry.customer_id,
    AuditEntry.reason, AuditEntry.details, AuditEntry.outcome,
)


def audit_values(filters: AuditFilters) -> dict:
    """Return the filters' values as the audit statement's parameters, by name."""
    values = {}
    if filters.actor:
        values["actor"] = filters.actor.strip().lower()
    if filters.target:
        kind, _, ident = filters.target.strip().partition(":")
        values["target_type"] = kind
        if ident:
            values["target_id"] = ident
    if filters.date_from:
        values["since"] = formatting.day_start(filters.date_from)
    if filters.date_to:
        values["until"] = formatting.day_end(filters.date_to)
    if filters.action:
        values.update((f"action_{n}", action)
                      for n, action in enumerate(actions_named(filters.action)))
    return values


def audit_query(names):
    """Return the SELECT of the entries matching the filters named (``audit_values``' keys),
    their values as parameters; with several actions, one SELECT per action, which
    ``keyset_page`` merges."""
    time_type = AuditEntry.created_at.type
    conditions = {
        "actor": AuditEntry.actor_label == bindparam("actor"),
        "target_type": AuditEntry.target_type == bindparam("target_type"),
        "target_id": AuditEntry.target_id == bindparam("target_id"),
        "since": AuditEntry.created_at >= bindparam("since", type_=time_type),
        "until": AuditEntry.created_at < bindparam("until", type_=time_type),
    }
    query = db.select(*AUDIT_ROW_COLUMNS).where(
        *(condition for name, condition in conditions.items() if name in names))
    actions = [name for name in names if name.startswith("action_")]
    if not actions:
        return query
    # Each action read newest first from ix_audit_entry_action_time: a rare action is found
    # without reading the log, a common one after a page.
    branches = [query.where(AuditEntry.action == bindparam(name)) for name in actions]
    return branches[0] if len(branches) == 1 else branches


def audit_page(filters: AuditFilters, *, after: str | None) -> Page[Row]:
    """Return one page of the audit log, newest first, as rows of ``AUDIT_ROW_COLUMNS``."""
    values = audit_values(filters)
    # Built once per set of filters used (and number of actions): the values are parameters.
    names = tuple(values)
    return keyset_page(lambda: audit_query(names), AuditEntry.created_at, AuditEntry.id,
                       after=after, rows_of=plain_row, reuse_as=("audit", names),
                       parameters=values)


def plain_row(row: Row) -> Row:
    """Keep a result row as it is: its columns are read by name."""
    return row


def iterate_audit(filters: AuditFilters):
    """Yield every audit entry matching ``filters`` (the CSV export), newest first."""
    values = audit_values(filters)
    return iterate_all(audit_query(tuple(values)), AuditEntry.created_at, AuditEntry.id,
                       rows_of=plain_row, parameters=values)


@dataclass(frozen=True)
class SetupStatus:
    """What the setup page shows besides configuration: the last webhook and steps done."""

    last_webhook: Row | None  # of LAST_WEBHOOK: when the newest arrived, and its state
    steps_done: dict[str, GoLiveStep]


# The newest webhook, read from the end of the time index: counting every webhook ever
# received would read the whole table on each visit, and the table only grows.
LAST_WEBHOOK = (
    db.select(WebhookEvent.received_at, WebhookEvent.state)
    .order_by(WebhookEvent.received_at.desc(), WebhookEvent.id.desc()).limit(1)
)


def setup_status() -> SetupStatus:
    last = db.session.execute(LAST_WEBHOOK).first()
    steps = {row.key: row for row in db.session.scalars(db.select(GoLiveStep))}
    return SetupStatus(last_webhook=last, steps_done=steps)
