"""Scheduled payments: register, revoke, look up, move, reschedule, retry, and run when due."""

from __future__ import annotations

import logging

from . import cards
from .channels import Channel
from .core import PAGE_SIZE, _check_range, _mutation, _page, _reading
from .errors import BadRequest, NotAllowed, NotFound, Refused
from .records import BUYER_FIELDS, CUSTOMER_FIELDS, Customer, Payment, Schedule

log = logging.getLogger(__name__)

MAX_SCHEDULE_RANGE = 92 * 24 * 3600

NO_CUSTOMER_INFO = "등록된 고객정보가 없습니다."
NOTHING_TO_UNSCHEDULE = "취소할 예약결제 기록이 존재하지 않습니다."
SCHEDULE_IN_PAST = "결제예약 시각(schedule_at)은 현재 시각 이후여야 합니다."
KEY_DELETED = "등록되지 않은 구매자입니다."  # what ``again`` answers for a key that is gone


def schedule_not_found(merchant_uid: str) -> str:
    """Return the message for an unknown scheduled ``merchant_uid``."""
    return f"merchant_uid({merchant_uid})에 해당하는 결제예약건이 존재하지 않습니다."


class Schedules:
    """The schedule rules of ``SandboxState``."""

    def _schedule(self, merchant_uid: str) -> Schedule:
        schedule = self._schedules.get(merchant_uid)
        if schedule is None:
            raise NotFound(schedule_not_found(merchant_uid))
        return schedule

    @_mutation
    def create_schedules(self, customer_uid: str, schedules: list[dict], *,
                         card: dict | None = None, holder: dict | None = None,
                         customer_id: str | None = None, pg: str | None = None) -> list[dict]:
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
            channel = self._channel(pg)
            try:
                new_card = cards.inspect_card(card["card_number"], card["expiry"],
                                              card.get("birth"), card.get("pwd_2digit"), now=now)
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
            customer = self._store_customer(customer_uid, new_card, holder or {}, customer_id, now,
                                            channel)
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

    def _execute(self, schedule: Schedule, customer: Customer | None, now: int) -> Payment:
        """Charge a schedule and send its webhook; without a key (deleted) the charge fails."""
        details = {name: getattr(schedule, name) for name in
                   ("name", "currency", "custom_data", "notice_url", *BUYER_FIELDS)}
        if customer is None:
            payment = self._record_charge(
                merchant_uid=schedule.merchant_uid, amount=schedule.amount, now=now,
                details=details, channel=Channel(schedule.pg_provider, schedule.pg_id),
                customer_uid=schedule.customer_uid, usage="payment.scheduled",
                card={}, fail_reason=KEY_DELETED)
        else:
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
            # Deleting a key leaves its schedules: they run and fail, as at iamport.
            self._execute(schedule, self._customers.get(schedule.customer_uid), now)
            executed.append(schedule.merchant_uid)
        return executed

    def run_due(self) -> list[str]:
        """Execute every schedule that is due, send due webhooks, and return merchant_uids."""
        executed = self._execute_due()
        self.deliver_webhooks()
        return executed
