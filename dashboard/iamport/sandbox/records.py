"""The sandbox's records (billing keys, schedules, payments) and their API representations.

``to_api()`` returns every field the schema's definition lists (CustomerAnnotation,
ScheduleResultAnnotation, PaymentAnnotation), plus ``sandbox: true`` on keys and payments, the
flag newer schema versions add for test channels. Values that do not apply are ``null`` for
strings and ``0`` for times, as the live API sends them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

KCP_RECEIPT_URL = (
    "https://admin8.kcp.co.kr/assist/bill.BillActionNew.do"
    "?cmd=card_bill&tno={tno}&order_no={imp_uid}&trade_mony={amount}"
)

PAYMENT_STATUSES = ("ready", "paid", "cancelled", "failed")
SCHEDULE_STATUSES = ("scheduled", "executed", "revoked")
BUYER_FIELDS = ("buyer_name", "buyer_email", "buyer_tel", "buyer_addr", "buyer_postcode")
CUSTOMER_FIELDS = ("customer_name", "customer_email", "customer_tel", "customer_addr",
                   "customer_postcode")


class Record:
    """Shared persistence helpers for the record dataclasses."""

    def to_dict(self) -> dict:
        """Return every field, internal ones included, for the state file."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict):
        """Rebuild a record from the state file, ignoring keys it no longer has."""
        names = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})


@dataclass
class Customer(Record):
    """A billing key, known by the merchant's ``customer_uid``."""

    customer_uid: str
    pg_provider: str
    pg_id: str
    card_name: str
    card_code: str
    card_number: str
    card_type: int
    declines: bool  # internal: the card was one of the always-declined test cards
    inserted: int
    updated: int
    customer_id: str | None = None
    customer_name: str | None = None
    customer_tel: str | None = None
    customer_email: str | None = None
    customer_addr: str | None = None
    customer_postcode: str | None = None

    def to_api(self) -> dict:
        """Return the CustomerAnnotation object."""
        return {
            "customer_uid": self.customer_uid,
            "pg_provider": self.pg_provider,
            "pg_id": self.pg_id,
            "sandbox": True,
            "customer_id": self.customer_id,
            "card_name": self.card_name,
            "card_code": self.card_code,
            "card_issuer_code": None,
            "card_issuer_name": None,
            "card_publisher_code": None,
            "card_publisher_name": None,
            "card_number": self.card_number,
            "card_type": self.card_type,
            "customer_name": self.customer_name,
            "customer_tel": self.customer_tel,
            "customer_email": self.customer_email,
            "customer_addr": self.customer_addr,
            "customer_postcode": self.customer_postcode,
            "inserted": self.inserted,
            "updated": self.updated,
        }


@dataclass
class Schedule(Record):
    """A scheduled payment, known by its ``merchant_uid``."""

    customer_uid: str
    merchant_uid: str
    pg_provider: str
    pg_id: str
    schedule_at: int
    amount: int
    seq: int  # internal: creation order, to break ties
    currency: str = "KRW"
    name: str | None = None
    customer_id: str | None = None
    buyer_name: str | None = None
    buyer_email: str | None = None
    buyer_tel: str | None = None
    buyer_addr: str | None = None
    buyer_postcode: str | None = None
    custom_data: str | None = None
    notice_url: str | None = None  # internal: webhook target for this schedule
    promotion_id: str | None = None
    imp_uid: str | None = None
    executed_at: int = 0
    revoked_at: int = 0
    schedule_status: str = "scheduled"
    payment_status: str | None = None
    fail_reason: str | None = None

    def to_api(self) -> dict:
        """Return the ScheduleResultAnnotation object."""
        return {
            "customer_uid": self.customer_uid,
            "merchant_uid": self.merchant_uid,
            "imp_uid": self.imp_uid,
            "pg_provider": self.pg_provider,
            "pg_id": self.pg_id,
            "customer_id": self.customer_id,
            "schedule_at": self.schedule_at,
            "executed_at": self.executed_at,
            "revoked_at": self.revoked_at,
            "amount": self.amount,
            "currency": self.currency,
            "name": self.name,
            "buyer_name": self.buyer_name,
            "buyer_email": self.buyer_email,
            "buyer_tel": self.buyer_tel,
            "buyer_addr": self.buyer_addr,
            "buyer_postcode": self.buyer_postcode,
            "custom_data": self.custom_data,
            "schedule_status": self.schedule_status,
            "payment_status": self.payment_status,
            "fail_reason": self.fail_reason,
            "promotion_id": self.promotion_id,
        }


@dataclass
class Payment(Record):
    """A charge on a billing key, known by ``imp_uid``."""

    imp_uid: str
    merchant_uid: str
    amount: int
    status: str
    started_at: int
    updated_at: int  # internal: for sorting=updated
    seq: int  # internal: creation order, to break ties
    pg_provider: str
    pg_id: str
    customer_uid: str | None
    customer_uid_usage: str | None
    name: str | None = None
    currency: str = "KRW"
    card_code: str | None = None
    card_name: str | None = None
    card_number: str | None = None
    card_type: int | None = None
    card_quota: int = 0
    buyer_name: str | None = None
    buyer_email: str | None = None
    buyer_tel: str | None = None
    buyer_addr: str | None = None
    buyer_postcode: str | None = None
    custom_data: str | None = None
    notice_url: str | None = None  # internal: webhook target of this payment
    pg_tid: str | None = None
    apply_num: str | None = None
    paid_at: int = 0
    failed_at: int = 0
    cancelled_at: int = 0
    fail_reason: str | None = None
    cancel_reason: str | None = None
    cancel_amount: int = 0
    cancel_history: list = field(default_factory=list)

    @property
    def cancellable(self) -> int:
        """Return the refundable balance (what ``checksum`` must equal)."""
        return self.amount - self.cancel_amount

    @property
    def receipt_url(self) -> str | None:
        """Return KCP's card receipt address for an approved payment."""
        if not self.pg_tid:
            return None
        return KCP_RECEIPT_URL.format(tno=self.pg_tid, imp_uid=self.imp_uid, amount=self.amount)

    def to_api(self) -> dict:
        """Return the PaymentAnnotation object."""
        return {
            "imp_uid": self.imp_uid,
            "merchant_uid": self.merchant_uid,
            "pay_method": "card",
            "channel": "api",
            "pg_provider": self.pg_provider,
            "emb_pg_provider": None,
            "pg_tid": self.pg_tid,
            "pg_id": self.pg_id,
            "sandbox": True,
            "escrow": False,
            "apply_num": self.apply_num,
            "bank_code": None,
            "bank_name": None,
            "card_code": self.card_code,
            "card_name": self.card_name,
            "card_issuer_code": None,
            "card_issuer_name": None,
            "card_publisher_code": None,
            "card_publisher_name": None,
            "card_quota": self.card_quota,
            "card_number": self.card_number,
            "card_type": self.card_type,
            "vbank_code": None,
            "vbank_name": None,
            "vbank_num": None,
            "vbank_holder": None,
            "vbank_date": 0,
            "vbank_issued_at": 0,
            "name": self.name,
            "amount": self.amount,
            "cancel_amount": self.cancel_amount,
            "currency": self.currency,
            "buyer_name": self.buyer_name,
            "buyer_email": self.buyer_email,
            "buyer_tel": self.buyer_tel,
            "buyer_addr": self.buyer_addr,
            "buyer_postcode": self.buyer_postcode,
            "custom_data": self.custom_data,
            "user_agent": None,
            "status": self.status,
            "started_at": self.started_at,
            "paid_at": self.paid_at,
            "failed_at": self.failed_at,
            "cancelled_at": self.cancelled_at,
            "fail_reason": self.fail_reason,
            "cancel_reason": self.cancel_reason,
            "receipt_url": self.receipt_url,
            "cancel_history": [dict(entry) for entry in self.cancel_history],
            "cancel_receipt_urls": [entry["receipt_url"] for entry in self.cancel_history],
            "cash_receipt_issued": False,
            "customer_uid": self.customer_uid,
            "customer_uid_usage": self.customer_uid_usage,
            "promotion": None,
        }

    def time_of(self, status: str) -> int:
        """Return the time a status-based search compares (started/paid/cancelled/failed)."""
        return {
            "ready": self.started_at,
            "paid": self.paid_at,
            "cancelled": self.cancelled_at,
            "failed": self.failed_at,
        }[status]
