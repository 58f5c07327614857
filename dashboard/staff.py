"""Staff accounts: creation and password rules."""
from __future__ import annotations

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
