"""The sandbox's records (billing keys, schedules, payments) and their API representations.

``to_api()`` returns every field the schema's definition lists (CustomerAnnotation,
ScheduleResultAnnotation, PaymentAnnotation) and nothing more: the sandbox answers as a live
channel does, so it adds no ``sandbox`` flag. Values that do not apply are ``null`` for strings
and ``0`` for times, as the live API sends them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import ClassVar

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
    """Shared helpers: the API object, and persistence to the state file.

    The API object is every field not named in ``INTERNAL``, plus the fixed values in
    ``CONSTANTS`` (fields that never apply to a KCP card charge) and what ``derived()`` adds.
    """

    INTERNAL: ClassVar[frozenset] = frozenset()
    CONSTANTS: ClassVar[dict] = {}

    def derived(self) -> dict:
        """Return the API fields computed from others."""
        return {}

    def to_api(self) -> dict:
        """Return the object as the API shows it, with every field its definition lists."""
        public = {f.name: getattr(self, f.name) for f in fields(self)
                  if f.name not in self.INTERNAL}
        return {**self.CONSTANTS, **public, **self.derived()}

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

    INTERNAL: ClassVar[frozenset] = frozenset({"declines"})
    CONSTANTS: ClassVar[dict] = {
        "card_issuer_code": None, "card_issuer_name": None,
        "card_publisher_code": None, "card_publisher_name": None,
    }

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

@dataclass
class Schedule(Record):
    """A scheduled payment, known by its ``merchant_uid``."""

    INTERNAL: ClassVar[frozenset] = frozenset({"seq", "notice_url"})

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

@dataclass
class Payment(Record):
    """A charge on a billing key, known by ``imp_uid``."""

    INTERNAL: ClassVar[frozenset] = frozenset({"updated_at", "seq", "notice_url"})
    CONSTANTS: ClassVar[dict] = {
        "pay_method": "card", "channel": "api", "emb_pg_provider": None,
        "escrow": False, "bank_code": None, "bank_name": None, "card_issuer_code": None,
        "card_issuer_name": None, "card_publisher_code": None, "card_publisher_name": None,
        "vbank_code": None, "vbank_name": None, "vbank_num": None, "vbank_holder": None,
        "vbank_date": 0, "vbank_issued_at": 0, "user_agent": None,
        "cash_receipt_issued": False, "promotion": None,
    }

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

    def derived(self) -> dict:
        """Return the receipt address and copies of the cancel history."""
        return {
            "receipt_url": self.receipt_url,
            "cancel_history": [dict(entry) for entry in self.cancel_history],
            "cancel_receipt_urls": [entry["receipt_url"] for entry in self.cancel_history],
        }

    def time_of(self, status: str) -> int:
        """Return the time a status-based search compares (started/paid/cancelled/failed)."""
        return {
            "ready": self.started_at,
            "paid": self.paid_at,
            "cancelled": self.cancelled_at,
            "failed": self.failed_at,
        }[status]
