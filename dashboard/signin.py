"""Staff sign-in: throttling, password check and rehash, the session, language.

Throttling counts attempts in the database, per address and per (account, address), so every
worker and host agrees, and failures from one address never keep the owner out from another.
A throttled attempt is refused before the account is looked up: the answer is the same for
real and unknown accounts. These functions own their transaction, so views never commit.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func
from werkzeug.security import generate_password_hash

from . import sessions
from .billing import audit
from .clock import utcnow
from .extensions import db
from .models import AdminUser, SignInAttempt, password_hash_method

# Checked against when the email is unknown, so both answers take the same time: one per
# hash method, made with the same cost as real hashes.
_dummy_hashes: dict[str, str] = {}
# Attempts older than this are deleted; no limit looks further back.
KEEP_ATTEMPTS_FOR = timedelta(days=1)


class SignInRefused(Exception):
    """The email and password do not match an active account."""


class SignInThrottled(Exception):
    """Too many attempts from this address (or for this account from it): wait ``retry_after``."""

    def __init__(self, retry_after: timedelta):
        self.retry_after = retry_after
        super().__init__(f"try again in {int(retry_after.total_seconds())} seconds")


@dataclass(frozen=True)
class SignedIn:
    """The user who signed in and the key of their new server-side session."""

    user: AdminUser
    session_key: str


def dummy_hash() -> str:
    """Return a hash of no one's password made with today's method and cost."""
    method = password_hash_method()
    if method not in _dummy_hashes:
        _dummy_hashes[method] = generate_password_hash("not a password of anyone", method=method)
    return _dummy_hashes[method]


def _count(*conditions) -> int:
    return db.session.scalar(db.select(func.count(SignInAttempt.id)).where(*conditions)) or 0


def check_throttle(email: str, address: str, now: datetime) -> None:
    """Raise ``SignInThrottled`` when this address, or this account from it, must wait."""
    config = current_app.config
    minute_ago = now - timedelta(minutes=1)
    if _count(SignInAttempt.ip_address == address,
              SignInAttempt.created_at > minute_ago) >= config[
            "SIGN_IN_ATTEMPTS_PER_ADDRESS_PER_MINUTE"]:
        raise SignInThrottled(timedelta(minutes=1))
    window = timedelta(minutes=int(config["SIGN_IN_WINDOW_MINUTES"]))
    since = now - window
    failed_here = (SignInAttempt.ip_address == address, SignInAttempt.succeeded.is_(False),
                   SignInAttempt.created_at > since)
    if _count(*failed_here) >= config["SIGN_IN_FAILURES_PER_ADDRESS"]:
        raise SignInThrottled(window)
    # A success for the account from this address starts its count again.
    last_success = db.session.scalar(
        db.select(func.max(SignInAttempt.created_at)).where(
            SignInAttempt.email == email, SignInAttempt.ip_address == address,
            SignInAttempt.succeeded.is_(True),
        )
    )
    account_since = max(since, last_success) if last_success else since
    if _count(SignInAttempt.email == email, SignInAttempt.ip_address == address,
              SignInAttempt.succeeded.is_(False), SignInAttempt.created_at > account_since
              ) >= config["SIGN_IN_FAILURES_PER_ACCOUNT_AND_ADDRESS"]:
        raise SignInThrottled(window)


def sign_in(
    email: str, password: str, *, ip_address: str | None = None, user_agent: str | None = None
) -> SignedIn:
    """Check throttles and the password, rehash if weaker than today's, start a session."""
    email = email.strip().lower()[:254]
    address = ip_address or "unknown"
    now = utcnow()
    try:
        check_throttle(email, address, now)
    except SignInThrottled:
        # Recorded against the email typed, without looking the account up: the answer must
        # not depend on whether it exists.
        audit.record("staff.sign_in", "sign_in", email[:80] or "-", outcome="throttled",
                     actor=audit.Actor(label=email or "-", ip_address=ip_address))
        db.session.commit()
        raise
    user = db.session.scalar(db.select(AdminUser).where(AdminUser.email == email))
    if user is None:
        AdminUser(password_hash=dummy_hash()).check_password(password)
        db.session.add(SignInAttempt(email=email, ip_address=address, created_at=now))
        db.session.commit()
        raise SignInRefused()
    actor = audit.Actor(label=user.email, user_id=user.id, ip_address=ip_address)
    if not user.check_password(password) or not user.active:
        db.session.add(SignInAttempt(email=email, ip_address=address, created_at=now))
        audit.record("staff.sign_in", "admin_user", user.id, actor=actor, outcome="refused",
                     details={"inactive": True} if not user.active else None)
        db.session.commit()
        raise SignInRefused()
    if user.password_needs_rehash:
        user.set_password(password)
    user.last_login_at = now
    db.session.add(SignInAttempt(email=email, ip_address=address, created_at=now,
                                 succeeded=True))
    db.session.execute(
        db.delete(SignInAttempt).where(SignInAttempt.created_at < now - KEEP_ATTEMPTS_FOR)
    )
    key = sessions.add_session(user, ip_address=ip_address, user_agent=user_agent)
    audit.record("staff.sign_in", "admin_user", user.id, actor=actor)
    db.session.commit()
    return SignedIn(user=user, session_key=key)


def remember_language(user_id: int, language: str) -> None:
    """Store a user's console language and commit."""
    db.session.execute(db.update(AdminUser).where(AdminUser.id == user_id)
                       .values(locale=language))
    db.session.commit()
