"""The core of the sandbox's state: storage, clock, tokens, ids, and the lock around them.

``SandboxState`` (``state.py``) is this core plus one mixin per area (``keys``, ``payments``,
``schedules``, ``outbox``). The mixins import from here and never from each other; they call one
another only through ``self``. Helpers shared by several areas live here too: the lock
decorators, paging and sorting.
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

from . import cards, channels, webhooks
from .clock import SandboxClock
from .errors import BadRequest, PgFailed, Unauthorized
from .records import Customer, Payment, Schedule
from .webhooks import PendingWebhook

log = logging.getLogger(__name__)

DEFAULT_IMP_KEY = "sandbox_key"
DEFAULT_IMP_SECRET = "sandbox_secret"

TOKEN_LIFETIME = 30 * 60
TOKEN_EXTENSION = 5 * 60
TOKEN_EXTENSION_WINDOW = 60
PAGE_SIZE = 20
MAX_LIMIT = 1000
MAX_IDS = 100
SORTINGS = ("-started", "started", "-paid", "paid", "-updated", "updated")
STATE_VERSION = 1

BAD_CREDENTIALS = "imp_key, imp_secret 인증에 실패하였습니다."

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


class StateCore:
    """Storage, clock and tokens of the emulated iamport account; the areas add the rules."""

    def __init__(
        self,
        imp_key: str = DEFAULT_IMP_KEY,
        imp_secret: str = DEFAULT_IMP_SECRET,
        *,
        state_path: str | os.PathLike | None = None,
        webhook_url: str | None = None,
        webhook_content_type: str = webhooks.JSON,
        webhook_session: requests.Session | None = None,
        webhook_resends: bool = False,
        pg_provider: str = "kcp",
        pg_id: str = "BA001",
        pg_channels: list[str] | tuple[str, ...] = channels.DEFAULT_CHANNELS,
    ):
        if webhook_content_type not in webhooks.CONTENT_TYPES:
            raise ValueError(f"unsupported webhook content type: {webhook_content_type}")
        self.imp_key = imp_key
        self.imp_secret = imp_secret
        self.pg_provider = pg_provider
        self.pg_id = pg_id
        self.webhook_session = webhook_session or requests.Session()
        self._webhook_defaults = {"url": webhook_url, "content_type": webhook_content_type,
                                  "resends": bool(webhook_resends)}
        self._channel_defaults = channels.check_names(list(pg_channels))
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
        self._channels = list(self._channel_defaults)
        self._prepared: dict[str, dict] = {}
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
            "channels": self._channels,
            "prepared": list(self._prepared.values()),
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
        self._webhook = {**self._webhook_defaults, **data.get("webhook", {})}
        self._channels = data.get("channels", list(self._channel_defaults))
        self._prepared = {p["merchant_uid"]: p for p in data.get("prepared", [])}
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

    def _channel(self, pg: str | None) -> channels.Channel:
        """Return the channel a ``pg`` parameter selects, or refuse it (HTTP 200, code -1)."""
        default = channels.Channel(self.pg_provider, self.pg_id)
        try:
            return channels.resolve(pg, self._channels, default)
        except channels.UnknownChannel as unknown:
            raise PgFailed(unknown.message()) from None

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
        # The live API matched the key in any letter case (imp_apikey / imp_apiKey), the
        # secret exactly.
        if imp_key.lower() != self.imp_key.lower() or imp_secret != self.imp_secret:
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
