"""The sandbox's state: ``SandboxState``, assembled from the core and one mixin per area.

``core`` holds storage, clock and tokens; ``keys``, ``payments``, ``schedules`` and ``outbox``
hold the rules of their area; this module adds the control operations (reset, behaviours,
faults, request log) and the runner thread. No Flask here: ``app.py`` parses requests into
primitives and calls these methods, which raise ``errors.ApiError`` subclasses for every
refusal. One re-entrant lock guards all state; webhooks are posted with the lock released,
because the receiver usually calls the API back.

Where the live API's recorded answers and the schema disagree the sandbox answers as the live
API did; where the reference leaves a question open (CONFLICT / UNCONFIRMED) it decides here,
in one place:

- Unknown ``customer_uid`` on GET/DELETE ``/subscribe/customers/{uid}``: HTTP 200, code 1,
  ``요청하신 customer_uid(<uid>)로 등록된 정보를 찾을 수 없습니다.`` (recorded live; the schema
  says 404). Its payment list (``/subscribe/customers/{uid}/payments``) answers 404, code 1.
- ``getToken`` matches ``imp_key`` in any letter case and ``imp_secret`` exactly; without them
  it answers HTTP 400. The token is accepted in ``Authorization`` (with or without ``Bearer``)
  and in ``X-ImpTokenHeader``.
- Card numbers must pass the Luhn check: HTTP 200, code -1, ``유효하지않은 카드번호를
  입력하셨습니다.`` on key issue and ``onetime``, and nothing is stored.
- ``birth`` is optional in the API, but NHN KCP refuses a key-in card without it: HTTP 200,
  code -1, ``[CC66] 주민번호 오류`` (see ``cards``).
- ``pg`` selects a channel (``channels``); one the account lacks is refused, HTTP 200, code -1.
  Keys keep their channel; their payments and schedules are made on it.
- ``onetime`` with ``customer_uid`` stores the key first (as an issue would, buyer fields
  becoming the holder's) and then charges it as ``again`` does: same declines, webhook only
  when paid, ``customer_uid_usage: payment``. Without ``customer_uid`` nothing of the card is
  kept and ``customer_uid``/``customer_uid_usage`` are null.
- ``again`` without ``name`` answers HTTP 200, code -1 (recorded live), before the key is
  looked up.
- Deleting a billing key leaves its schedules: when one runs it fails (payment ``failed``,
  ``fail_reason`` ``등록되지 않은 구매자입니다.``) and sends the ``failed`` webhook.
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
  payment is cancelled shows ``payment_status: cancelled``. ``POST /payments/cancel`` sends no
  webhook; a refund made in PortOne's console (``console_refund``, control API) sends
  ``cancelled`` with ``cancellation_id``. A cancel naming neither ``imp_uid`` nor
  ``merchant_uid`` is refused with HTTP 200, code 1.
- A registration by ``/payments/prepare`` is only stored and read back; charges made through
  the REST API do not check it.
- Webhooks are asynchronous, as at iamport: a charge or cancel queues them, and they are posted
  by the runner thread, by ``run_due()``, whenever the clock is set or advanced, and before the
  control API lists deliveries. Each is sent once; resends (five, a minute apart, after a
  connection error or a 5xx) happen only when switched on, as merchants ask PortOne to.
"""

from __future__ import annotations

import logging
import threading

from . import cards, channels
from .core import Fault, StateCore, _mutation, _reading
from .keys import BillingKeys
from .outbox import WebhookOutbox
from .payments import Payments
from .schedules import Schedules

log = logging.getLogger(__name__)


class SandboxState(BillingKeys, Payments, Schedules, WebhookOutbox, StateCore):
    """Everything the emulated iamport account holds, and the rules that change it."""

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
    def channel_names(self) -> list[str]:
        """Return the account's PG channels (``kcp``, ``kcp.<site code>``, ``kcp.*`` ...)."""
        return list(self._channels)

    @_mutation
    def configure_channels(self, names: list[str]) -> list[str]:
        """Replace the account's PG channels; ``pg`` values naming none are refused."""
        self._channels = channels.check_names(names)
        return list(self._channels)

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
            "channels": list(self._channels),
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
