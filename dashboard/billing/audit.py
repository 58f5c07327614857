"""The one way to record who did what (money rule 5)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..extensions import db
from ..models import AuditEntry

# Keys that must never reach an audit entry, whatever a caller passes (money rule 6).
SECRET_KEYS = frozenset(
    {"card_number", "expiry", "birth", "pwd_2digit", "cvc", "password", "imp_secret", "token"}
)


class StaffIdentity(Protocol):
    """A member of staff as an actor needs them: the account row, or the signed-in member."""

    id: int
    email: str


@dataclass(frozen=True)
class Actor:
    """Who acts: a staff member, or a named system part such as ``cli`` or ``webhook``."""

    label: str
    user_id: int | None = None
    ip_address: str | None = None

    @classmethod
    def staff(cls, user: StaffIdentity, ip_address: str | None = None) -> Actor:
        return cls(label=user.email, user_id=user.id, ip_address=ip_address)


SYSTEM = Actor("system")
CLI = Actor("cli")


def record(
    action: str,
    target_type: str,
    target_id: object,
    *,
    actor: Actor = SYSTEM,
    customer_id: int | None = None,
    reason: str | None = None,
    details: dict | None = None,
    outcome: str = "ok",
) -> AuditEntry:
    """Add an audit entry to the current transaction; the caller commits."""
    entry = AuditEntry(
        actor_id=actor.user_id,
        actor_label=actor.label,
        ip_address=actor.ip_address,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        customer_id=customer_id,
        reason=reason,
        details={k: v for k, v in (details or {}).items() if k not in SECRET_KEYS},
        outcome=outcome,
    )
    db.session.add(entry)
    return entry
