"""Server-side staff sessions: the cookie holds a random key, the database says whether it
still works.

A session ends on sign-out, password change, deactivation and "sign out everywhere", after
``SESSION_IDLE_MINUTES`` without a request, and ``SESSION_MAX_HOURS`` after sign-in, on every
worker and host at once. Public functions own their transaction, like the billing services.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from flask_login import UserMixin
from sqlalchemy import bindparam, select, update

from .billing import audit
from .clock import utcnow
from .extensions import db
from .models import AdminUser, StaffSession, role_at_least

# The Flask session entry holding the key.
SESSION_COOKIE_KEY = "staff_session"
# Writing last_seen_at on every request would turn every page into a write; a minute is
# precise enough for a 30-minute idle limit.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def add_session(user: AdminUser, *, ip_address: str | None, user_agent: str | None) -> str:
    """Add a session for ``user`` to the current transaction; return the cookie's key."""
    key = secrets.token_urlsafe(32)
    db.session.add(StaffSession(
        key_hash=hash_key(key), user_id=user.id, ip_address=ip_address,
        user_agent=(user_agent or "")[:300] or None,
    ))
    return key


def idle_limit() -> timedelta:
    return timedelta(minutes=int(current_app.config["SESSION_IDLE_MINUTES"]))


def lifetime_limit() -> timedelta:
    return timedelta(hours=int(current_app.config["SESSION_MAX_HOURS"]))


@dataclass(frozen=True, eq=False)
class StaffMember(UserMixin):
    """The signed-in member of staff as their session found them: pages read it, and changes
    to the account go through ``staff`` and ``signin`` by id."""

    id: int
    email: str
    name: str
    role: str
    active: bool
    locale: str | None

    @property
    def is_active(self) -> bool:
        return self.active

    def has_role(self, role: str) -> bool:
        """Return whether this member's role is at least ``role``."""
        return role_at_least(self.role, role)


# Built once, and plain columns rather than ORM objects: every request of a signed-in member
# looks its session up, and the two objects cost more to build than the query to run.
SESSION_WITH_USER = (
    select(StaffSession.id, StaffSession.user_id, StaffSession.created_at,
           StaffSession.last_seen_at, StaffSession.revoked_at,
           AdminUser.email, AdminUser.name, AdminUser.role, AdminUser.active, AdminUser.locale)
    .join(AdminUser, AdminUser.id == StaffSession.user_id)
    .where(StaffSession.key_hash == bindparam("key_hash"))
)


def resume_session(key: str | None, user_id: int) -> StaffMember | None:
    """Return the active member of staff of a live session with this key, or None; end
    expired ones."""
    if not key:
        return None
    row = db.session.connection().execute(SESSION_WITH_USER, {"key_hash": hash_key(key)}).first()
    if row is None or row.revoked_at is not None or row.user_id != user_id:
        return None
    now = utcnow()
    expired = (
        "idle" if row.last_seen_at + idle_limit() < now
        else "expired" if row.created_at + lifetime_limit() < now
        else None
    )
    if expired or not row.active:
        update_session(row.id, revoked_at=now, revoked_reason=expired or "deactivated")
        return None
    if row.last_seen_at + LAST_SEEN_RESOLUTION < now:
        update_session(row.id, last_seen_at=now)
    return StaffMember(id=row.user_id, email=row.email, name=row.name, role=row.role,
                       active=row.active, locale=row.locale)


def update_session(session_id: int, **values) -> None:
    """Write ``values`` to one session row and commit."""
    db.session.execute(update(StaffSession).where(StaffSession.id == session_id).values(**values))
    db.session.commit()


def end_session(key: str | None, *, actor: audit.Actor) -> None:
    """End the session with this key (sign-out) and commit."""
    if not key:
        return
    row = db.session.scalar(
        db.select(StaffSession).where(StaffSession.key_hash == hash_key(key))
    )
    if row is not None and row.revoked_at is None:
        row.revoked_at, row.revoked_reason = utcnow(), "sign_out"
        audit.record("staff.sign_out", "admin_user", row.user_id, actor=actor)
        db.session.commit()


def revoke_sessions(user_id: int, reason: str, *, except_key: str | None = None) -> int:
    """End every live session of a user (but ``except_key``'s) in the current transaction;
    return how many."""
    query = db.select(StaffSession).where(
        StaffSession.user_id == user_id, StaffSession.revoked_at.is_(None)
    )
    if except_key:
        query = query.where(StaffSession.key_hash != hash_key(except_key))
    rows = db.session.scalars(query).all()
    now = utcnow()
    for row in rows:
        row.revoked_at, row.revoked_reason = now, reason
    return len(rows)
