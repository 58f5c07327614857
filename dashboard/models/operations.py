"""Tables of the console's own operation: staff sessions, API tokens, sign-in attempts,
exports, the go-live checklist, customer notes, saved filters and refused webhooks."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..clock import now, utcnow
from ..extensions import db
from .types import Timestamps, UTCDateTime

if TYPE_CHECKING:
    from . import AdminUser


# --- sign-in security --------------------------------------------------------------------


API_SCOPES = ("subscriptions:read", "subscriptions:write")


class ApiToken(Timestamps, db.Model):
    """A bearer token for the merchant's own application; only its hash is kept."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(12))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("admin_user.id"))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Space-separated API_SCOPES; tokens from before scopes existed could do everything.
    scopes: Mapped[str] = mapped_column(
        String(200), default=" ".join(API_SCOPES), server_default=" ".join(API_SCOPES)
    )

    created_by: Mapped[AdminUser | None] = relationship()

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()


class StaffSession(db.Model):
    """A signed-in browser. The cookie holds a random key; only its SHA-256 is stored here,
    so a session ends on the server (sign-out, password change, deactivation) whatever the
    browser keeps."""

    __tablename__ = "staff_session"
    __table_args__ = (Index("ix_staff_session_user", "user_id", "revoked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("admin_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # sign_out, password_change, deactivated, sign_out_everywhere, idle, expired
    revoked_reason: Mapped[str | None] = mapped_column(String(32))

    user: Mapped[AdminUser] = relationship()


class SignInAttempt(db.Model):
    """One sign-in attempt, for throttling by address and by (account, address) on every
    host: nothing about attempts lives in a worker's memory."""

    __tablename__ = "sign_in_attempt"
    __table_args__ = (
        Index("ix_sign_in_attempt_address", "ip_address", "created_at"),
        Index("ix_sign_in_attempt_account", "email", "ip_address", "created_at"),
        Index("ix_sign_in_attempt_time", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    email: Mapped[str] = mapped_column(String(254))
    ip_address: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)


class ExportRun(db.Model):
    """A CSV export in progress or finished: limits concurrent exports per user on every host."""

    __tablename__ = "export_run"
    __table_args__ = (Index("ix_export_run_user", "user_id", "finished_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("admin_user.id"))
    kind: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rows: Mapped[int | None] = mapped_column(Integer)


class GoLiveStep(db.Model):
    """A step of the NHN KCP go-live checklist, marked done by a member of staff."""

    __tablename__ = "go_live_step"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    done_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("admin_user.id"))
    note: Mapped[str | None] = mapped_column(String(256))

    done_by: Mapped[AdminUser | None] = relationship()

class CustomerNote(db.Model):
    """An internal memo about a customer: who wrote it and when; never sent anywhere."""

    __tablename__ = "customer_note"
    __table_args__ = (Index("ix_customer_note_customer", "customer_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("admin_user.id"))
    # The author's email at the time, so the memo keeps its author if the account goes.
    author_label: Mapped[str] = mapped_column(String(254), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class SavedFilter(db.Model):
    """A list's query string saved under a name, shown in the saved-filters menu."""

    __tablename__ = "saved_filter"
    __table_args__ = (
        UniqueConstraint("list_name", "name", name="uq_saved_filter_list_name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    list_name: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(60))
    query_string: Mapped[str] = mapped_column(String(1000), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("admin_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


# --- webhook intake ----------------------------------------------------------------------


class WebhookRefusal(db.Model):
    """How many webhook requests were refused for one reason, and when the last one came.

    Refused requests are never stored (a refused sender could fill the inbox); this counter
    is what operators see of them.
    """

    __tablename__ = "webhook_refusal"

    reason: Mapped[str] = mapped_column(String(20), primary_key=True)
    refusals: Mapped[int] = mapped_column(Integer, default=0)
    last_refused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
