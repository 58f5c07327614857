"""Frozen records parsed from the V1 API's JSON.

The API speaks UNIX seconds (``0`` meaning "never") and may send amounts as floats; these types
speak aware UTC datetimes (``None`` for never) and integer KRW.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def from_unix(value: Any) -> datetime | None:
    """Return an aware UTC datetime for UNIX seconds, or None for 0 / null."""
    if value in (None, 0, "", "0"):
        return None
    return datetime.fromtimestamp(int(float(value)), UTC)


def to_unix(moment: datetime) -> int:
    """Return UNIX seconds for an aware datetime; refuse naive ones."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    return int(moment.timestamp())


def _krw(value: Any) -> int:
    return round(float(value)) if value is not None else 0


def _opt_int(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


@dataclass(frozen=True)
class BillingKey:
    """A billing key registered at iamport under a merchant-chosen ``customer_uid``."""

    customer_uid: str
    pg_provider: str | None
    pg_id: str | None
    card_name: str | None
    card_code: str | None
    card_number: str | None  # masked by the API
    card_type: int | None  # 0 credit, 1 check
    customer_name: str | None
    customer_tel: str | None
    customer_email: str | None
    inserted_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> BillingKey:
        """Build a BillingKey from a customer object of the API."""
        return cls(
            customer_uid=data["customer_uid"],
            pg_provider=data.get("pg_provider"),
            pg_id=data.get("pg_id"),
            card_name=data.get("card_name"),
            card_code=data.get("card_code"),
            card_number=data.get("card_number"),
            card_type=_opt_int(data.get("card_type")),
            customer_name=data.get("customer_name"),
            customer_tel=data.get("customer_tel"),
            customer_email=data.get("customer_email"),
            inserted_at=from_unix(data.get("inserted")),
            updated_at=from_unix(data.get("updated")),
        )


@dataclass(frozen=True)
class CancelEntry:
    """One (full or partial) refund of a payment."""

    pg_tid: str | None
    amount: int
    cancelled_at: datetime | None
    reason: str | None
    cancellation_id: str | None
    receipt_url: str | None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> CancelEntry:
        """Build a CancelEntry from an element of a payment's ``cancel_history``."""
        return cls(
            pg_tid=data.get("pg_tid"),
            amount=_krw(data.get("amount")),
            cancelled_at=from_unix(data.get("cancelled_at")),
            reason=data.get("reason"),
            cancellation_id=data.get("cancellation_id"),
            receipt_url=data.get("receipt_url"),
        )


@dataclass(frozen=True)
class Payment:
    """A payment attempt as iamport records it (``status``: ready, paid, failed, cancelled)."""

    imp_uid: str
    merchant_uid: str
    status: str
    amount: int
    cancel_amount: int
    currency: str
    name: str | None
    customer_uid: str | None
    customer_uid_usage: str | None
    pay_method: str | None
    pg_provider: str | None
    pg_id: str | None
    pg_tid: str | None
    apply_num: str | None
    card_name: str | None
    card_code: str | None
    card_number: str | None  # masked by the API
    card_type: int | None
    buyer_name: str | None
    buyer_email: str | None
    buyer_tel: str | None
    custom_data: str | None
    started_at: datetime | None
    paid_at: datetime | None
    failed_at: datetime | None
    cancelled_at: datetime | None
    fail_reason: str | None
    cancel_reason: str | None
    receipt_url: str | None
    cancel_history: tuple[CancelEntry, ...]

    @property
    def refundable_amount(self) -> int:
        """Return what can still be refunded: amount less what was already refunded."""
        return self.amount - self.cancel_amount

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Payment:
        """Build a Payment from a payment object of the API."""
        return cls(
            imp_uid=data["imp_uid"],
            merchant_uid=data["merchant_uid"],
            status=data["status"],
            amount=_krw(data["amount"]),
            cancel_amount=_krw(data.get("cancel_amount")),
            currency=data.get("currency") or "KRW",
            name=data.get("name"),
            customer_uid=data.get("customer_uid"),
            customer_uid_usage=data.get("customer_uid_usage"),
            pay_method=data.get("pay_method"),
            pg_provider=data.get("pg_provider"),
            pg_id=data.get("pg_id"),
            pg_tid=data.get("pg_tid"),
            apply_num=data.get("apply_num"),
            card_name=data.get("card_name"),
            card_code=data.get("card_code"),
            card_number=data.get("card_number"),
            card_type=_opt_int(data.get("card_type")),
            buyer_name=data.get("buyer_name"),
            buyer_email=data.get("buyer_email"),
            buyer_tel=data.get("buyer_tel"),
            custom_data=data.get("custom_data"),
            started_at=from_unix(data.get("started_at")),
            paid_at=from_unix(data.get("paid_at")),
            failed_at=from_unix(data.get("failed_at")),
            cancelled_at=from_unix(data.get("cancelled_at")),
            fail_reason=data.get("fail_reason"),
            cancel_reason=data.get("cancel_reason"),
            receipt_url=data.get("receipt_url"),
            cancel_history=tuple(
                CancelEntry.from_api(entry) for entry in data.get("cancel_history") or ()
            ),
        )


@dataclass(frozen=True)
class Schedule:
    """A scheduled payment (``schedule_status``: scheduled, executed, revoked)."""

    merchant_uid: str
    customer_uid: str | None
    imp_uid: str | None
    schedule_at: datetime | None
    executed_at: datetime | None
    revoked_at: datetime | None
    amount: int
    currency: str
    name: str | None
    schedule_status: str | None
    payment_status: str | None  # None until executed; then paid, failed or cancelled
    fail_reason: str | None
    custom_data: str | None
    buyer_name: str | None
    buyer_email: str | None
    buyer_tel: str | None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Schedule:
        """Build a Schedule from a schedule object of the API."""
        return cls(
            merchant_uid=data["merchant_uid"],
            customer_uid=data.get("customer_uid"),
            imp_uid=data.get("imp_uid") or None,
            schedule_at=from_unix(data.get("schedule_at")),
            executed_at=from_unix(data.get("executed_at")),
            revoked_at=from_unix(data.get("revoked_at")),
            amount=_krw(data.get("amount")),
            currency=data.get("currency") or "KRW",
            name=data.get("name"),
            schedule_status=data.get("schedule_status"),
            payment_status=data.get("payment_status") or None,
            fail_reason=data.get("fail_reason"),
            custom_data=data.get("custom_data"),
            buyer_name=data.get("buyer_name"),
            buyer_email=data.get("buyer_email"),
            buyer_tel=data.get("buyer_tel"),
        )


@dataclass(frozen=True)
class ScheduleRequest:
    """One payment to register with ``schedule_payments``."""

    merchant_uid: str
    schedule_at: datetime
    amount: int
    name: str
    buyer_name: str | None = None
    buyer_email: str | None = None
    buyer_tel: str | None = None
    custom_data: str | None = None
    notice_url: str | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list endpoint; ``previous`` / ``next`` are page numbers or None."""

    total: int
    previous: int | None
    next: int | None
    items: tuple[T, ...]

    @classmethod
    def from_api(cls, data: Any, parse_item: Callable[[Mapping[str, Any]], T]) -> Page[T]:
        """Build a Page from a paged object, or from a bare array (a single, last page)."""
        # Some list endpoints are documented as returning an array while every official SDK
        # reads a paged object; accept both so either server behaviour works.
        if isinstance(data, list):
            items = tuple(parse_item(item) for item in data)
            return cls(total=len(items), previous=None, next=None, items=items)
        return cls(
            total=int(data.get("total") or 0),
            previous=_opt_int(data.get("previous")) or None,
            next=_opt_int(data.get("next")) or None,
            items=tuple(parse_item(item) for item in data.get("list") or ()),
        )
