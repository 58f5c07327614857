"""Charges (``again``) and payments: look-ups by id, merchant_uid and status, and refunds."""

from __future__ import annotations

import secrets

from . import cards
from .channels import Channel
from .core import (
    PAGE_SIZE,
    _check_range,
    _mutation,
    _page,
    _reading,
    _sort_payments,
)
from .errors import BadRequest, NotFound, PgFailed, Refused
from .records import KCP_RECEIPT_URL, PAYMENT_STATUSES, Customer, Payment
from .webhooks import PendingWebhook

MAX_PAYMENT_RANGE = 90 * 24 * 3600

UNKNOWN_BUYER = "등록되지 않은 구매자입니다."
PAYMENT_NOT_FOUND = "존재하지 않는 결제정보입니다."
NOTHING_TO_CANCEL = "취소할 결제건이 존재하지 않습니다."
ALREADY_CANCELLED = "이미 전액취소된 주문입니다."
UNSUPPORTED_STATUS = "지원되지 않는 상태값입니다."
ALREADY_PREPARED = "결제정보 사전등록에 실패하였습니다(이미 등록된 merchant_uid입니다)."
NOT_PREPARED = "사전등록된 결제정보가 존재하지 않습니다."
NO_CANCEL_TARGET = "취소할 결제건의 imp_uid 또는 merchant_uid를 지정해주셔야합니다."


class Payments:
    """The charge and payment rules of ``SandboxState``."""

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
        return self._record_charge(
            merchant_uid=merchant_uid, amount=amount, now=now, details=details,
            channel=Channel(customer.pg_provider, customer.pg_id),
            customer_uid=customer.customer_uid, usage=usage,
            card={"card_code": customer.card_code, "card_name": customer.card_name,
                  "card_number": customer.card_number, "card_type": customer.card_type},
            fail_reason=self._decline_reason(customer))

    def _record_charge(self, *, merchant_uid: str, amount: int, now: int, details: dict,
                       channel: Channel, customer_uid: str | None, usage: str | None,
                       card: dict, fail_reason: str | None) -> Payment:
        """Record a charge: approved unless a fail_reason is given."""
        payment = Payment(
            imp_uid=self._new_imp_uid(),
            merchant_uid=merchant_uid,
            amount=amount,
            status="failed" if fail_reason else "paid",
            started_at=now,
            updated_at=now,
            seq=self._next_seq(),
            pg_provider=channel.pg_provider,
            pg_id=channel.pg_id,
            customer_uid=customer_uid,
            customer_uid_usage=usage,
            **card,
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

    @_mutation
    def charge_onetime(self, merchant_uid: str, amount: int, card: dict, details: dict, *,
                       customer_uid: str | None = None, holder: dict | None = None,
                       pg: str | None = None) -> dict:
        """Charge key-in card data (``/subscribe/payments/onetime``) and return the payment.

        With a customer_uid the card is first stored as that billing key (as an issue would)
        and charged through it (as ``again`` would); without one nothing of the card is kept.
        ``card`` carries card_number, expiry, birth and pwd_2digit.
        """
        channel = self._channel(pg)
        now = self.now()
        try:
            profile = cards.inspect_card(card["card_number"], card["expiry"], card.get("birth"),
                                         card.get("pwd_2digit"), now=now)
        except cards.CardRejected as rejected:
            raise PgFailed(rejected.onetime_message()) from None
        self._refuse_taken_merchant_uid(merchant_uid)
        if customer_uid:
            customer = self._store_customer(customer_uid, profile, holder or {}, None, now,
                                            channel)
            payment = self._charge(customer, merchant_uid=merchant_uid, amount=amount,
                                   usage="payment", now=now, details=details)
        else:
            payment = self._record_charge(
                merchant_uid=merchant_uid, amount=amount, now=now, details=details,
                channel=channel, customer_uid=None, usage=None,
                card={"card_code": profile.card_code, "card_name": profile.card_name,
                      "card_number": profile.masked_number, "card_type": profile.card_type},
                fail_reason=cards.DEFAULT_DECLINE_REASON if profile.declines else None)
        if payment.status == "paid":
            self._queue_webhook(payment, "paid")
        return payment.to_api()

    # ---------------------------------------------------------------------------- prepare

    @_mutation
    def prepare_payment(self, merchant_uid: str, amount: int, currency: str) -> dict:
        """Register the amount a merchant_uid must be paid with (``/payments/prepare``)."""
        if merchant_uid in self._prepared:
            raise Refused(ALREADY_PREPARED)
        self._prepared[merchant_uid] = {"merchant_uid": merchant_uid, "amount": amount,
                                        "currency": currency}
        return dict(self._prepared[merchant_uid])

    @_reading
    def get_prepared(self, merchant_uid: str) -> dict:
        """Return a merchant_uid's registered amount."""
        prepared = self._prepared.get(merchant_uid)
        if prepared is None:
            raise NotFound(NOT_PREPARED)
        return dict(prepared)

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
                       amount: int | None, checksum: int | None, reason: str | None) -> dict:
        """Refund all or part of a payment through the API and return it (no webhook)."""
        if not imp_uid and not merchant_uid:
            raise Refused(NO_CANCEL_TARGET)
        payment, _ = self._cancel(imp_uid, merchant_uid, amount, checksum, reason)
        return payment.to_api()

    @_mutation
    def console_refund(self, imp_uid: str, amount: int | None = None,
                       reason: str | None = None) -> dict:
        """Refund as staff do in PortOne's console, which sends the ``cancelled`` webhook."""
        payment, cancellation_id = self._cancel(imp_uid, None, amount, None, reason)
        self._queue_webhook(payment, "cancelled", cancellation_id=cancellation_id)
        return payment.to_api()

    def _cancel(self, imp_uid: str | None, merchant_uid: str | None, amount: int | None,
                checksum: int | None, reason: str | None) -> tuple[Payment, str]:
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
            raise Refused(
                f"취소가능잔액({balance}원)과 checksum({checksum}원)이 일치하지 않습니다.")
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
        return payment, cancellation_id
