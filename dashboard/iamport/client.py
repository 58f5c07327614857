"""HTTP client for the iamport / PortOne V1 REST API.

Transport and error mapping, nothing else: an injected ``requests.Session``, a timeout on every
call, a token cached until shortly before it expires, and one ``_request()`` that turns every
failure into the small family in ``errors.py``.

Retries: read-only calls are repeated on connection errors, timeouts and 5xx (``read_retries``
times, exponential back-off). Calls that move money or change schedules are never repeated
automatically; when their answer is lost they raise ``OutcomeUnknown``. The one exception is a
failure that proves the request never reached the server (connect timeout, connection refused,
name resolution): that raises plain ``Unavailable``, still without a retry, so the caller knows
nothing happened and may try again itself. A 401 means the call was not executed, so every call,
mutating or not, is repeated once with a fresh token. A 429 (rate limited) is refused before
any work and is treated like a connection refusal.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import requests

from .errors import (
    AuthenticationFailed,
    CredentialsMissing,
    NotFound,
    OutcomeUnknown,
    Rejected,
    Unavailable,
)
from .types import BillingKey, Page, Payment, Schedule, ScheduleRequest, to_unix
from .wire import (
    custom_data_json,
    describe,
    fitted,
    json_or_none,
    list_of,
    never_sent,
    page_of,
    rejection,
    segment,
    whole_won,
    without_none,
)

T = TypeVar("T")

logger = logging.getLogger("dashboard.iamport")

DEFAULT_BASE_URL = "https://api.iamport.kr"

@dataclass(frozen=True)
class _Token:
    value: str = field(repr=False)
    refresh_at: float  # local clock


class _TokenRefused(Exception):
    """An authenticated call answered 401: the token is missing, invalid or expired."""


class IamportClient:
    """Call the iamport V1 REST API with timeouts, a cached token and mapped errors."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        imp_key: str = "",
        imp_secret: str = "",
        *,
        session: requests.Session | None = None,
        connect_timeout: float = 3.05,
        read_timeout: float = 20.0,
        read_retries: int = 2,
        retry_backoff: float = 0.25,
        token_margin: float = 60,
        clock: Callable[[], float] = time.time,
    ):
        self.base_url = base_url.rstrip("/")
        self._imp_key = imp_key
        self._imp_secret = imp_secret
        self._session = session if session is not None else requests.Session()
        self.timeout = (connect_timeout, read_timeout)
        self.read_retries = read_retries
        self.retry_backoff = retry_backoff
        self.token_margin = token_margin
        self._clock = clock
        self._token: _Token | None = None
        self._token_lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **kwargs: Any) -> IamportClient:
        """Build a client from IAMPORT_* settings in a plain mapping (a Flask config is one)."""
        options: dict[str, Any] = {}
        if config.get("IAMPORT_CONNECT_TIMEOUT") is not None:
            options["connect_timeout"] = float(config["IAMPORT_CONNECT_TIMEOUT"])
        if config.get("IAMPORT_READ_TIMEOUT") is not None:
            options["read_timeout"] = float(config["IAMPORT_READ_TIMEOUT"])
        options.update(kwargs)
        return cls(
            config.get("IAMPORT_API_URL") or DEFAULT_BASE_URL,
            config.get("IAMPORT_IMP_KEY") or "",
            config.get("IAMPORT_IMP_SECRET") or "",
            **options,
        )

    def __repr__(self) -> str:
        return f"<IamportClient {self.base_url}>"

    # -- authentication -------------------------------------------------------------------

    def get_token(self) -> str:
        """Return a valid access token, fetching one only when the cached one is near expiry."""
        # One lock for check-and-fetch: concurrent callers wait for a single fetch and reuse it.
        with self._token_lock:
            if self._token is None or self._clock() >= self._token.refresh_at:
                self._token = self._fetch_token()
            return self._token.value

    def check_credentials(self) -> None:
        """Ask iamport for a token now, whatever is cached (a connection test).

        Raises ``CredentialsMissing`` without a key or secret, ``AuthenticationFailed`` when
        they are refused and ``Unavailable`` when iamport cannot be reached.
        """
        if not self._imp_key:
            raise CredentialsMissing("imp_key")
        if not self._imp_secret:
            raise CredentialsMissing("imp_secret")
        self._fetch_token()

    def _fetch_token(self) -> _Token:
        requested_at = self._clock()

        def parse(data: Mapping[str, Any]) -> _Token:
            # Lifetime as the server sees it, applied to our own clock: the two clocks need
            # not agree. Measured from before the request, so a slow answer errs early.
            lifetime = int(data["expired_at"]) - int(data["now"])
            return _Token(value=str(data["access_token"]),
                          refresh_at=requested_at + lifetime - self.token_margin)

        try:
            return self._request(
                "POST",
                "/users/getToken",
                body={"imp_key": self._imp_key, "imp_secret": self._imp_secret},
                parse=parse,
                authenticated=False,
            )
        except Rejected as exc:
            # A refused getToken (e.g. a missing key) is about credentials, not the caller's call.
            raise AuthenticationFailed(method=exc.method, path=exc.path,
                                       http_status=exc.http_status) from None

    def _discard_token(self, refused: str | None) -> None:
        with self._token_lock:
            # Only drop the token that was refused: another thread may already hold a new one.
            if self._token is not None and self._token.value == refused:
                self._token = None

    # -- billing keys -----------------------------------------------------------------------

    def issue_billing_key(
        self,
        customer_uid: str,
        *,
        card_number: str,
        expiry: str,
        birth: str,
        pwd_2digit: str | None = None,
        pg: str | None = None,
        customer_name: str | None = None,
        customer_tel: str | None = None,
        customer_email: str | None = None,
    ) -> BillingKey:
        """Register a card (key-in) under customer_uid, replacing any earlier card."""
        body = fitted(
            card_number=card_number,
            expiry=expiry,
            birth=birth,
            pwd_2digit=pwd_2digit,
            pg=pg,
            customer_name=customer_name,
            customer_tel=customer_tel,
            customer_email=customer_email,
        )
        path = f"/subscribe/customers/{segment(customer_uid)}"
        return self._request("POST", path, body=body, parse=BillingKey.from_api)

    def get_billing_key(self, customer_uid: str) -> BillingKey:
        """Return the billing key registered under customer_uid."""
        path = f"/subscribe/customers/{segment(customer_uid)}"
        return self._request("GET", path, parse=BillingKey.from_api)

    def get_billing_keys(self, customer_uids: Iterable[str]) -> list[BillingKey]:
        """Return the billing keys found among customer_uids (missing ones are left out)."""
        uids = list(customer_uids)
        if not uids:
            return []
        try:
            return self._request("GET", "/subscribe/customers", params={"customer_uid[]": uids},
                                 parse=list_of(BillingKey.from_api))
        except NotFound:
            return []  # none of them exists: the same answer as a partial 207, only emptier

    def delete_billing_key(self, customer_uid: str, *, reason: str | None = None) -> BillingKey:
        """Delete the billing key registered under customer_uid and return it."""
        path = f"/subscribe/customers/{segment(customer_uid)}"
        return self._request("DELETE", path, params=without_none(reason=reason),
                             parse=BillingKey.from_api)

    # -- charges ------------------------------------------------------------------------------

    def pay_again(
        self,
        *,
        customer_uid: str,
        merchant_uid: str,
        amount: int,
        name: str,
        buyer_name: str | None = None,
        buyer_email: str | None = None,
        buyer_tel: str | None = None,
        custom_data: str | Mapping[str, Any] | None = None,
        notice_url: str | None = None,
    ) -> Payment:
        """Charge a billing key now; a card decline is a Payment with status "failed"."""
        body = fitted(
            customer_uid=customer_uid,
            merchant_uid=merchant_uid,
            amount=whole_won(amount),
            name=name,
            buyer_name=buyer_name,
            buyer_email=buyer_email,
            buyer_tel=buyer_tel,
            custom_data=custom_data_json(custom_data),
            notice_url=notice_url,
        )
        return self._request("POST", "/subscribe/payments/again", body=body,
                             parse=Payment.from_api)

    # -- schedules ----------------------------------------------------------------------------

    def schedule_payments(
        self, customer_uid: str, schedules: Sequence[ScheduleRequest], *, pg: str | None = None
    ) -> list[Schedule]:
        """Register payments for iamport to run at their schedule_at on customer_uid's key
        (on the ``pg`` channel, when the account has several)."""
        body = {
            **without_none(pg=pg),
            "customer_uid": customer_uid,
            "schedules": [
                fitted(
                    merchant_uid=item.merchant_uid,
                    schedule_at=to_unix(item.schedule_at),
                    currency="KRW",
                    amount=whole_won(item.amount),
                    name=item.name,
                    buyer_name=item.buyer_name,
                    buyer_email=item.buyer_email,
                    buyer_tel=item.buyer_tel,
                    custom_data=custom_data_json(item.custom_data),
                    notice_url=item.notice_url,
                )
                for item in schedules
            ],
        }
        return self._request("POST", "/subscribe/payments/schedule", body=body,
                             parse=list_of(Schedule.from_api))

    def unschedule_payments(
        self, customer_uid: str, merchant_uids: Iterable[str] | None = None
    ) -> list[Schedule]:
        """Revoke the named pending schedules of customer_uid, or all of them when none named."""
        body: dict[str, Any] = {"customer_uid": customer_uid}
        if merchant_uids is not None:
            body["merchant_uid"] = list(merchant_uids)
        return self._request("POST", "/subscribe/payments/unschedule", body=body,
                             parse=list_of(Schedule.from_api))

    def get_schedule(self, merchant_uid: str) -> Schedule:
        """Return the scheduled payment registered as merchant_uid."""
        path = f"/subscribe/payments/schedule/{segment(merchant_uid)}"
        return self._request("GET", path, parse=Schedule.from_api)

    def list_schedules(
        self,
        *,
        schedule_from: datetime,
        schedule_to: datetime,
        schedule_status: str | None = None,
        page: int = 1,
        limit: int | None = None,
    ) -> Page[Schedule]:
        """Return one page of schedules with schedule_from <= schedule_at < schedule_to."""
        params = without_none(
            schedule_from=to_unix(schedule_from),
            schedule_to=to_unix(schedule_to),
            schedule_status=schedule_status,
            page=page,
            limit=limit,
        )
        return self._request("GET", "/subscribe/payments/schedule", params=params,
                             parse=page_of(Schedule.from_api))

    def list_customer_schedules(
        self,
        customer_uid: str,
        *,
        schedule_from: datetime,
        schedule_to: datetime,
        schedule_status: str | None = None,
        page: int = 1,
    ) -> Page[Schedule]:
        """Return one page of customer_uid's schedules in [schedule_from, schedule_to)."""
        # This endpoint spells its query names differently from the time-range list.
        params = without_none(
            **{
                "from": to_unix(schedule_from),
                "to": to_unix(schedule_to),
                "schedule-status": schedule_status,
                "page": page,
            }
        )
        path = f"/subscribe/customers/{segment(customer_uid)}/schedules"
        return self._request("GET", path, params=params, parse=page_of(Schedule.from_api))

    def update_schedule_time(self, merchant_uid: str, schedule_at: datetime) -> Schedule:
        """Move a pending schedule to a new time."""
        path = f"/subscribe/payments/schedule/{segment(merchant_uid)}"
        return self._request("PUT", path, body={"schedule_at": to_unix(schedule_at)},
                             parse=Schedule.from_api)

    def reschedule(self, merchant_uid: str, schedule_at: datetime) -> Schedule:
        """Schedule a failed or revoked payment again at a new time."""
        path = f"/subscribe/payments/schedule/{segment(merchant_uid)}/reschedule"
        return self._request("POST", path, body={"schedule_at": to_unix(schedule_at)},
                             parse=Schedule.from_api)

    def retry_schedule(self, merchant_uid: str) -> Payment:
        """Attempt a failed or revoked schedule's payment now; read the result's status."""
        path = f"/subscribe/payments/schedule/{segment(merchant_uid)}/retry"
        return self._request("POST", path, parse=Payment.from_api)

    # -- payments -----------------------------------------------------------------------------

    def get_payment(self, imp_uid: str) -> Payment:
        """Return the payment identified by imp_uid."""
        return self._request("GET", f"/payments/{segment(imp_uid)}", parse=Payment.from_api)

    def find_payment(self, merchant_uid: str, status: str | None = None) -> Payment:
        """Return the latest payment made as merchant_uid (optionally with that status)."""
        path = f"/payments/find/{segment(merchant_uid)}"
        if status is not None:
            path += f"/{segment(status)}"
        return self._request("GET", path, parse=Payment.from_api)

    def list_payments(
        self,
        status: str = "all",
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        page: int = 1,
        limit: int | None = None,
    ) -> Page[Payment]:
        """Return one page of payments with status (default: any) in [since, until]."""
        params = without_none(
            **{
                "from": to_unix(since) if since is not None else None,
                "to": to_unix(until) if until is not None else None,
                "page": page,
                "limit": limit,
            }
        )
        return self._request("GET", f"/payments/status/{segment(status)}", params=params,
                             parse=page_of(Payment.from_api))

    def list_customer_payments(self, customer_uid: str, page: int = 1) -> Page[Payment]:
        """Return one page of the payments made with customer_uid's billing key."""
        path = f"/subscribe/customers/{segment(customer_uid)}/payments"
        return self._request("GET", path, params={"page": page}, parse=page_of(Payment.from_api))

    def get_payments(
        self, *, imp_uids: Iterable[str] = (), merchant_uids: Iterable[str] = ()
    ) -> list[Payment]:
        """Return the payments found among imp_uids and merchant_uids (missing ones left out)."""
        params = {}
        if imp_uids := list(imp_uids):
            params["imp_uid[]"] = imp_uids
        if merchant_uids := list(merchant_uids):
            params["merchant_uid[]"] = merchant_uids
        if not params:
            return []
        try:
            return self._request("GET", "/payments", params=params,
                                 parse=list_of(Payment.from_api))
        except NotFound:
            return []  # none of them exists

    def cancel_payment(
        self,
        *,
        imp_uid: str | None = None,
        merchant_uid: str | None = None,
        amount: int | None = None,
        checksum: int | None = None,
        reason: str | None = None,
    ) -> Payment:
        """Refund all or part (amount) of a payment; checksum is the balance we expect."""
        if imp_uid is None and merchant_uid is None:
            raise ValueError("cancel_payment needs imp_uid or merchant_uid")
        body = without_none(
            imp_uid=imp_uid,
            merchant_uid=merchant_uid,
            amount=whole_won(amount) if amount is not None else None,
            checksum=whole_won(checksum, allow_zero=True) if checksum is not None else None,
            reason=reason,
        )
        return self._request("POST", "/payments/cancel", body=body, parse=Payment.from_api)

    # -- paging -------------------------------------------------------------------------------

    def iter_pages(self, fetch_page: Callable[[int], Page[T]]) -> Iterator[T]:
        """Yield every item of every page, calling fetch_page(1), fetch_page(next), ..."""
        number = 1
        while True:
            page = fetch_page(number)
            yield from page.items
            # A next page that does not move forward would loop for ever: stop instead.
            if page.next is None or page.next <= number:
                return
            number = page.next

    # -- transport ----------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        parse: Callable[[Any], T],
        authenticated: bool = True,
    ) -> T:
        """Send one API call and return its parsed ``response``, or raise a mapped error."""
        # Every call but GET changes money, keys or schedules; the only other safe call is
        # getToken, the one unauthenticated call. A new endpoint is thus unsafe by default.
        mutating = method != "GET" and authenticated
        failures = 0
        refreshed = False
        while True:
            token = self.get_token() if authenticated else None
            try:
                data = self._send(method, path, params, body, token, mutating)
                break
            except _TokenRefused:
                # A 401 means the call was not executed: safe to repeat once with a new token.
                if refreshed:
                    raise AuthenticationFailed(method=method, path=path, http_status=401) from None
                refreshed = True
                self._discard_token(token)
            except Unavailable:
                if mutating or failures >= self.read_retries:
                    raise
                time.sleep(self.retry_backoff * 2**failures)
                failures += 1
        try:
            if data is None:
                raise TypeError("no response object")
            return parse(data)
        except (KeyError, TypeError, ValueError, AttributeError):
            # Answered, but not in a shape we can read: as good as no answer.
            error = OutcomeUnknown if mutating else Unavailable
            raise error("response not understood", method=method, path=path) from None

    def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        body: Mapping[str, Any] | None,
        token: str | None,
        mutating: bool,
    ) -> Any:
        lost = OutcomeUnknown if mutating else Unavailable
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        started = time.monotonic()
        try:
            response = self._session.request(
                method,
                self.base_url + path,
                params=params,
                json=body,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            self._log(method, path, None, started)
            if never_sent(exc):
                raise Unavailable(describe(exc), method=method, path=path) from None
            raise lost(describe(exc), method=method, path=path) from None
        status = response.status_code
        self._log(method, path, status, started)

        if status == 401:
            if token is None:
                raise AuthenticationFailed(method=method, path=path, http_status=401)
            raise _TokenRefused()
        if status == 429:
            # Rate limited: refused before any work, so safe to repeat even for a charge.
            raise Unavailable("HTTP 429", method=method, path=path, http_status=status)
        if status >= 500:
            raise lost(f"HTTP {status}", method=method, path=path, http_status=status)
        envelope = json_or_none(response)
        if 200 <= status < 300:
            if not isinstance(envelope, dict) or not isinstance(envelope.get("code"), int):
                raise lost(f"HTTP {status} without an API envelope", method=method, path=path,
                           http_status=status)
            if envelope["code"] == 0:
                return envelope.get("response")
            raise rejection(envelope["code"], envelope.get("message"), status, method, path)
        if 400 <= status < 500:
            if not isinstance(envelope, dict):
                envelope = {}
            code = envelope.get("code") if isinstance(envelope.get("code"), int) else None
            kind = NotFound if status == 404 else Rejected
            raise kind(code=code, message=envelope.get("message") or response.reason,
                       http_status=status, method=method, path=path)
        raise lost(f"unexpected HTTP {status}", method=method, path=path, http_status=status)

    def _log(self, method: str, path: str, status: int | None, started: float) -> None:
        elapsed_ms = (time.monotonic() - started) * 1000
        logger.debug("%s %s -> %s in %.0f ms", method, path, status or "no response", elapsed_ms)
