"""Staff sign-in: password check, lock-out after repeated failures, last sign-in, language.

These functions own their transaction, like the billing services, so views never commit.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from werkzeug.security import generate_password_hash

from .billing import audit
from .extensions import db
from .clock import utcnow
from .models import AdminUser

MAX_FAILED_SIGN_INS = 5
LOCK_OUT_FOR = timedelta(minutes=15)

# Checked against when the email is unknown, so both answers take the same time.
_DUMMY_HASH = generate_password_hash("not a password of anyone")


class SignInRefused(Exception):
    """The email and password do not match an active account."""


class AccountLocked(SignInRefused):
    """Too many failed sign-ins: the account is locked until ``until``."""

    def __init__(self, until: datetime):
        self.until = until
        super().__init__(f"locked until {until.isoformat()}")


def sign_in(email: str, password: str, *, ip_address: str | None = None) -> AdminUser:
    """Check the password, count failures, lock after too many, and commit what changed."""
    email = email.strip().lower()
    user = db.session.scalar(db.select(AdminUser).where(AdminUser.email == email))
    now = utcnow()
    if user is None:
        AdminUser(password_hash=_DUMMY_HASH).check_password(password)
        raise SignInRefused()
    actor = audit.Actor(label=user.email, user_id=user.id, ip_address=ip_address)
    if user.locked_until is not None and user.locked_until > now:
        raise AccountLocked(until=user.locked_until)
    if not user.active or not user.check_password(password):
        user.failed_logins = (user.failed_logins or 0) + 1
        locked = user.failed_logins >= MAX_FAILED_SIGN_INS
        if locked:
            user.locked_until = now + LOCK_OUT_FOR
            user.failed_logins = 0
        audit.record(
            "staff.sign_in",
            "admin_user",
            user.id,
            actor=actor,
            outcome="locked" if locked else "refused",
        )
        db.session.commit()
        if locked:
            raise AccountLocked(until=user.locked_until)
        raise SignInRefused()
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    audit.record("staff.sign_in", "admin_user", user.id, actor=actor)
    db.session.commit()
    return user


def remember_language(user: AdminUser, language: str) -> None:
    """Store the user's console language and commit."""
    user.locale = language
    db.session.commit()
