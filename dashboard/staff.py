"""Staff accounts: creation, roles, deactivation, passwords and their sessions.

Public functions own their transaction, like the billing services.
"""
from __future__ import annotations

import secrets

from sqlalchemy import func

from . import sessions
from .billing import audit
from .extensions import db
from .models import ROLES, AdminUser

MIN_PASSWORD_LENGTH = 10


class StaffError(Exception):
    """A staff account could not be created or changed."""


class WeakPassword(StaffError):
    """The password is too short to protect an account that moves money."""

    def __init__(self, minimum: int = MIN_PASSWORD_LENGTH):
        self.minimum = minimum
        super().__init__(f"Password must be at least {minimum} characters long.")


class DuplicateEmail(StaffError):
    """Another account already uses this email address."""

    def __init__(self, email: str):
        self.email = email
        super().__init__(f"An account with the email {email} already exists.")


class UnknownRole(StaffError):
    """The role is not one of viewer, support or admin."""

    def __init__(self, role: str):
        self.role = role
        super().__init__(f"Unknown role {role!r}; choose one of {', '.join(ROLES)}.")


def create_admin(
    email: str, password: str, *, role: str = "admin", name: str = "", actor=audit.CLI
) -> AdminUser:
    """Create a staff account and commit it."""
    email = email.strip().lower()
    if role not in ROLES:
        raise UnknownRole(role)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword()
    if db.session.scalar(db.select(AdminUser.id).where(AdminUser.email == email)) is not None:
        raise DuplicateEmail(email)
    user = AdminUser(email=email, name=name or email.split("@")[0], role=role, active=True)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record("staff.create", "admin_user", user.id, actor=actor, details={"role": role})
    db.session.commit()
    return user


class LastAdmin(StaffError):
    """The change would leave no active admin, or an admin would lock themselves out."""

    def __init__(self):
        super().__init__("At least one other active admin must remain; "
                         "admins cannot demote or deactivate themselves.")


class UnknownStaff(StaffError):
    """No staff account has this id."""

    def __init__(self, user_id: int):
        self.user_id = user_id
        super().__init__(f"No staff account {user_id}.")


def one_time_password() -> str:
    """Return a random password to hand over once; its owner should change it."""
    return secrets.token_urlsafe(12)


def _get(user_id: int) -> AdminUser:
    user = db.session.get(AdminUser, user_id)
    if user is None:
        raise UnknownStaff(user_id)
    return user


def _refuse_self_lock_out(user: AdminUser, actor: audit.Actor) -> None:
    """Refuse changes that would leave the console without an active admin."""
    if user.id == actor.user_id:
        raise LastAdmin()
    other_admins = db.session.scalar(
        db.select(func.count(AdminUser.id)).where(
            AdminUser.role == "admin", AdminUser.active.is_(True), AdminUser.id != user.id
        )
    )
    if user.role == "admin" and not other_admins:
        raise LastAdmin()


def invite_staff(email: str, *, role: str, name: str = "", actor: audit.Actor
                 ) -> tuple[AdminUser, str]:
    """Create an account with a one-time password, commit, and return both (shown once)."""
    password = one_time_password()
    user = create_admin(email, password, role=role, name=name, actor=actor)
    return user, password


def change_role(user_id: int, role: str, *, actor: audit.Actor) -> AdminUser:
    """Give a staff member another role and commit."""
    if role not in ROLES:
        raise UnknownRole(role)
    user = _get(user_id)
    if role == user.role:
        return user
    if user.role == "admin":
        _refuse_self_lock_out(user, actor)
    before = user.role
    user.role = role
    audit.record("staff.change_role", "admin_user", user.id, actor=actor,
                 details={"before": {"role": before}, "after": {"role": role}})
    db.session.commit()
    return user


def set_active(user_id: int, active: bool, *, actor: audit.Actor) -> AdminUser:
    """Deactivate (ending every session) or reactivate an account, and commit."""
    user = _get(user_id)
    if user.active == active:
        return user
    if not active:
        _refuse_self_lock_out(user, actor)
        sessions.revoke_sessions(user.id, "deactivated")
    user.active = active
    audit.record("staff.activate" if active else "staff.deactivate", "admin_user", user.id,
                 actor=actor, details={"before": {"active": not active},
                                       "after": {"active": active}})
    db.session.commit()
    return user


def reset_password(user_id: int, *, actor: audit.Actor) -> tuple[AdminUser, str]:
    """Replace the password with a one-time one, end every session, commit; return it once."""
    user = _get(user_id)
    password = one_time_password()
    user.set_password(password)
    ended = sessions.revoke_sessions(user.id, "password_change")
    audit.record("staff.reset_password", "admin_user", user.id, actor=actor,
                 details={"sessions_ended": ended})
    db.session.commit()
    return user, password


def change_own_password(user_id: int, current: str, new: str, *, actor: audit.Actor,
                        keep_session_key: str | None = None) -> None:
    """Change one's own password, ending every other session, and commit."""
    user = _get(user_id)
    if not user.check_password(current):
        raise WrongPassword()
    if len(new) < MIN_PASSWORD_LENGTH:
        raise WeakPassword()
    user.set_password(new)
    ended = sessions.revoke_sessions(user.id, "password_change",
                                     except_key=keep_session_key)
    audit.record("staff.change_password", "admin_user", user.id, actor=actor,
                 details={"sessions_ended": ended})
    db.session.commit()


class WrongPassword(StaffError):
    """The current password given does not match."""

    def __init__(self):
        super().__init__("The current password is wrong.")


def sign_out_everywhere(user_id: int, *, actor: audit.Actor) -> int:
    """End every session of a staff member, commit, and return how many ended."""
    user = _get(user_id)
    ended = sessions.revoke_sessions(user.id, "sign_out_everywhere")
    audit.record("staff.sign_out_everywhere", "admin_user", user.id, actor=actor,
                 details={"sessions_ended": ended})
    db.session.commit()
    return ended
