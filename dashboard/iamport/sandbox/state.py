"""The sandbox's state and rules: clock, tokens, billing keys, schedules, payments, webhooks.

No Flask here: ``app.py`` parses requests into primitives and calls these methods, which raise
``errors.ApiError`` subclasses for every refusal. One re-entrant lock guards all state; webhooks
are posted with the lock released, because the receiver usually calls the API back.

Behaviour choices where the reference leaves a question open (CONFLICT / UNCONFIRMED), kept here
in one place:

- Unknown ``customer_uid`` on GET/DELETE ``/subscribe/customers/{uid}``: HTTP 404, code 1,
  ``요청하신 customer_uid(<uid>)로 등록된 정보를 찾을 수 없습니다.`` (the schema's 404).
- Issuing a key needs ``birth`` (NHN KCP asks for it; HTTP 400 without). ``pg`` is accepted
  and ignored: every key uses the configured ``pg_provider`` / ``pg_id``.
- Deleting a billing key revokes its pending (``scheduled``) schedules, as if unscheduled.
- Re-issuing a key for an existing ``customer_uid`` replaces the card; ``inserted`` keeps the
  first issue time and holder fields not sent again keep their previous values.
- A card number ending in ``0002`` is declined on every charge with ``[CC10] 통장 잔액부족``
  (format ``[<KCP code>] <KCP text>``, see ``cards.kcp_reason``); a per-customer behaviour set
  through the control API overrides the card.
- ``again`` and schedules refuse a ``merchant_uid`` that has been paid (even if refunded since)
  or is waiting in a ``scheduled`` schedule: HTTP 200, code 1. A ``merchant_uid`` whose attempts
  all failed may be charged again; each attempt is a separate payment (see ``findAll``).
- A failed charge answers code 0 with ``status: failed`` and ``message: null``; only approved
  ``again`` charges send a webhook, schedule executions (and retries) send one for both outcomes.
- ``schedule_at`` in the past is refused with HTTP 400 on create, change and reschedule.
- Schedule list endpoints answer the paged object ``{total, previous, next, list}`` (the
  official SDKs' shape) rather than the schema's bare array; at most three months (92 days)
  per query. ``/payments/status`` allows at most 90 days.
- Reschedule and retry accept schedules that were revoked or whose payment failed, while their
  billing key exists (HTTP 404 otherwise) and their merchant_uid is unpaid. Reschedule
  puts them back to ``scheduled`` with ``imp_uid``/``payment_status``/``fail_reason`` cleared and
  ``executed_at``/``revoked_at`` set to 0; retry charges at once and leaves them ``executed``.
- After any cancel (partial too) the payment's status is ``cancelled``; a schedule whose
  payment is cancelled shows ``payment_status: cancelled``. A cancel sends a ``cancelled``
  webhook (with ``cancellation_id``) only when ``enable_webhook`` is true.
- Webhooks are asynchronous, as at iamport: a charge or cancel queues them, and they are posted
  by the runner thread, by ``run_due()``, whenever the clock is set or advanced, and before the
  control API lists deliveries.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import random
import re
import secrets
import tempfile
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import requests

from . import cards, webhooks
from .clock import SandboxClock
from .errors import BadRequest, NotAllowed, NotFound, PgFailed, Refused, Unauthorized
from .records import (
    BUYER_FIELDS,
    CUSTOMER_FIELDS,
    KCP_RECEIPT_URL,
    PAYMENT_STATUSES,
    Customer,
    Payment,
    Schedule,
)
from .webhooks import PendingWebhook

log = logging.getLogger(__name__)

DEFAULT_IMP_KEY = "sandbox_key"
DEFAULT_IMP_SECRET = "sandbox_secret"

TOKEN_LIFETIME = 30 * 60
TOKEN_EXTENSION = 5 * 60
TOKEN_EXTENSION_WINDOW = 60
PAGE_SIZE = 20
MAX_LIMIT = 1000
MAX_SCHEDULE_RANGE = 92 * 24 * 3600
MAX_PAYMENT_RANGE = 90 * 24 * 3600
MAX_IDS = 100
SORTINGS = ("-started", "started", "-paid", "paid", "-updated", "updated")
STATE_VERSION = 1
MAX_DELIVERIES = 5000  # the delivery log keeps the most recent attempts
IDLE_WAIT = 45.0  # longest wait for another thread's webhook posts (30 s read timeout + margin)

UNKNOWN_BUYER = "등록되지 않은 구매자입니다."
NO_CUSTOMER_INFO = "등록된 고객정보가 없습니다."
NOTHING_TO_UNSCHEDULE = "취소할 예약결제 기록이 존재하지 않습니다."
PAYMENT_NOT_FOUND = "존재하지 않는 결제정보입니다."
NOTHING_TO_CANCEL = "취소할 결제건이 존재하지 않습니다."
ALREADY_CANCELLED = "이미 전액취소된 주문입니다."
UNSUPPORTED_STATUS = "지원되지 않는 상태값입니다."
BAD_CREDENTIALS = "imp_key, imp_secret 인증에 실패하였습니다."
SCHEDULE_IN_PAST = "결제예약 시각(schedule_at)은 현재 시각 이후여야 합니다."


def customer_not_found(customer_uid: str) -> str:
    """Return the message for an unknown ``customer_uid``."""
    return f"요청하신 customer_uid({customer_uid})로 등록된 정보를 찾을 수 없습니다."


def schedule_not_found(merchant_uid: str) -> str:
    """Return the message for an unknown scheduled ``merchant_uid``."""
    return f"merchant_uid({merchant_uid})에 해당하는 결제예약건이 존재하지 않습니다."


@dataclass
class Fault:
    """A failure injected into the next ``count`` API requests whose path matches."""

    path: re.Pattern
    status: int | None = None
    delay: float = 0.0
    count: int = 1
    after_commit: bool = False
    method: str | None = None

    def matches(self, method: str, path: str) -> bool:
        """Tell whether this fault applies to a request."""
        return (self.method is None or self.method == method) and bool(self.path.search(path))

    def to_dict(self) -> dict:
        """Describe the fault for the control API."""
        return {"path": self.path.pattern, "status": self.status, "delay": self.delay,
                "count": self.count, "after_commit": self.after_commit, "method": self.method}


def _mutation(method):
    """Run a method under the lock and persist the state when it returns normally."""

    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self._lock:
            result = method(self, *args, **kwargs)
            self._save()
            return result

    return locked


def _reading(method):
    """Run a method under the lock."""

    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return locked


def _page(items: list, page: int, limit: int) -> dict:
    start = (page - 1) * limit
    return {
        "total": len(items),
        "previous": page - 1 if page > 1 else 0,
        "next": page + 1 if start + limit < len(items) else 0,
        "list": [item.to_api() for item in items[start:start + limit]],
    }


def _check_range(start: int, end: int, longest: int, what: str) -> None:
    if end - start > longest:
        raise BadRequest(f"{what} 조회기간은 최대 {longest // 86400}일입니다.")


def _sort_payments(payments: list[Payment], sorting: str) -> list[Payment]:
    key = sorting.lstrip("-")
    attribute = {"started": "started_at", "paid": "paid_at", "updated": "updated_at"}[key]
    return sorted(payments, key=lambda p: (getattr(p, attribute), p.seq),
                  reverse=sorting.startswith("-"))


class SandboxState:
    """Everything the emulated iamport account holds, and the rules that change it."""

    def __init__(
        self,
        imp_key: str = DEFAULT_IMP_KEY,
        imp_secret: str = DEFAULT_IMP_SECRET,
        *,
        state_path: str | os.PathLike | None = None,
        webhook_url: str | None = None,
        webhook_content_type: str = webhooks.JSON,
        webhook_session: requests.Session | None = None,
        pg_provider: str = "kcp",
        pg_id: str = "BA001",
    ):
        if webhook_content_type not in webhooks.CONTENT_TYPES:
            raise ValueError(f"unsupported webhook content type: {webhook_content_type}")
        self.imp_key = imp_key
        self.imp_secret = imp_secret
        self.pg_provider = pg_provider
        self.pg_id = pg_id
        self.webhook_session = webhook_session or requests.Session()
        self._webhook_defaults = {"url": webhook_url, "content_type": webhook_content_type}
        self._path = Path(state_path) if state_path else None
        self._saves_deferred = 0
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)
        self._in_flight = 0
        self._random = random.Random()
        self._runner: tuple[threading.Thread, threading.Event] | None = None
        self._faults: list[Fault] = []
        self._requests: deque = deque(maxlen=2000)
        self._clear()
        if self._path and self._path.exists():
            self._load()

    # ----------------------------------------------------------------------------- storage

    def _clear(self) -> None:
        self._clock = SandboxClock()
        self._token: dict | None = None
        self._customers: dict[str, Customer] = {}
        self._schedules: dict[str, Schedule] = {}
        self._payments: dict[str, Payment] = {}
        self._by_merchant: dict[str, list[str]] = {}
        self._behaviors: dict[str, dict] = {}
        self._webhook = dict(self._webhook_defaults)
        self._outbox: list[PendingWebhook] = []
        self._deliveries: list[dict] = []
        self._seq = 0

    def _snapshot(self) -> dict:
        return {
            "version": STATE_VERSION,
            "clock": self._clock.to_dict(),
            "token": self._token,
            "customers": [c.to_dict() for c in self._customers.values()],
            "schedules": [s.to_dict() for s in self._schedules.values()],
            "payments": [p.to_dict() for p in self._payments.values()],
            "behaviors": self._behaviors,
            "webhook": self._webhook,
            "outbox": [w.to_dict() for w in self._outbox],
            "deliveries": self._deliveries,
            "seq": self._seq,
        }

    @contextlib.contextmanager
    def saving_deferred(self):
        """Write the state file once after a batch of changes instead of after each one."""
        with self._lock:
            self._saves_deferred += 1
        try:
            yield self
        finally:
            with self._lock:
                self._saves_deferred -= 1
                self._save()

    def _save(self) -> None:
        if self._path is None or self._saves_deferred:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self._path.parent, prefix=".sandbox-",
                                             suffix=".json")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(self._snapshot(), out, ensure_ascii=False)
            os.replace(temporary, self._path)
        except BaseException:
            os.unlink(temporary)
            raise

    def _load(self) -> None:
        data = json.loads(self._path.read_text(encoding="utf-8"))
        self._clock = SandboxClock.from_dict(data.get("clock", {}))
        self._token = data.get("token")
        self._customers = {c["customer_uid"]: Customer.from_dict(c)
                           for c in data.get("customers", [])}
        self._schedules = {s["merchant_uid"]: Schedule.from_dict(s)
                           for s in data.get("schedules", [])}
        self._payments = {}
        self._by_merchant = {}
        for raw in data.get("payments", []):
            self._store_payment(Payment.from_dict(raw))
        self._behaviors = data.get("behaviors", {})
        self._webhook = data.get("webhook", dict(self._webhook_defaults))
        self._outbox = [PendingWebhook.from_dict(w) for w in data.get("outbox", [])]
        self._deliveries = data.get("deliveries", [])
        self._seq = data.get("seq", 0)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _digits(self, count: int) -> str:
        return "".join(self._random.choice("0123456789") for _ in range(count))

    def _new_imp_uid(self) -> str:
        while True:
            imp_uid = f"imp_{self._random.randint(1, 9)}{self._digits(11)}"
            if imp_uid not in self._payments:
                return imp_uid

    def _new_pg_tid(self, now: int) -> str:
        """Return a KCP transaction number (tno): 14 digits starting with the KST date."""
        return datetime.fromtimestamp(now, cards.KST).strftime("%y%m%d") + self._digits(8)

    # ------------------------------------------------------------------------------- clock

    def now(self) -> int:
        """Return the sandbox time in UNIX seconds."""
        return self._clock.now()

    def advance(self, seconds: float) -> int:
        """Move the sandbox clock forward, send webhooks now due, and return the new time."""
        with self._lock:
            self._clock.advance(seconds)
            self._save()
        self.deliver_webhooks()
        return self.now()

    def set_now(self, unix: int) -> int:
        """Set the sandbox clock, send webhooks now due, and return the new time."""
        with self._lock:
            self._clock.set(unix)
            self._save()
        self.deliver_webhooks()
        return self.now()

    @_mutation
    def freeze_clock(self, frozen: bool = True) -> int:
        """Stop sandbox time (it then moves only when set or advanced), or let it flow again."""
        self._clock.freeze(frozen)
        return self.now()

    # ------------------------------------------------------------------------------ tokens

    @_mutation
    def issue_token(self, imp_key: str, imp_secret: str) -> dict:
        """Return the access token: the current one while valid (extended near its end)."""
        if imp_key != self.imp_key or imp_secret != self.imp_secret:
            raise Unauthorized(BAD_CREDENTIALS)
        now = self.now()
        token = self._token
        if token and now < token["expired_at"]:
            if token["expired_at"] - now <= TOKEN_EXTENSION_WINDOW:
                token["expired_at"] += TOKEN_EXTENSION
        else:
            token = {"access_token": secrets.token_hex(20), "expired_at": now + TOKEN_LIFETIME}
            self._token = token
        return {"access_token": token["access_token"], "now": now,
                "expired_at": token["expired_at"]}

    @_reading
    def token_is_valid(self, access_token: str | None) -> bool:
        """Tell whether an access token is the current one and not expired."""
        token = self._token
        return bool(token and access_token and secrets.compare_digest(
            access_token.encode(), token["access_token"].encode())
            and self.now() < token["expired_at"])

    # ------------------------------------------------------------------------ billing keys

    def _customer(self, customer_uid: str) -> Customer:
        customer = self._customers.get(customer_uid)
        if customer is None:
            raise NotFound(customer_not_found(customer_uid))
        return customer

    def _store_customer(self, customer_uid: str, card: cards.CardProfile, holder: dict,
                        customer_id: str | None, now: int) -> Customer:
        previous = self._customers.get(customer_uid)
        kept = {name: getattr(previous, name) for name in CUSTOMER_FIELDS} if previous else {}
        kept.update({name: value for name, value in holder.items() if value is not None})
        customer = Customer(
            customer_uid=customer_uid,
            pg_provider=self.pg_provider,
            pg_id=self.pg_id,
            card_name=card.card_name,
            card_code=card.card_code,
            card_number=card.masked_number,
            card_type=card.card_type,
            declines=card.declines,
            inserted=previous.inserted if previous else now,
            updated=now,
            customer_id=customer_id or (previous.customer_id if previous else None),
            **kept,
        )
        self._customers[customer_uid] = customer
        return customer

    @_mutation
    def issue_billing_key(self, customer_uid: str, *, card_number: str, expiry: str,
                          birth: str, pwd_2digit: str | None = None, holder: dict | None = None,
                          customer_id: str | None = None) -> dict:
        """Issue (or replace) the billing key for ``customer_uid`` from key-in card data."""
        now = self.now()
        try:
            card = cards.inspect_card(card_number, expiry, birth, pwd_2digit, now=now)
        except cards.CardRejected as rejected:
            raise PgFailed(rejected.issue_message()) from None
        return self._store_customer(customer_uid, card, holder or {}, customer_id, now).to_api()

    @_reading
    def get_customer(self, customer_uid: str) -> dict:
        """Return one billing key."""
        return self._customer(customer_uid).to_api()

    @_reading
    def get_customers(self, customer_uids: list[str]) -> tuple[list[dict], list[str]]:
        """Return the billing keys found, and the uids that were not."""
        found = [self._customers[uid].to_api() for uid in customer_uids if uid in self._customers]
        missing = [uid for uid in customer_uids if uid not in self._customers]
        return found, missing

    @_mutation
    def delete_customer(self, customer_uid: str) -> dict:
        """Delete a billing key and revoke its pending schedules."""
        customer = self._customer(customer_uid)
        now = self.now()
        for schedule in self._schedules.values():
            if schedule.customer_uid == customer_uid and schedule.schedule_status == "scheduled":
                schedule.schedule_status = "revoked"
                schedule.revoked_at = now
        del self._customers[customer_uid]
        return customer.to_api()

    @_reading
    def customer_payments(self, customer_uid: str, page: int) -> dict:
        """Return one page of the payments made with a billing key, newest first."""
        payments = [p for p in self._payments.values() if p.customer_uid == customer_uid]
        return _page(_sort_payments(payments, "-started"), page, PAGE_SIZE)

    # ----------------------------------------------------------------------------- charges

    def _decline_reason(self, customer: Customer) -> str | None:
        behavior = self._behaviors.get(customer.customer_uid)
        if behavior:
            if behavior["outcome"] == "approve":
                return None
            return behavior.get("fail_reason") or cards.DEFAULT_DECLINE_REASON
        return cards.DEFAULT_DECLINE_REASON if customer.declines else None

    def _store_payment(self, payment: Payment) -> None:
        self._payments[payment.imp_uid] = payment
        self._by_merchant.setdefault(payment.merchant_uid, []).append(payment.imp_uid)

    def _payments_for(self, merchant_uid: str) -> list[Payment]:
        return [self._payments[i] for i in self._by_merchant.get(merchant_uid, [])]

    def _refuse_taken_merchant_uid(self, merchant_uid: str) -> None:
        if any(p.status in ("paid", "cancelled") for p in self._payments_for(merchant_uid)):
            raise Refused(f"이미 결제완료된 merchant_uid({merchant_uid})입니다.")
        schedule = self._schedules.get(merchant_uid)
        if schedule and schedule.schedule_status == "scheduled":
            raise Refused(f"이미 결제예약된 merchant_uid({merchant_uid})입니다.")

    def _charge(self, customer: Customer, *, merchant_uid: str, amount: int, usage: str,
                now: int, details: dict) -> Payment:
        """Charge a billing key now and record the payment, approved or declined."""
        fail_reason = self._decline_reason(customer)
        payment = Payment(
            imp_uid=self._new_imp_uid(),
            merchant_uid=merchant_uid,
            amount=amount,
            status="failed" if fail_reason else "paid",
            started_at=now,
            updated_at=now,
            seq=self._next_seq(),
            pg_provider=customer.pg_provider,
            pg_id=customer.pg_id,
            customer_uid=customer.customer_uid,
            customer_uid_usage=usage,
            card_code=customer.card_code,
            card_name=customer.card_name,
            card_number=customer.card_number,
            card_type=customer.card_type,
            **details,
        )
        if fail_reason:
            payment.failed_at = now
            payment.fail_reason = fail_reason
        else:
            payment.paid_at = now
            payment.pg_tid = self._new_pg_tid(now)
            payment.apply_num = self._digits(8)
        self._store_payment(payment)
        return payment

    def _queue_webhook(self, payment: Payment, status: str, **extra: str) -> None:
        url = payment.notice_url or self._webhook["url"]
        if not url:
            return
        payload = {"imp_uid": payment.imp_uid, "merchant_uid": payment.merchant_uid,
                   "status": status, **extra}
        self._outbox.append(PendingWebhook(self._next_seq(), url, self._webhook["content_type"],
                                           payload, attempt=1, due_at=self.now()))

    @_mutation
    def charge_again(self, customer_uid: str, merchant_uid: str, amount: int,
                     details: dict) -> dict:
        """Charge a billing key (``/subscribe/payments/again``) and return the payment."""
        customer = self._customers.get(customer_uid)
        if customer is None:
            raise Refused(UNKNOWN_BUYER)
        self._refuse_taken_merchant_uid(merchant_uid)
        payment = self._charge(customer, merchant_uid=merchant_uid, amount=amount,
                               usage="payment", now=self.now(), details=details)
        if payment.status == "paid":
            self._queue_webhook(payment, "paid")
        return payment.to_api()

    # --------------------------------------------------------------------------- schedules

    def _schedule(self, merchant_uid: str) -> Schedule:
        schedule = self._schedules.get(merchant_uid)
        if schedule is None:
            raise NotFound(schedule_not_found(merchant_uid))
        return schedule

    @_mutation
    def create_schedules(self, customer_uid: str, schedules: list[dict], *,
                         card: dict | None = None, holder: dict | None = None,
                         customer_id: str | None = None) -> list[dict]:
        """Register schedules on a key, issuing the key first from card data when it is new.

        Each schedule dict carries merchant_uid, schedule_at, amount and optional Schedule
        fields. Nothing is stored unless every schedule is acceptable.
        """
        now = self.now()
        customer = self._customers.get(customer_uid)
        new_card = None
        if customer is None:
            if not card:
                raise Refused(NO_CUSTOMER_INFO)
            try:
                new_card = cards.inspect_card(card["card_number"], card["expiry"],
                                              card["birth"], card.get("pwd_2digit"), now=now)
            except cards.CardRejected as rejected:
                raise Refused(rejected.schedule_message()) from None
        seen = set()
        for item in schedules:
            merchant_uid = item["merchant_uid"]
            if merchant_uid in seen:
                raise Refused(f"중복된 merchant_uid({merchant_uid})가 포함되어 있습니다.")
            seen.add(merchant_uid)
            self._refuse_taken_merchant_uid(merchant_uid)
            if item["schedule_at"] < now:
                raise BadRequest(SCHEDULE_IN_PAST)
        if new_card is not None:
            customer = self._store_customer(customer_uid, new_card, holder or {}, customer_id, now)
        fallback = {buyer: getattr(customer, own) for buyer, own
                    in zip(BUYER_FIELDS, CUSTOMER_FIELDS, strict=True)}
        created = []
        for item in schedules:
            given = {key: value for key, value in item.items() if value is not None}
            schedule = Schedule(
                customer_uid=customer_uid,
                pg_provider=customer.pg_provider,
                pg_id=customer.pg_id,
                customer_id=customer_id or customer.customer_id,
                seq=self._next_seq(),
                **{**fallback, **given},
            )
            self._schedules[schedule.merchant_uid] = schedule
            created.append(schedule.to_api())
        return created

    @_mutation
    def unschedule(self, customer_uid: str | None, merchant_uids: list[str]) -> list[dict]:
        """Revoke pending schedules by merchant_uid, or all of a customer's."""
        if merchant_uids:
            candidates = [self._schedules[m] for m in merchant_uids if m in self._schedules]
            if customer_uid:
                candidates = [s for s in candidates if s.customer_uid == customer_uid]
        else:
            candidates = [s for s in self._schedules.values() if s.customer_uid == customer_uid]
        revoked = [s for s in candidates if s.schedule_status == "scheduled"]
        if not revoked:
            raise Refused(NOTHING_TO_UNSCHEDULE)
        now = self.now()
        for schedule in revoked:
            schedule.schedule_status = "revoked"
            schedule.revoked_at = now
        return [s.to_api() for s in revoked]

    @_reading
    def get_schedule(self, merchant_uid: str) -> dict:
        """Return one schedule."""
        return self._schedule(merchant_uid).to_api()

    @_reading
    def list_schedules(self, *, schedule_from: int, schedule_to: int,
                       customer_uid: str | None = None, status: str | None = None,
                       page: int = 1, limit: int = PAGE_SIZE, oldest_first: bool = False) -> dict:
        """Return one page of schedules whose time is in [from, to), newest first by default."""
        _check_range(schedule_from, schedule_to, MAX_SCHEDULE_RANGE, "결제예약")
        found = [
            s for s in self._schedules.values()
            if schedule_from <= s.schedule_at < schedule_to
            and (customer_uid is None or s.customer_uid == customer_uid)
            and (status is None or s.schedule_status == status)
        ]
        found.sort(key=lambda s: (s.schedule_at, s.seq), reverse=not oldest_first)
        return _page(found, page, limit)

    @_mutation
    def change_schedule_time(self, merchant_uid: str, schedule_at: int) -> dict:
        """Move a pending schedule to another time."""
        schedule = self._schedule(merchant_uid)
        if schedule.schedule_status != "scheduled":
            raise NotAllowed("이미 실행되었거나 취소된 결제예약건은 예약시각을 변경할 수 없습니다.")
        if schedule_at < self.now():
            raise BadRequest(SCHEDULE_IN_PAST)
        schedule.schedule_at = schedule_at
        return schedule.to_api()

    def _check_repeatable(self, schedule: Schedule) -> Customer:
        """Check a schedule may be tried again (revoked, or its payment failed)."""
        failed = schedule.schedule_status == "executed" and schedule.payment_status == "failed"
        if not (failed or schedule.schedule_status == "revoked"):
            raise NotAllowed("결제에 실패했거나 취소된 결제예약건만 다시 시도할 수 있습니다.")
        self._refuse_taken_merchant_uid(schedule.merchant_uid)
        return self._customer(schedule.customer_uid)

    @_mutation
    def reschedule(self, merchant_uid: str, schedule_at: int) -> dict:
        """Schedule a revoked or failed schedule again at a new time."""
        schedule = self._schedule(merchant_uid)
        self._check_repeatable(schedule)
        if schedule_at < self.now():
            raise BadRequest(SCHEDULE_IN_PAST)
        schedule.schedule_status = "scheduled"
        schedule.schedule_at = schedule_at
        schedule.executed_at = schedule.revoked_at = 0
        schedule.imp_uid = schedule.payment_status = schedule.fail_reason = None
        return schedule.to_api()

    @_mutation
    def retry_schedule(self, merchant_uid: str) -> dict:
        """Charge a revoked or failed schedule now and return the payment."""
        schedule = self._schedule(merchant_uid)
        customer = self._check_repeatable(schedule)
        return self._execute(schedule, customer, self.now()).to_api()

    def _execute(self, schedule: Schedule, customer: Customer, now: int) -> Payment:
        details = {name: getattr(schedule, name) for name in
                   ("name", "currency", "custom_data", "notice_url", *BUYER_FIELDS)}
        payment = self._charge(customer, merchant_uid=schedule.merchant_uid,
                               amount=schedule.amount, usage="payment.scheduled", now=now,
                               details=details)
        schedule.schedule_status = "executed"
        schedule.executed_at = now
        schedule.revoked_at = 0
        schedule.imp_uid = payment.imp_uid
        schedule.payment_status = payment.status
        schedule.fail_reason = payment.fail_reason
        self._queue_webhook(payment, payment.status)
        return payment

    @_mutation
    def _execute_due(self) -> list[str]:
        now = self.now()
        due = sorted((s for s in self._schedules.values()
                      if s.schedule_status == "scheduled" and s.schedule_at <= now),
                     key=lambda s: (s.schedule_at, s.seq))
        executed = []
        for schedule in due:
            customer = self._customers.get(schedule.customer_uid)
            if customer is None:  # deleting a key revokes its schedules; only a hand-edited file
                log.warning("revoking schedule %s: its billing key is gone", schedule.merchant_uid)
                schedule.schedule_status, schedule.revoked_at = "revoked", now
                continue
            self._execute(schedule, customer, now)
            executed.append(schedule.merchant_uid)
        return executed

    def run_due(self) -> list[str]:
        """Execute every schedule that is due, send due webhooks, and return merchant_uids."""
        executed = self._execute_due()
        self.deliver_webhooks()
        return executed

    # ---------------------------------------------------------------------------- payments

    def _payment(self, imp_uid: str) -> Payment:
        payment = self._payments.get(imp_uid)
        if payment is None:
            raise NotFound(PAYMENT_NOT_FOUND)
        return payment

    @staticmethod
    def _check_status(status: str | None, allowed=PAYMENT_STATUSES) -> None:
        if status is not None and status not in allowed:
            raise BadRequest(UNSUPPORTED_STATUS)

    @_reading
    def get_payment(self, imp_uid: str) -> dict:
        """Return one payment."""
        return self._payment(imp_uid).to_api()

    def _with_merchant_uid(self, merchant_uid: str, status: str | None, sorting: str
                           ) -> list[Payment]:
        self._check_status(status)
        found = [p for p in self._payments_for(merchant_uid) if status in (None, p.status)]
        return _sort_payments(found, sorting)

    @_reading
    def find_payment(self, merchant_uid: str, status: str | None = None,
                     sorting: str = "-started") -> dict:
        """Return the first payment with this merchant_uid (and status) in the given order."""
        found = self._with_merchant_uid(merchant_uid, status, sorting)
        if not found:
            raise NotFound(PAYMENT_NOT_FOUND)
        return found[0].to_api()

    @_reading
    def find_all_payments(self, merchant_uid: str, status: str | None = None, *, page: int = 1,
                          limit: int = PAGE_SIZE, sorting: str = "-started") -> dict:
        """Return one page of every payment with this merchant_uid (and status)."""
        found = self._with_merchant_uid(merchant_uid, status, sorting)
        if not found:
            raise NotFound(PAYMENT_NOT_FOUND)
        return _page(found, page, limit)

    @_reading
    def payments_by_status(self, status: str, *, page: int = 1, limit: int = PAGE_SIZE,
                           time_from: int | None = None, time_to: int | None = None,
                           sorting: str = "-started") -> dict:
        """Return one page of payments by status within a time window of at most 90 days.

        The time compared is the one of each payment's own status (started, paid, cancelled or
        failed), as the API documents.
        """
        self._check_status(status, ("all", *PAYMENT_STATUSES))
        time_to = self.now() if time_to is None else time_to
        time_from = time_to - MAX_PAYMENT_RANGE if time_from is None else time_from
        _check_range(time_from, time_to, MAX_PAYMENT_RANGE, "결제내역")
        found = [p for p in self._payments.values()
                 if status in ("all", p.status) and time_from <= p.time_of(p.status) <= time_to]
        return _page(_sort_payments(found, sorting), page, limit)

    @_reading
    def payments_by_ids(self, imp_uids: list[str], merchant_uids: list[str]
                        ) -> tuple[list[dict], int]:
        """Return the payments found by imp_uid and merchant_uid, and how many were missing."""
        found: dict[str, Payment] = {}
        missing = 0
        for imp_uid in imp_uids:
            if imp_uid in self._payments:
                found.setdefault(imp_uid, self._payments[imp_uid])
            else:
                missing += 1
        for merchant_uid in merchant_uids:
            latest = self._with_merchant_uid(merchant_uid, None, "-started")
            if latest:
                found.setdefault(latest[0].imp_uid, latest[0])
            else:
                missing += 1
        return [p.to_api() for p in found.values()], missing

    @_mutation
    def cancel_payment(self, *, imp_uid: str | None, merchant_uid: str | None,
                       amount: int | None, checksum: int | None, reason: str | None,
                       enable_webhook: bool = False) -> dict:
        """Refund all or part of a payment and return it."""
        if imp_uid:
            payment = self._payments.get(imp_uid)
        else:
            refundable = [p for p in self._payments_for(merchant_uid or "")
                          if p.status in ("paid", "cancelled")]
            payment = _sort_payments(refundable, "-started")[0] if refundable else None
        if payment is None or payment.status not in ("paid", "cancelled"):
            raise Refused(NOTHING_TO_CANCEL)
        balance = payment.cancellable
        if balance <= 0:
            raise Refused(ALREADY_CANCELLED)
        if checksum is not None and checksum != balance:
            raise Refused(f"취소가능잔액({balance}원)과 checksum({checksum}원)이 일치하지 않습니다.")
        requested = amount or balance
        if requested > balance:
            raise Refused(f"취소요청금액({requested}원)이 취소가능잔액({balance}원)을 초과합니다.")
        now = self.now()
        tno = self._new_pg_tid(now)
        cancellation_id = secrets.token_hex(10)
        payment.cancel_history.append({
            "pg_tid": tno,
            "amount": requested,
            "cancelled_at": now,
            "reason": reason or "",
            "cancellation_id": cancellation_id,
            "receipt_url": KCP_RECEIPT_URL.format(tno=tno, imp_uid=payment.imp_uid,
                                                  amount=requested),
        })
        payment.cancel_amount += requested
        payment.status = "cancelled"
        payment.cancelled_at = payment.updated_at = now
        payment.cancel_reason = reason
        for schedule in self._schedules.values():
            if schedule.imp_uid == payment.imp_uid:
                schedule.payment_status = "cancelled"
        if enable_webhook:
            self._queue_webhook(payment, "cancelled", cancellation_id=cancellation_id)
        return payment.to_api()

    # ---------------------------------------------------------------------------- webhooks

    @_reading
    def webhook_config(self) -> dict:
        """Return the configured webhook URL and content type."""
        return dict(self._webhook)

    @_mutation
    def configure_webhook(self, url: str | None, content_type: str = webhooks.JSON) -> dict:
        """Set the console webhook URL and content type."""
        if content_type not in webhooks.CONTENT_TYPES:
            raise ValueError(f"content_type must be one of {', '.join(webhooks.CONTENT_TYPES)}")
        self._webhook = {"url": url or None, "content_type": content_type}
        return dict(self._webhook)

    @_mutation
    def _take_due_webhooks(self) -> list[PendingWebhook]:
        now = self.now()
        due = [w for w in self._outbox if w.due_at <= now]
        self._outbox = [w for w in self._outbox if w.due_at > now]
        self._in_flight += len(due)
        return sorted(due, key=lambda w: (w.due_at, w.event_id))

    @_mutation
    def _record_delivery(self, webhook: PendingWebhook, outcome: webhooks.Outcome) -> None:
        now = self.now()
        self._deliveries.append({
            "id": self._next_seq(),
            "event_id": webhook.event_id,
            "attempt": webhook.attempt,
            "url": webhook.url,
            "content_type": webhook.content_type,
            "body": outcome.body,
            "payload": dict(webhook.payload),
            "response_status": outcome.response_status,
            "error": outcome.error,
            "time": now,
        })
        del self._deliveries[:-MAX_DELIVERIES]
        if outcome.should_resend:
            following = webhook.resend(now)
            if following:
                self._outbox.append(following)

    def deliver_webhooks(self) -> int:
        """Post every webhook that is due (first sends and resends); return how many."""
        due = self._take_due_webhooks()
        try:
            for webhook in due:
                self._record_delivery(webhook, webhooks.post(self.webhook_session, webhook))
        finally:
            with self._idle:
                self._in_flight -= len(due)
                self._idle.notify_all()
        with self._idle:  # let posts another thread started finish, so callers see them
            self._idle.wait_for(lambda: self._in_flight == 0, timeout=IDLE_WAIT)
        return len(due)

    def webhook_deliveries(self) -> list[dict]:
        """Send what is due, then return every delivery attempt made so far, oldest first."""
        self.deliver_webhooks()
        with self._lock:
            return [dict(d) for d in self._deliveries]

    # ----------------------------------------------------------------------------- control

    @_mutation
    def reset(self) -> None:
        """Forget everything: keys, schedules, payments, tokens, deliveries, clock, faults."""
        self._clear()
        self._faults.clear()
        self._requests.clear()

    @_mutation
    def set_behavior(self, customer_uid: str, outcome: str, fail_reason: str | None = None
                     ) -> dict:
        """Make every charge on a billing key approve or decline."""
        if outcome not in ("approve", "decline"):
            raise ValueError("outcome must be approve or decline")
        behavior = {"outcome": outcome, "fail_reason": fail_reason if outcome == "decline"
                    else None}
        if outcome == "decline" and not fail_reason:
            behavior["fail_reason"] = cards.DEFAULT_DECLINE_REASON
        self._behaviors[customer_uid] = behavior
        return {"customer_uid": customer_uid, **behavior}

    @_reading
    def set_faults(self, faults: list[Fault]) -> list[dict]:
        """Replace the injected faults."""
        self._faults[:] = faults
        return [f.to_dict() for f in self._faults]

    @_reading
    def faults(self) -> list[dict]:
        """Return the injected faults still armed."""
        return [f.to_dict() for f in self._faults]

    @_reading
    def take_fault(self, method: str, path: str) -> Fault | None:
        """Return the fault for a request, counting it down, or None."""
        for fault in self._faults:
            if fault.matches(method, path):
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    @_reading
    def record_request(self, entry: dict) -> None:
        """Remember an API call (names only, never values)."""
        self._requests.append(entry)

    @_reading
    def request_log(self) -> list[dict]:
        """Return the API calls remembered, oldest first."""
        return [dict(entry) for entry in self._requests]

    @_reading
    def summary(self) -> dict:
        """Count what the sandbox holds."""
        def count(items, attribute):
            counts: dict[str, int] = {}
            for item in items:
                counts[getattr(item, attribute)] = counts.get(getattr(item, attribute), 0) + 1
            return counts

        return {
            "now": self.now(),
            "customers": len(self._customers),
            "schedules": count(self._schedules.values(), "schedule_status"),
            "payments": count(self._payments.values(), "status"),
            "webhooks": {"delivered": len(self._deliveries), "pending": len(self._outbox)},
            "webhook": dict(self._webhook),
            "faults": len(self._faults),
        }

    # ------------------------------------------------------------------------------ runner

    def start_runner(self, interval: float = 1.0) -> None:
        """Execute due schedules and send webhooks in a background thread, every interval."""
        if self._runner:
            return
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(interval):
                try:
                    self.run_due()
                except Exception:  # keep the runner alive; the next tick tries again
                    log.exception("sandbox runner tick failed")

        thread = threading.Thread(target=loop, name="iamport-sandbox-runner", daemon=True)
        self._runner = (thread, stop)
        thread.start()

    def stop_runner(self) -> None:
        """Stop the background runner, if it runs."""
        if self._runner:
            thread, stop = self._runner
            stop.set()
            thread.join(timeout=5)
            self._runner = None
